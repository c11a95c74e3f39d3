"""Client-named sessions: which sandbox session backs each, its conversation, and its lease."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from code_exec.exceptions import ConflictError
from code_exec.store.base import TableBase, is_conditional_failure

__all__ = ["SessionGoneError", "SessionRecord", "SessionStore"]

logger = logging.getLogger(__name__)


class SessionGoneError(ConflictError):
    """The session was deleted (or its lease lost) while a request was using it."""

    code = "SessionGone"


@dataclass
class SessionRecord:
    """A client-named session: which sandbox session backs it, and the conversation so far."""

    session_id: str
    sandbox_session_id: str | None = None
    status: str = "ACTIVE"  # ACTIVE | STOPPED
    history: list[Any] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0
    expires_at: int = 0

    @property
    def stopped(self) -> bool:
        return self.status == "STOPPED"


def _session_key(session_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"SESSION#{session_id}"}, "sk": {"S": "SESSION"}}


class SessionStore(TableBase):
    """Session items: lease, record, save and tombstone."""

    def acquire_session(self, session_id: str, owner: str, lease_seconds: float) -> SessionRecord:
        """Take the session's lease (creating the item on first use) and return it.

        Raises:
            ConflictError: another request holds an unexpired lease on this session.
        """
        now = self._clock()
        try:
            resp = self._db.update_item(
                TableName=self._table,
                Key=_session_key(session_id),
                UpdateExpression=(
                    "SET lease_owner = :owner, lease_expires_at = :until, "
                    "created_at = if_not_exists(created_at, :now), "
                    "expires_at = if_not_exists(expires_at, :ttl), "
                    "#st = if_not_exists(#st, :active)"
                ),
                ConditionExpression="attribute_not_exists(lease_owner) OR lease_expires_at < :now",
                ExpressionAttributeNames={"#st": "status"},
                ExpressionAttributeValues={
                    ":owner": {"S": owner},
                    ":until": {"N": repr(now + lease_seconds)},
                    ":now": {"N": repr(now)},
                    ":ttl": {"N": str(int(now) + self._ttl)},
                    ":active": {"S": "ACTIVE"},
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as e:
            if is_conditional_failure(e):
                raise ConflictError(
                    f"session {session_id!r} is busy with another request; retry when it finishes",
                    field="session_id",
                ) from e
            raise
        return self._session_from_item(session_id, resp["Attributes"])

    def release_session(self, session_id: str, owner: str) -> None:
        """Give the lease back (no-op if it expired and someone else took it)."""
        try:
            self._db.update_item(
                TableName=self._table,
                Key=_session_key(session_id),
                UpdateExpression="REMOVE lease_owner, lease_expires_at",
                ConditionExpression="lease_owner = :owner",
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        except ClientError as e:
            if not is_conditional_failure(e):
                raise
            logger.warning("lease on session %s was no longer held by %s", session_id, owner)

    def get_session(self, session_id: str) -> SessionRecord | None:
        item = self._db.get_item(
            TableName=self._table, Key=_session_key(session_id), ConsistentRead=True
        ).get("Item")
        return None if item is None else self._session_from_item(session_id, item)

    def save_session(self, record: SessionRecord, owner: str | None = None) -> None:
        """Store the sandbox session id, history and metadata; extend the TTL.

        With ``owner``, only while that request still holds the session's lease: a session
        deleted (``DELETE /sessions/{id}``) while the request ran is not brought back.

        Raises:
            SessionGoneError: ``owner`` no longer holds the lease (the item was deleted).
        """
        now = self._clock()
        history = self._put_json(f"sessions/{record.session_id}/history.json", record.history)
        values: dict[str, Any] = {
            ":sb": {"S": record.sandbox_session_id or ""},
            ":h": history,
            ":m": {"S": json.dumps(record.metadata)},
            ":now": {"N": repr(now)},
            ":ttl": {"N": str(int(now) + self._ttl)},
            ":status": {"S": record.status},
        }
        self._update_session(
            record.session_id,
            owner,
            "SET sandbox_session_id = :sb, history = :h, metadata = :m, "
            "updated_at = :now, expires_at = :ttl, #st = :status",
            values,
        )

    def mark_session_stopped(self, session_id: str, owner: str | None = None) -> None:
        """Keep a tombstone until the TTL so later use of the id answers 410, not a fresh start.

        With ``owner``, only while that request holds the lease (a session deleted
        meanwhile stays deleted: its id starts fresh).
        """
        now = self._clock()
        values: dict[str, Any] = {
            ":stopped": {"S": "STOPPED"},
            ":now": {"N": repr(now)},
            ":ttl": {"N": str(int(now) + self._ttl)},
        }
        try:
            self._update_session(
                session_id,
                owner,
                "SET #st = :stopped, updated_at = :now, expires_at = :ttl",
                values,
            )
        except SessionGoneError:
            logger.info("session %s was deleted meanwhile; no tombstone", session_id)

    def _update_session(
        self, session_id: str, owner: str | None, expression: str, values: dict[str, Any]
    ) -> None:
        """Update the session item; with ``owner``, only while that request holds the lease.

        Raises:
            SessionGoneError: ``owner`` no longer holds the lease (the item was deleted).
        """
        condition: dict[str, Any] = {}
        if owner is not None:
            condition["ConditionExpression"] = "lease_owner = :owner"
            values = {**values, ":owner": {"S": owner}}
        try:
            self._db.update_item(
                TableName=self._table,
                Key=_session_key(session_id),
                UpdateExpression=expression,
                ExpressionAttributeNames={"#st": "status"},
                ExpressionAttributeValues=values,
                **condition,
            )
        except ClientError as e:
            if owner is not None and is_conditional_failure(e):
                raise SessionGoneError(
                    f"session {session_id!r} was deleted while the request ran",
                    field="session_id",
                ) from e
            raise

    def delete_session(self, session_id: str) -> None:
        """Forget the session (its id may be used again, for a fresh session)."""
        self._db.delete_item(TableName=self._table, Key=_session_key(session_id))

    def _session_from_item(self, session_id: str, item: dict[str, Any]) -> SessionRecord:
        return SessionRecord(
            session_id=session_id,
            sandbox_session_id=item.get("sandbox_session_id", {}).get("S") or None,
            status=item.get("status", {}).get("S", "ACTIVE"),
            history=self._get_json(item.get("history")) or [],
            metadata=json.loads(item.get("metadata", {}).get("S", "{}")),
            created_at=float(item.get("created_at", {}).get("N", "0")),
            updated_at=float(item.get("updated_at", {}).get("N", "0")),
            expires_at=int(item.get("expires_at", {}).get("N", "0")),
        )
