"""Anthropic's Skills API over S3 and the table: skills, their versions, and their use.

A version's files are one zip in the files bucket under ``skills/<owner>/<skill id>/<version>
.zip`` (a prefix no lifecycle rule expires: a skill lives until its owner deletes it); the
metadata is in the owner's partition (:mod:`code_exec.store.skill_records`), so another
owner's skill answers 404 exactly as an unknown one does. Ids are ``skill_`` + a creation
stamp (they sort by age); versions are epoch microseconds, as Anthropic's custom skill
versions. As in Anthropic's API, a skill is deleted only once it has no versions left.

The container side: ``container.skills`` (``/v1/messages``) and ``skills`` (``/invoke``) name
up to :data:`MAX_SKILLS` custom skills (``version``: one, or ``latest``); :meth:`resolve` finds
them (404 for a deleted one), :meth:`place` unpacks each into the sandbox's
``skills/<name>/`` once per container, and :func:`code_exec.anthropic.prompts.skills_text`
tells the model each one's name, description and where its ``SKILL.md`` is, which the model
reads when a task calls for it.
"""

from __future__ import annotations

import io
import logging
import re
import time
import zipfile
from dataclasses import dataclass
from typing import Any

from code_exec.anthropic.containers import rfc3339
from code_exec.anthropic.ids import new_file_id
from code_exec.anthropic.skills_bundle import SkillBundle, to_zip
from code_exec.exceptions import NotFoundError, RequestValidationError
from code_exec.sandbox import SandboxFile
from code_exec.store import SkillRecord, SkillVersionRecord

__all__ = [
    "MAX_SKILLS",
    "SKILLS_DIR",
    "SKILLS_KEY_PREFIX",
    "SKILL_ID",
    "AnthropicSkills",
    "SkillRef",
    "UsedSkill",
    "parse_refs",
    "skill_json",
    "version_json",
]

logger = logging.getLogger(__name__)

SKILLS_KEY_PREFIX = "skills"
SKILLS_DIR = "skills"  # in the sandbox's working directory (Anthropic mounts /skills)
MAX_SKILLS = 8  # per request, as Anthropic's
SKILL_ID = r"^skill_[A-Za-z0-9]{1,64}$"
_VERSION = re.compile(r"^[0-9]{1,20}$")


def new_skill_id(now: float) -> str:
    """``skill_`` + the creation stamp of :func:`new_file_id` (ids sort by creation)."""
    return "skill_" + new_file_id(now).removeprefix("file_")


def skill_json(record: SkillRecord) -> dict[str, Any]:
    """A skill as ``GET /v1/skills/{id}`` describes it (``BetaSkill``)."""
    return {
        "type": "skill",
        "id": record.skill_id,
        "display_name": record.display_name,
        "source": {"type": "custom"},
        "latest_version_id": record.latest_version or "",
        "latest_version": record.latest_version,
        "created_at": rfc3339(record.created_at),
        "updated_at": rfc3339(record.updated_at),
    }


def version_json(record: SkillVersionRecord) -> dict[str, Any]:
    """A version as ``GET /v1/skills/{id}/versions/{version}`` describes it."""
    return {
        "type": "skill_version",
        "id": record.version,
        "version": record.version,
        "skill_id": record.skill_id,
        "name": record.name,
        "description": record.description,
        "directory": record.name,
        "created_at": rfc3339(record.created_at),
    }


@dataclass(frozen=True)
class SkillRef:
    """One entry of ``container.skills`` (checked)."""

    skill_id: str
    version: str  # digits, or "latest"


@dataclass(frozen=True)
class UsedSkill:
    """A skill resolved for a request: what is placed, and what the model is told."""

    skill_id: str
    version: str
    name: str
    description: str
    s3_key: str

    @property
    def path(self) -> str:
        return f"{SKILLS_DIR}/{self.name}"

    @property
    def wire(self) -> dict[str, str]:
        """As the response's ``container.skills`` lists it (``BetaContainerSkill``)."""
        return {"type": "custom", "skill_id": self.skill_id, "version": self.version}


