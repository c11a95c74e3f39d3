"""``/v1/messages`` containers: which sandbox session backs each, whose it is, what is pending.

A container is created by the first request that runs code, belongs to the API key owner
that request came from, and is leased by one request at a time (a conditional write, like
sessions). Everything a later request needs to continue is here, never in a Lambda's memory:
the sandbox session, the Python cell paused on client tool calls (``pending``), and the
results of recently executed server tool uses (``executed``), so a resent turn never runs a
tool use twice, and the uploaded files already placed in it (``placed``), so each is written
once.

The item stays within DynamoDB's 400 KB whatever a cell leaves in those four JSON attributes
(the sandbox is attacker-controlled, and each alone may be inline up to 200 KB): together
they get :data:`STATE_INLINE_BYTES`, and past it the largest go to S3 (as any value over
200 KB does) until the rest fits. Spilling, rather than refusing the tool, keeps a
legitimate large state (many tools bound, many calls answered) working; what is spilled is
bounded upstream (output truncation, call ids of a fixed pattern, calls per round).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from code_exec.exceptions import ConflictError
from code_exec.store.base import TableBase, is_conditional_failure

__all__ = ["ContainerRecord", "ContainerStore"]

logger = logging.getLogger(__name__)

EXECUTED_KEPT = 32  # recent server tool results kept per container (newest win)
TOMBSTONE_SECONDS = 86_400  # how long DynamoDB keeps a record past its expiry
# runner, pending, executed and placed together, inline: what the 400 KB item spares beside
# its keys, ids, numbers and lease (the rest goes to S3, largest first)
STATE_INLINE_BYTES = 300_000


@dataclass
class ContainerRecord:
    """One container and what a request continuing it needs."""

    container_id: str
    owner: str
    sandbox_session_id: str | None = None
    status: str = "ACTIVE"  # ACTIVE | STOPPED
    created_at: float = 0.0
    session_ends_at: float = 0.0  # the sandbox session's own timeout (from its start)
    idle_until: float = 0.0  # rolling expiry: last use + the idle window
    runner: dict[str, Any] = field(default_factory=dict)  # tools bound in the Python REPL
    pending: dict[str, Any] | None = None  # a cell paused on client tool calls
    executed: dict[str, Any] = field(default_factory=dict)  # srvtoolu id -> result block
    placed: dict[str, Any] = field(default_factory=dict)  # uploaded file id -> what it is
    leased_until: float = 0.0  # the lease of the request using it (0: none)

    @property
    def expires_at(self) -> float:
        """When the container stops being usable (the earlier of idle expiry and session end)."""
        ends = [t for t in (self.idle_until, self.session_ends_at) if t]
        return min(ends) if ends else 0.0

    def holds(self, sandbox_session_id: str, now: float) -> bool:
        """Whether this container can still be using that sandbox session at ``now``: its
        recorded session until the container expires, or for as long as a request holds its
        lease (a streamed turn may run past the idle expiry it renews only when it ends);
        while the first request is starting it and nothing is recorded yet, the one being
        started."""
        if self.status != "ACTIVE":
            return False
        if self.expires_at <= now and self.leased_until <= now:
            return False
        return self.sandbox_session_id in (None, sandbox_session_id)

    def remember(self, tool_use_id: str, block: dict[str, Any]) -> None:
        """Keep a server tool use's result so a resent turn reuses it instead of re-running."""
        self.executed[tool_use_id] = block
        while len(self.executed) > EXECUTED_KEPT:
            self.executed.pop(next(iter(self.executed)))


# What a status read fetches (never runner, pending, executed or placed: they may be in S3).
_STATUS = (
    "owner",
    "sandbox_session_id",
    "status",
    "created_at",
    "session_ends_at",
    "idle_until",
    "lease_expires_at",
)


def _key(container_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"CONTAINER#{container_id}"}, "sk": {"S": "CONTAINER"}}


