"""Client-named sessions: which sandbox session backs each, its conversation, and its lease."""

from __future__ import annotations

import json
import logging
import math
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
    lease_owner: str | None = None
    lease_expires_at: float = 0.0

    @property
    def stopped(self) -> bool:
        return self.status == "STOPPED"

    def holds(self, sandbox_session_id: str, now: float) -> bool:
        """Whether this session can still be using that sandbox session at ``now``.

        Its recorded sandbox session, until the session is stopped; or, while a request
        holds the lease and nothing is recorded yet, the one that request is starting.
        """
        if self.stopped:
            return False
        if self.sandbox_session_id is not None:
            return self.sandbox_session_id == sandbox_session_id
        return self.lease_owner is not None and now < self.lease_expires_at


# What a status read (``get_session(history=False)``) fetches: never the conversation.
_META = (
    "sandbox_session_id", "#st", "metadata", "created_at", "updated_at", "expires_at",
    "lease_owner", "lease_expires_at",
)  # fmt: skip


def _session_key(session_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"SESSION#{session_id}"}, "sk": {"S": "SESSION"}}


class SessionStore(TableBase):
    """Session items: lease, record, save and tombstone."""

    def acquire_session(self, session_id: str, owner: str, lease_seconds: float) -> SessionRecord:
        """Take the session's lease (creating the item on first use) and return it.

        The TTL is extended to outlast the lease, so a session never expires under the
        request holding it. An item whose TTL has passed (DynamoDB deletes lazily) counts
        as gone: it is reset to a fresh session, so an old tombstone does not answer 410
        past its TTL.

        Raises:
            ConflictError: another request holds an unexpired lease on this session.
        """
        now = self._clock()
        values: dict[str, Any] = {
            ":owner": {"S": owner},
            ":until": {"N": repr(now + lease_seconds)},
            ":now": {"N": repr(now)},
            ":ttl": {"N": str(int(now) + max(self._ttl, math.ceil(lease_seconds)))},
            ":active": {"S": "ACTIVE"},
        }
        lease = "SET lease_owner = :owner, lease_expires_at = :until, expires_at = :ttl"
        attempts = (
            (  # a live item: take a free or lapsed lease
                f"{lease}, created_at = if_not_exists(created_at, :now), "
                "#st = if_not_exists(#st, :active)",
                "(attribute_not_exists(lease_owner) OR lease_expires_at < :now) AND "
                "(attribute_not_exists(expires_at) OR expires_at >= :now)",
            ),
            (  # an expired item DynamoDB has not deleted yet: start over
                f"{lease}, created_at = :now, #st = :active "
                "REMOVE sandbox_session_id, history, metadata",
                "expires_at < :now",
            ),
        )
        for expression, condition in attempts:
            try:
                resp = self._db.update_item(
                    TableName=self._table,
                    Key=_session_key(session_id),
                    UpdateExpression=expression,
                    ConditionExpression=condition,
                    ExpressionAttributeNames={"#st": "status"},
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_NEW",
                )
            except ClientError as e:
                if not is_conditional_failure(e):
                    raise
                continue
            return self._session_from_item(session_id, resp["Attributes"])
        raise ConflictError(
            f"session {session_id!r} is busy with another request; retry when it finishes",
            field="session_id",
        )

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

    def get_session(self, session_id: str, *, history: bool = True) -> SessionRecord | None:
        """The session, or None when there is none (or its TTL has passed).

        With ``history=False`` the conversation is not read (no S3 read, whatever its size).
        """
        extra: dict[str, Any] = {}
        if not history:
            extra = {
                "ProjectionExpression": ", ".join(_META),
                "ExpressionAttributeNames": {"#st": "status"},
            }
        item = self._db.get_item(
            TableName=self._table, Key=_session_key(session_id), ConsistentRead=True, **extra
        ).get("Item")
        if item is None or self._expired(item):
            return None
        return self._session_from_item(session_id, item)

    def save_session(
        self, record: SessionRecord, owner: str | None = None, *, release: bool = False
    ) -> None:
        """Store the sandbox session id, history and metadata; extend the TTL.

        With ``owner``, only while that request still holds the session's lease: a session
        deleted (``DELETE /sessions/{id}``) while the request ran is not brought back. With
        ``release`` too, the same write gives the lease back (a request's last save: one
        ``UpdateItem``, not a save and then a :meth:`release_session`).

        Raises:
            SessionGoneError: ``owner`` no longer holds the lease (the item was deleted).
        """
        if release and owner is None:
            raise ValueError("only the lease's owner can release it")
        now = self._clock()
        history = self._put_json(f"sessions/{record.session_id}/history", record.history)
        values: dict[str, Any] = {
            ":sb": {"S": record.sandbox_session_id or ""},
            ":h": history,
            ":m": {"S": json.dumps(record.metadata)},
            ":now": {"N": repr(now)},
            ":ttl": {"N": str(int(now) + self._ttl)},
            ":status": {"S": record.status},
        }
        condition = None
        if owner is not None:
            condition, values[":owner"] = "lease_owner = :owner", {"S": owner}
        expression = (
            "SET sandbox_session_id = :sb, history = :h, metadata = :m, "
            "updated_at = :now, expires_at = :ttl, #st = :status"
        )
        if release:
            expression += " REMOVE lease_owner, lease_expires_at"
        self._update_session(record.session_id, expression, values, condition)

    def mark_session_stopped(
        self, session_id: str, owner: str | None = None, *, sandbox_session_id: str | None = None
    ) -> bool:
        """Keep a tombstone until the TTL so later use of the id answers 410, not a fresh start.

        Only ever for the session as the caller knew it: with ``owner``, while that request
        holds the lease; with ``sandbox_session_id``, while the session is still backed by
        that sandbox session. A session deleted meanwhile stays deleted (its id starts
        fresh), and one deleted and re-created meanwhile keeps working. Returns whether the
        tombstone was written.
        """
        now = self._clock()
        values: dict[str, Any] = {
            ":stopped": {"S": "STOPPED"},
            ":now": {"N": repr(now)},
            ":ttl": {"N": str(int(now) + self._ttl)},
        }
        conditions = []
        if owner is not None:
            conditions.append("lease_owner = :owner")
            values[":owner"] = {"S": owner}
        if sandbox_session_id is not None:
            conditions.append("sandbox_session_id = :sb")
            values[":sb"] = {"S": sandbox_session_id}
        try:
            self._update_session(
                session_id,
                "SET #st = :stopped, updated_at = :now, expires_at = :ttl",
                values,
                " AND ".join(conditions) or None,
            )
        except SessionGoneError:
            logger.info("session %s was deleted or re-created meanwhile; no tombstone", session_id)
            return False
        return True

    def _update_session(
        self,
        session_id: str,
        expression: str,
        values: dict[str, Any],
        condition: str | None,
    ) -> None:
        """Update the session item; with ``condition``, only while it holds.

        Raises:
            SessionGoneError: the condition failed (the lease was lost, the item deleted).
        """
        extra: dict[str, Any] = {"ConditionExpression": condition} if condition else {}
        try:
            self._db.update_item(
                TableName=self._table,
                Key=_session_key(session_id),
                UpdateExpression=expression,
                ExpressionAttributeNames={"#st": "status"},
                ExpressionAttributeValues=values,
                **extra,
            )
        except ClientError as e:
            if condition and is_conditional_failure(e):
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
            lease_owner=item.get("lease_owner", {}).get("S") or None,
            lease_expires_at=float(item.get("lease_expires_at", {}).get("N", "0")),
        )