def parse_refs(raw: Any, field: str) -> list[SkillRef]:
    """Check ``container.skills`` / ``skills``: custom skills only, at most :data:`MAX_SKILLS`.

    Raises:
        RequestValidationError: naming ``field`` (or its entry) and what this deployment takes.
    """
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise RequestValidationError("skills must be a list", field=field)
    if len(raw) > MAX_SKILLS:
        raise RequestValidationError(f"at most {MAX_SKILLS} skills per request", field=field)
    refs: list[SkillRef] = []
    for i, entry in enumerate(raw):
        where = f"{field}.{i}"
        if not isinstance(entry, dict) or set(entry) - {"type", "skill_id", "version"}:
            raise RequestValidationError("a skill is {type, skill_id, version}", field=where)
        if entry.get("type") == "anthropic":
            raise RequestValidationError(
                "Anthropic's own skills (type: anthropic) are not available on this deployment; "
                "it supports custom skills (type: custom) uploaded with /v1/skills",
                field=f"{where}.type",
            )
        if entry.get("type") != "custom":
            raise RequestValidationError("type must be custom", field=f"{where}.type")
        skill_id = entry.get("skill_id")
        if not isinstance(skill_id, str) or not re.match(SKILL_ID, skill_id):
            raise RequestValidationError("skill_id is not a skill id", field=f"{where}.skill_id")
        version = entry.get("version", "latest")
        if not isinstance(version, str) or not (version == "latest" or _VERSION.match(version)):
            raise RequestValidationError(
                "version must be a version id or 'latest'", field=f"{where}.version"
            )
        if any(r.skill_id == skill_id for r in refs):
            raise RequestValidationError(f"skill {skill_id!r} is listed twice", field=where)
        refs.append(SkillRef(skill_id, version))
    return refs


