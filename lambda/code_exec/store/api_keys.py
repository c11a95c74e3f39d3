"""API keys for ``/v1/*``: stored only as SHA-256 hashes, each with the owner it stands for.

The key itself is shown once, when it is minted (``make api-key``), and never stored: a
request's key is hashed and looked up. Containers and files belong to the owner, so two keys
of one owner share them and keys of different owners never see each other's.

A key is named by its hash (``make api-key LIST=1`` shows the first 12 hex digits as its
id) and revoked in place (status ``REVOKED``, kept so the list still shows it): the
authorizer refuses it once its cache entry is older than
:data:`code_exec.anthropic.authorizer.CACHE_SECONDS`.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from code_exec.exceptions import NotFoundError
from code_exec.store.base import TableBase, is_conditional_failure

__all__ = ["KEY_PREFIX", "ApiKeyRecord", "ApiKeyStore", "hash_key", "new_key"]

KEY_PREFIX = "sk-bcx-"


def new_key() -> str:
    """A new API key (256 bits of randomness)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The stored form of a key: its SHA-256, hex."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApiKeyRecord:
    key_hash: str
    owner: str
    name: str
    created_at: float
    status: str = "ACTIVE"  # ACTIVE | REVOKED
    revoked_at: float | None = None

    @property
    def active(self) -> bool:
        return self.status == "ACTIVE"


def _key(key_hash: str) -> dict[str, Any]:
    return {"pk": {"S": f"APIKEY#{key_hash}"}, "sk": {"S": "APIKEY"}}


def _record(item: dict[str, Any]) -> ApiKeyRecord:
    revoked_at = item.get("revoked_at", {}).get("N")
    return ApiKeyRecord(
        key_hash=item["pk"]["S"].removeprefix("APIKEY#"),
        owner=item.get("owner", {}).get("S", ""),
        name=item.get("name", {}).get("S", ""),
        created_at=float(item.get("created_at", {}).get("N", "0")),
        status=item.get("status", {}).get("S", "ACTIVE"),
        revoked_at=float(revoked_at) if revoked_at is not None else None,
    )


class ApiKeyStore(TableBase):
    """API key items (looked up by hash)."""

    def api_key(self, key: str) -> ApiKeyRecord | None:
        """The record of ``key`` (hashed here), or None when no such key was minted."""
        item = self._db.get_item(TableName=self._table, Key=_key(hash_key(key))).get("Item")
        return None if item is None else _record(item)

    def list_api_keys(self) -> list[ApiKeyRecord]:
        """Every key's record, oldest first (hashes, owners, names; never a key).

        A filtered ``Scan`` of the whole table (every page): it reads every item, so it is
        the operator's command (``make api-key LIST=1``), never a request's.
        """
        records: list[ApiKeyRecord] = []
        for page in self._db.get_paginator("scan").paginate(
            TableName=self._table,
            FilterExpression="sk = :apikey",
            ExpressionAttributeValues={":apikey": {"S": "APIKEY"}},
        ):
            records.extend(_record(item) for item in page.get("Items", []))
        return sorted(records, key=lambda r: (r.created_at, r.key_hash))

    def revoke_api_key(self, key_hash: str) -> ApiKeyRecord:
        """Mark the key with this hash ``REVOKED`` (again: a no-op; the first time is kept).

        Raises:
            NotFoundError: no key has this hash.
        """
        try:
            item = self._db.update_item(
                TableName=self._table,
                Key=_key(key_hash),
                UpdateExpression="SET #st = :revoked, revoked_at = if_not_exists(revoked_at, :now)",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#st": "status"},
                ExpressionAttributeValues={
                    ":revoked": {"S": "REVOKED"},
                    ":now": {"N": repr(self._clock())},
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as e:
            if is_conditional_failure(e):
                raise NotFoundError(f"no API key with hash {key_hash}") from e
            raise
        return _record(item)

    def put_api_key(self, key: str, *, owner: str, name: str) -> ApiKeyRecord:
        """Store a new key's hash (refused if that hash exists; it never will in practice)."""
        record = ApiKeyRecord(hash_key(key), owner, name, self._clock())
        self._db.put_item(
            TableName=self._table,
            Item={
                **_key(record.key_hash),
                "owner": {"S": owner},
                "name": {"S": name},
                "created_at": {"N": repr(record.created_at)},
                "status": {"S": record.status},
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
        return record
