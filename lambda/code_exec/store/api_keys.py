"""API keys for ``/v1/*``: stored only as SHA-256 hashes, each with the owner it stands for.

The key itself is shown once, when it is minted (``make api-key``), and never stored: a
request's key is hashed and looked up. Containers and files belong to the owner, so two keys
of one owner share them and keys of different owners never see each other's.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from code_exec.store.base import TableBase

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

    @property
    def active(self) -> bool:
        return self.status == "ACTIVE"


def _key(key_hash: str) -> dict[str, Any]:
    return {"pk": {"S": f"APIKEY#{key_hash}"}, "sk": {"S": "APIKEY"}}


class ApiKeyStore(TableBase):
    """API key items (looked up by hash)."""

    def api_key(self, key: str) -> ApiKeyRecord | None:
        """The record of ``key`` (hashed here), or None when no such key was minted."""
        item = self._db.get_item(TableName=self._table, Key=_key(hash_key(key))).get("Item")
        if item is None:
            return None
        return ApiKeyRecord(
            key_hash=item["pk"]["S"].removeprefix("APIKEY#"),
            owner=item.get("owner", {}).get("S", ""),
            name=item.get("name", {}).get("S", ""),
            created_at=float(item.get("created_at", {}).get("N", "0")),
            status=item.get("status", {}).get("S", "ACTIVE"),
        )

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