class AnthropicSkills:
    """Skills of API key owners. ``services`` gives ``s3``, ``store``, ``config``, ``clock``."""

    def __init__(self, services: Any) -> None:
        self.s = services

    # --- skills --------------------------------------------------------------------------

    def create(self, owner: str, skill: SkillBundle, display_name: str | None) -> SkillRecord:
        """A new skill with its first version."""
        now = self.s.clock()
        record = SkillRecord(
            skill_id=new_skill_id(now),
            owner=owner,
            display_name=display_name or skill.name,
            name=skill.name,
            created_at=now,
            updated_at=now,
            latest_version=None,
        )
        version = self._put_version(record, skill, now)
        record = SkillRecord(**{**record.__dict__, "latest_version": version.version})
        self.s.store.put_skill(record)
        return record

    def get(self, owner: str, skill_id: str) -> SkillRecord:
        record = self.s.store.get_skill(owner, skill_id)
        if record is None:
            raise NotFoundError(f"skill {skill_id!r} not found", field="skill_id")
        return record

    def list_skills(self, owner: str, *, limit: int, after_id: str | None) -> dict[str, Any]:
        records, more = self.s.store.list_skills(owner, limit=limit, after_id=after_id)
        data = [skill_json(r) for r in records]
        return {
            "data": data,
            "has_more": more,
            "next_page": f"page_{data[-1]['id']}" if more and data else None,
        }

    def delete(self, owner: str, skill_id: str) -> None:
        """Delete a skill that has no versions left (400 otherwise, as Anthropic answers)."""
        self.get(owner, skill_id)
        versions, _ = self.s.store.list_skill_versions(owner, skill_id, limit=1)
        if versions:
            raise RequestValidationError(
                f"skill {skill_id!r} still has versions: delete them first "
                "(DELETE /v1/skills/{skill_id}/versions/{version})",
                field="skill_id",
            )
        self.s.store.delete_skill(owner, skill_id)

    # --- versions ------------------------------------------------------------------------

    def create_version(self, owner: str, skill_id: str, skill: SkillBundle) -> SkillVersionRecord:
        """A new version: its SKILL.md must keep the skill's name."""
        record = self.get(owner, skill_id)
        if skill.name != record.name:
            raise RequestValidationError(
                f"the skill's name is {record.name!r}; a new version cannot change it",
                field="name",
            )
        now = self.s.clock()
        version = self._put_version(record, skill, now)
        self.s.store.put_skill(
            SkillRecord(**{**record.__dict__, "latest_version": version.version, "updated_at": now})
        )
        return version

    def version(self, owner: str, skill_id: str, version: str) -> SkillVersionRecord:
        record = self.get(owner, skill_id)
        if version == "latest" and record.latest_version:
            version = record.latest_version
        found = self.s.store.get_skill_version(owner, skill_id, version)
        if found is None:
            raise NotFoundError(
                f"version {version!r} of skill {skill_id!r} not found", field="version"
            )
        return found

    def list_versions(
        self, owner: str, skill_id: str, *, limit: int, after: str | None
    ) -> dict[str, Any]:
        self.get(owner, skill_id)
        records, more = self.s.store.list_skill_versions(owner, skill_id, limit=limit, after=after)
        data = [version_json(r) for r in records]
        return {
            "data": data,
            "has_more": more,
            "next_page": f"page_{data[-1]['id']}" if more and data else None,
        }

    def delete_version(self, owner: str, skill_id: str, version: str) -> None:
        """Delete a version (its zip too); the skill's latest becomes the next newest."""
        record = self.get(owner, skill_id)
        found = self.version(owner, skill_id, version)
        # The zip first: a failure leaves the version whole, and deleting it again finishes.
        self.s.s3.delete_object(Bucket=self.s.config.files_bucket, Key=found.s3_key)
        self.s.store.delete_skill_version(owner, skill_id, found.version)
        if record.latest_version == found.version:
            newest, _ = self.s.store.list_skill_versions(owner, skill_id, limit=1)
            latest = newest[0].version if newest else None
            self.s.store.put_skill(
                SkillRecord(
                    **{**record.__dict__, "latest_version": latest, "updated_at": self.s.clock()}
                )
            )

    def content(self, owner: str, skill_id: str, version: str) -> tuple[SkillVersionRecord, bytes]:
        found = self.version(owner, skill_id, version)
        body = self.s.s3.get_object(Bucket=self.s.config.files_bucket, Key=found.s3_key)
        return found, body["Body"].read()

    def _put_version(
        self, record: SkillRecord, skill: SkillBundle, now: float
    ) -> SkillVersionRecord:
        stamp = str(int(now * 1_000_000))
        latest = record.latest_version
        if latest and int(stamp) <= int(latest):  # versions only grow
            stamp = str(int(latest) + 1)
        key = f"{SKILLS_KEY_PREFIX}/{record.owner}/{record.skill_id}/{stamp}.zip"
        self.s.s3.put_object(
            Bucket=self.s.config.files_bucket,
            Key=key,
            Body=to_zip(skill),
            ContentType="application/zip",
        )
        version = SkillVersionRecord(
            skill_id=record.skill_id,
            owner=record.owner,
            version=stamp,
            name=skill.name,
            description=skill.description,
            directory=skill.directory,
            s3_key=key,
            size_bytes=skill.size_bytes,
            created_at=now,
        )
        self.s.store.put_skill_version(version)
        return version

    # --- the container side --------------------------------------------------------------

    def resolve(self, owner: str, refs: list[SkillRef]) -> list[UsedSkill]:
        """The versions ``refs`` name (404 for a skill or version that does not exist)."""
        used = []
        for ref in refs:
            found = self.version(owner, ref.skill_id, ref.version)
            used.append(
                UsedSkill(
                    found.skill_id, found.version, found.name, found.description, found.s3_key
                )
            )
        names = [u.name for u in used]
        if len(set(names)) != len(names):
            raise RequestValidationError("two skills share one name", field="container.skills")
        return used

    def place(
        self, used: list[UsedSkill], placed: dict[str, Any], sandbox: Any, session_id: str
    ) -> None:
        """Unpack each skill not yet in this container (at this version) into ``skills/<name>/``.

        ``placed`` (the container record's) remembers ``skill:<id>`` -> version, so a later
        turn of the same container reads nothing; a skill asked for at another version
        replaces the files of the one there.
        """
        for skill in used:
            key = f"skill:{skill.skill_id}"
            if (placed.get(key) or {}).get("version") == skill.version:
                continue
            started = time.monotonic()
            body = self.s.s3.get_object(Bucket=self.s.config.files_bucket, Key=skill.s3_key)
            files = _unzip(body["Body"].read(), skill.name)
            if key in placed:
                sandbox.execute_command(session_id, f"rm -rf {SKILLS_DIR}/{skill.name}")
            sandbox.write_files(session_id, files)
            placed[key] = {"version": skill.version, "name": skill.name}
            logger.info(
                "skill %s@%s placed (%d files, %.0f ms)",
                skill.skill_id,
                skill.version,
                len(files),
                (time.monotonic() - started) * 1000,
            )


def _unzip(data: bytes, name: str) -> list[SandboxFile]:
    """A stored version's files (written by :func:`to_zip`: every entry under ``name/``)."""
    archive = zipfile.ZipFile(io.BytesIO(data))
    return [
        SandboxFile(f"{SKILLS_DIR}/{info.filename}", archive.read(info))
        for info in archive.infolist()
        if not info.is_dir() and info.filename.startswith(f"{name}/")
    ]
