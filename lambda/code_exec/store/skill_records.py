"""Agent Skills metadata (``/v1/skills``): a skill and its versions, under their owner.

Items live in the owner's partition ``SKILLS#<owner>`` (keying by owner makes every read an
owner check, as for files): the skill at ``SKILL#<skill id>`` (its display name, slug and
newest version) and each version at ``VERSION#<skill id>#<version>`` (name, description and
where its zip lies in S3). Skill ids and versions sort by creation time, so a list is one
query read backwards. Nothing expires: a skill lives until its owner deletes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from code_exec.store.base import TableBase

__all__ = ["SkillRecord", "SkillStore", "SkillVersionRecord"]


@dataclass(frozen=True)
class SkillRecord:
    skill_id: str
    owner: str
    display_name: str
    name: str  # the slug every version's SKILL.md must keep
    created_at: float
    updated_at: float
    latest_version: str | None


@dataclass(frozen=True)
class SkillVersionRecord:
    skill_id: str
    owner: str
    version: str  # epoch microseconds, as Anthropic's custom skill versions
    name: str
    description: str
    directory: str  # the upload's top-level directory
    s3_key: str  # the version's files, one zip
    size_bytes: int
    created_at: float


def _pk(owner: str) -> dict[str, str]:
    return {"S": f"SKILLS#{owner}"}


def _skill_key(owner: str, skill_id: str) -> dict[str, Any]:
    return {"pk": _pk(owner), "sk": {"S": f"SKILL#{skill_id}"}}


def _version_key(owner: str, skill_id: str, version: str) -> dict[str, Any]:
    return {"pk": _pk(owner), "sk": {"S": f"VERSION#{skill_id}#{version}"}}


def _skill(item: dict[str, Any]) -> SkillRecord:
    latest = item.get("latest_version", {}).get("S")
    return SkillRecord(
        skill_id=item["sk"]["S"].removeprefix("SKILL#"),
        owner=item["pk"]["S"].removeprefix("SKILLS#"),
        display_name=item["display_name"]["S"],
        name=item["name"]["S"],
        created_at=float(item["created_at"]["N"]),
        updated_at=float(item["updated_at"]["N"]),
        latest_version=latest or None,
    )


def _version(item: dict[str, Any]) -> SkillVersionRecord:
    _, skill_id, version = item["sk"]["S"].split("#", 2)
    return SkillVersionRecord(
        skill_id=skill_id,
        owner=item["pk"]["S"].removeprefix("SKILLS#"),
        version=version,
        name=item["name"]["S"],
        description=item["description"]["S"],
        directory=item["directory"]["S"],
        s3_key=item["s3_key"]["S"],
        size_bytes=int(item["size_bytes"]["N"]),
        created_at=float(item["created_at"]["N"]),
    )


class SkillStore(TableBase):
    """Skill and version items: put, get, list a page (newest first), delete."""

    def put_skill(self, record: SkillRecord) -> None:
        item: dict[str, Any] = {
            **_skill_key(record.owner, record.skill_id),
            "display_name": {"S": record.display_name},
            "name": {"S": record.name},
            "created_at": {"N": repr(record.created_at)},
            "updated_at": {"N": repr(record.updated_at)},
        }
        if record.latest_version:
            item["latest_version"] = {"S": record.latest_version}
        self._db.put_item(TableName=self._table, Item=item)

    def get_skill(self, owner: str, skill_id: str) -> SkillRecord | None:
        item = self._db.get_item(
            TableName=self._table, Key=_skill_key(owner, skill_id), ConsistentRead=True
        ).get("Item")
        return None if item is None else _skill(item)

    def put_skill_version(self, record: SkillVersionRecord) -> None:
        self._db.put_item(
            TableName=self._table,
            Item={
                **_version_key(record.owner, record.skill_id, record.version),
                "name": {"S": record.name},
                "description": {"S": record.description},
                "directory": {"S": record.directory},
                "s3_key": {"S": record.s3_key},
                "size_bytes": {"N": str(record.size_bytes)},
                "created_at": {"N": repr(record.created_at)},
            },
        )

    def get_skill_version(
        self, owner: str, skill_id: str, version: str
    ) -> SkillVersionRecord | None:
        item = self._db.get_item(
            TableName=self._table, Key=_version_key(owner, skill_id, version), ConsistentRead=True
        ).get("Item")
        return None if item is None else _version(item)

    def list_skills(
        self, owner: str, *, limit: int, after_id: str | None = None
    ) -> tuple[list[SkillRecord], bool]:
        """One page of the owner's skills, newest first, and whether there are more."""
        items, more = self._page(owner, "SKILL#", limit, after_id and f"SKILL#{after_id}")
        return [_skill(i) for i in items], more

    def list_skill_versions(
        self, owner: str, skill_id: str, *, limit: int, after: str | None = None
    ) -> tuple[list[SkillVersionRecord], bool]:
        """One page of a skill's versions, newest first, and whether there are more."""
        prefix = f"VERSION#{skill_id}#"
        items, more = self._page(owner, prefix, limit, after and prefix + after)
        return [_version(i) for i in items], more

    def delete_skill(self, owner: str, skill_id: str) -> None:
        self._db.delete_item(TableName=self._table, Key=_skill_key(owner, skill_id))

    def delete_skill_version(self, owner: str, skill_id: str, version: str) -> None:
        self._db.delete_item(TableName=self._table, Key=_version_key(owner, skill_id, version))

    def _page(
        self, owner: str, prefix: str, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], bool]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": _pk(owner), ":prefix": {"S": prefix}},
            "ScanIndexForward": False,
            "Limit": limit + 1,
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = {"pk": _pk(owner), "sk": {"S": cursor}}
        items: list[dict[str, Any]] = []
        while len(items) <= limit:
            resp = self._db.query(**kwargs)
            items += resp.get("Items", [])
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        return items[:limit], len(items) > limit