class ContainerStore(TableBase):
    """Container items: create, lease, read, save, release."""

    def create_container(self, record: ContainerRecord, lease: str, lease_seconds: float) -> None:
        """Store a new container, leased by the request creating it."""
        now = self._clock()
        item = {**_key(record.container_id), **self._container_values(record)}
        item.update(
            {
                "created_at": {"N": repr(now)},
                "lease_owner": {"S": lease},
                "lease_expires_at": {"N": repr(now + lease_seconds)},
            }
        )
        self._db.put_item(
            TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)"
        )

    def acquire_container(
        self, container_id: str, owner: str, lease: str, lease_seconds: float
    ) -> ContainerRecord | None:
        """Take the lease of ``owner``'s container; None when ``owner`` has no such container.

        The owner is part of the write's condition, so another owner's container is never
        leased, not even for a moment, and answers exactly as an unknown one does (busy or
        not: nothing about it can be probed). A failed condition returns the item as it was
        (``ReturnValuesOnConditionCheckFailure``), which tells unknown, foreign and busy apart
        without a second read (and without a grant to read the item).

        Raises:
            ConflictError: another request of the owner holds the container (409).
        """
        now = self._clock()
        try:
            resp = self._db.update_item(
                TableName=self._table,
                Key=_key(container_id),
                UpdateExpression="SET lease_owner = :lease, lease_expires_at = :until",
                ConditionExpression=(
                    "attribute_exists(pk) AND #owner = :owner AND "
                    "(attribute_not_exists(lease_owner) OR lease_expires_at < :now)"
                ),
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={
                    ":owner": {"S": owner},
                    ":lease": {"S": lease},
                    ":until": {"N": repr(now + lease_seconds)},
                    ":now": {"N": repr(now)},
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as e:
            if not is_conditional_failure(e):
                raise
            old = e.response.get("Item")
            if old is None or old.get("owner", {}).get("S") != owner:
                return None
            raise ConflictError(
                f"container {container_id} is busy with another request; retry when it ends",
                field="container",
            ) from e
        return self._container_from(container_id, resp["Attributes"])

    def get_container(self, container_id: str) -> ContainerRecord | None:
        """Whose container it is, its sandbox session and expiry: the record without its
        lease or its JSON state (the sweeper's question; nothing is read from S3)."""
        item = self._db.get_item(
            TableName=self._table,
            Key=_key(container_id),
            ConsistentRead=True,
            ProjectionExpression=", ".join(f"#{a}" for a in _STATUS),
            ExpressionAttributeNames={f"#{a}": a for a in _STATUS},
        ).get("Item")
        return None if item is None else self._container_from(container_id, item)

    def save_container(self, record: ContainerRecord, lease: str) -> None:
        """Store what the request changed, while it still holds the lease."""
        values = self._container_values(record)
        names = {f"#{k}": k for k in values}
        expression = "SET " + ", ".join(f"#{k} = :{k}" for k in values)
        try:
            self._db.update_item(
                TableName=self._table,
                Key=_key(record.container_id),
                UpdateExpression=expression,
                ConditionExpression="lease_owner = :lease",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={
                    **{f":{k}": v for k, v in values.items()},
                    ":lease": {"S": lease},
                },
            )
        except ClientError as e:
            if is_conditional_failure(e):
                raise ConflictError(
                    f"container {record.container_id} was taken over by another request",
                    field="container",
                ) from e
            raise

    def release_container(self, container_id: str, lease: str) -> None:
        """Give the lease back (no-op when it expired and another request took it)."""
        try:
            self._db.update_item(
                TableName=self._table,
                Key=_key(container_id),
                UpdateExpression="REMOVE lease_owner, lease_expires_at",
                ConditionExpression="lease_owner = :lease",
                ExpressionAttributeValues={":lease": {"S": lease}},
            )
        except ClientError as e:
            if not is_conditional_failure(e):
                raise
            logger.warning("lease on container %s was no longer held by %s", container_id, lease)

    def _container_values(self, r: ContainerRecord) -> dict[str, Any]:
        base = f"containers/{r.container_id}"
        return {
            "owner": {"S": r.owner},
            "sandbox_session_id": {"S": r.sandbox_session_id or ""},
            "status": {"S": r.status},
            "session_ends_at": {"N": repr(r.session_ends_at)},
            "idle_until": {"N": repr(r.idle_until)},
            **self._put_json_within(
                {
                    "runner": (f"{base}/runner", r.runner),
                    "pending": (f"{base}/pending", r.pending),
                    "executed": (f"{base}/executed", r.executed),
                    "placed": (f"{base}/placed", r.placed),
                },
                STATE_INLINE_BYTES,
            ),
            # DynamoDB's TTL: a while after the container expires, so an expired id still
            # answers "expired" rather than looking like one that never existed.
            "expires_at": {"N": str(int(r.expires_at) + TOMBSTONE_SECONDS)},
        }

    def _container_from(self, container_id: str, item: dict[str, Any]) -> ContainerRecord:
        def num(name: str) -> float:
            return float(item.get(name, {}).get("N", "0"))

        return ContainerRecord(
            container_id=container_id,
            owner=item.get("owner", {}).get("S", ""),
            sandbox_session_id=item.get("sandbox_session_id", {}).get("S") or None,
            status=item.get("status", {}).get("S", "ACTIVE"),
            created_at=num("created_at"),
            session_ends_at=num("session_ends_at"),
            idle_until=num("idle_until"),
            runner=self._get_json(item.get("runner")) or {},
            pending=self._get_json(item.get("pending")),
            executed=self._get_json(item.get("executed")) or {},
            placed=self._get_json(item.get("placed")) or {},
            leased_until=num("lease_expires_at"),  # removed when the lease is given back
        )
