"""Sessions and jobs in one DynamoDB table (single-table design).

Keys (partition ``pk``, sort ``sk``, TTL attribute ``expires_at``, epoch seconds):

| item     | pk               | sk        | what                                              |
|----------|------------------|-----------|---------------------------------------------------|
| session  | ``SESSION#<id>`` | ``SESSION`` | sandbox session id, conversation history, lease |
| job      | ``JOB#<id>``     | ``JOB``     | request, status, result or error                 |
| pending  | ``PENDING#<id>`` | ...       | paused tool calls of ``/v1/messages`` (later)     |

A session carries a *lease* (``lease_owner`` + ``lease_expires_at``) taken with a
conditional write, so two requests never drive one sandbox session at the same
time: the second gets :class:`~code_exec.exceptions.ConflictError` (409). The
lease expires on its own if its holder dies, and is released in ``finally``.

Large JSON values (history, results) go to S3 when they would not fit a
DynamoDB item comfortably; the item then keeps a pointer.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from code_exec.exceptions import ConflictError, NotFoundError

__all__ = [
    "INLINE_LIMIT_BYTES",
    "JobRecord",
    "JobStatus",
    "SessionGoneError",
    "SessionRecord",
    "Store",
]

logger = logging.getLogger(__name__)

INLINE_LIMIT_BYTES = 200_000  # JSON values above this go to S3 (DynamoDB items max 400 KB)


class SessionGoneError(ConflictError):
    """The session was deleted (or its lease lost) while a request was using it."""

    code = "SessionGone"


class JobStatus:
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    FINAL = (SUCCEEDED, FAILED)


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


@dataclass
class JobRecord:
    """An asynchronous agent turn run by the Step Functions job machine."""

    job_id: str
    status: str
    request: dict[str, Any]
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    session_id: str | None = None
    sandbox_session_id: str | None = None
    execution_arn: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    expires_at: int = 0


def _session_key(session_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"SESSION#{session_id}"}, "sk": {"S": "SESSION"}}


def _job_key(job_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "JOB"}}


def _is_conditional_failure(e: ClientError) -> bool:
    return e.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class Store:
    """Typed access to the table. ``dynamodb`` and ``s3`` are boto3 clients."""

    def __init__(
        self,
        dynamodb: Any,
        table_name: str,
        *,
        ttl_seconds: int,
        s3: Any = None,
        bucket: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = dynamodb
        self._table = table_name
        self._ttl = ttl_seconds
        self._s3 = s3
        self._bucket = bucket
        self._clock = clock

    # --- sessions ---------------------------------------------------------------------

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
            if _is_conditional_failure(e):
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
            if not _is_conditional_failure(e):
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
            if owner is not None and _is_conditional_failure(e):
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

    # --- jobs ---------------------------------------------------------------------------

    def create_job(self, job: JobRecord) -> None:
        now = self._clock()
        job.created_at = job.updated_at = now
        job.expires_at = int(now) + self._ttl
        item = {
            **_job_key(job.job_id),
            "status": {"S": job.status},
            "request": {"S": json.dumps(job.request)},
            "created_at": {"N": repr(now)},
            "updated_at": {"N": repr(now)},
            "expires_at": {"N": str(job.expires_at)},
        }
        if job.session_id:
            item["session_id"] = {"S": job.session_id}
        self._db.put_item(
            TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)"
        )

    def get_job(self, job_id: str) -> JobRecord:
        """Raises:
        NotFoundError: no such job (or it expired).
        """
        item = self._db.get_item(
            TableName=self._table, Key=_job_key(job_id), ConsistentRead=True
        ).get("Item")
        if item is None:
            raise NotFoundError(f"job {job_id!r} not found", field="job_id")

        def s(name: str) -> str | None:
            return item.get(name, {}).get("S") or None

        return JobRecord(
            job_id=job_id,
            status=item["status"]["S"],
            request=json.loads(item["request"]["S"]),
            result=self._get_json(item.get("result")),
            error=self._get_json(item.get("error")),
            session_id=s("session_id"),
            sandbox_session_id=s("sandbox_session_id"),
            execution_arn=s("execution_arn"),
            created_at=float(item["created_at"]["N"]),
            updated_at=float(item["updated_at"]["N"]),
            expires_at=int(item["expires_at"]["N"]),
        )

    def update_job(
        self,
        job_id: str,
        *,
        status: str | None = None,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
        sandbox_session_id: str | None = None,
        execution_arn: str | None = None,
        expect_status: str | None = None,
    ) -> bool:
        """Set the given fields (and ``updated_at``) on an existing job.

        With ``expect_status``, only when the job is still in that status; returns False
        (and changes nothing) when it is not.
        """
        values: dict[str, Any] = {":now": {"N": repr(self._clock())}}
        sets = ["updated_at = :now"]
        names: dict[str, str] = {}
        if status is not None:
            sets.append("#st = :status")
            names["#st"] = "status"
            values[":status"] = {"S": status}
        if result is not None:
            sets.append("#res = :result")
            names["#res"] = "result"
            values[":result"] = self._put_json(f"jobs/{job_id}/result.json", result)
        if error is not None:
            sets.append("#err = :error")
            names["#err"] = "error"
            values[":error"] = {"S": json.dumps(error)}
        if sandbox_session_id is not None:
            sets.append("sandbox_session_id = :sb")
            values[":sb"] = {"S": sandbox_session_id}
        if execution_arn is not None:
            sets.append("execution_arn = :arn")
            values[":arn"] = {"S": execution_arn}
        condition = "attribute_exists(pk)"
        if expect_status is not None:
            condition += " AND #st = :expected"
            names["#st"] = "status"
            values[":expected"] = {"S": expect_status}
        kwargs: dict[str, Any] = {"ExpressionAttributeNames": names} if names else {}
        try:
            self._db.update_item(
                TableName=self._table,
                Key=_job_key(job_id),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                **kwargs,
            )
        except ClientError as e:
            if expect_status is not None and _is_conditional_failure(e):
                return False
            raise
        return True

    # --- JSON values, inline or in S3 ---------------------------------------------------

    def _put_json(self, key: str, value: Any) -> dict[str, Any]:
        raw = json.dumps(value, default=str)
        if len(raw) <= INLINE_LIMIT_BYTES or self._s3 is None:
            return {"S": raw}
        s3_key = f"state/{key}"
        self._s3.put_object(
            Bucket=self._bucket, Key=s3_key, Body=raw.encode(), ContentType="application/json"
        )
        return {"M": {"s3_key": {"S": s3_key}}}

    def _get_json(self, attr: dict[str, Any] | None) -> Any:
        if not attr:
            return None
        if "S" in attr:
            return json.loads(attr["S"])
        s3_key = attr["M"]["s3_key"]["S"]
        body = self._s3.get_object(Bucket=self._bucket, Key=s3_key)["Body"].read()
        return json.loads(body)
