"""Asynchronous jobs: the request, status, and result or error of each.

A job's request is stored like its result (:meth:`TableBase._put_json`): inline when small,
else in the files bucket under ``state/jobs/<job id>/request-<unique>.json`` with a pointer in
the item, because ``POST /jobs`` accepts bodies up to 5 MiB and a DynamoDB item holds 400 KB.
Only the job step reads it back (``get_job(request=True)``): status reads and the cleanup
step never touch it, so the cleanup function needs no read of it either. The object is needed
until the job step has read it (within the job machine's timeout); the bucket's lifecycle
removes it later like any other ``state/`` object, and an object left by a failed item write
is never referenced.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from code_exec.exceptions import NotFoundError
from code_exec.store.base import TableBase, is_conditional_failure

__all__ = ["JobRecord", "JobStatus", "JobStore"]

logger = logging.getLogger(__name__)


class JobStatus:
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    FINAL = (SUCCEEDED, FAILED)


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
    deadline: float | None = None  # epoch seconds after which a RUNNING job is dead
    cleaned_up_at: float | None = None  # when the cleanup work finished (once per job)

    def holds(self, sandbox_session_id: str, now: float) -> bool:
        """Whether this job can still be using that sandbox session at ``now``.

        Only a RUNNING job before its deadline (the job Lambda's own timeout) can; a
        job that recorded another sandbox session does not hold this one.
        """
        if self.status != JobStatus.RUNNING or self.deadline is None or now >= self.deadline:
            return False
        return self.sandbox_session_id in (None, sandbox_session_id)


# What a status read (``get_job(payload=False)``) fetches: never request, result or error.
_META = (
    "#st", "session_id", "sandbox_session_id", "execution_arn", "created_at",
    "updated_at", "expires_at", "deadline", "cleaned_up_at",
)  # fmt: skip


def _job_key(job_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "JOB"}}


class JobStore(TableBase):
    """Job items: create, read, and status transitions."""

    def create_job(self, job: JobRecord) -> None:
        now = self._clock()
        job.created_at = job.updated_at = now
        job.expires_at = int(now) + self._ttl
        item = {
            **_job_key(job.job_id),
            "status": {"S": job.status},
            "request": self._put_json(f"jobs/{job.job_id}/request", job.request),
            "created_at": {"N": repr(now)},
            "updated_at": {"N": repr(now)},
            "expires_at": {"N": str(job.expires_at)},
        }
        if job.session_id:
            item["session_id"] = {"S": job.session_id}
        self._db.put_item(
            TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)"
        )

    def get_job(self, job_id: str, *, payload: bool = True, request: bool = False) -> JobRecord:
        """The job; with ``payload=False`` without its result and error (status and ids only:
        no S3 read, whatever their size). The request is read only with ``request=True`` (the
        job step; it may be an S3 object).

        Raises:
            NotFoundError: no such job (or it expired).
        """
        extra: dict[str, Any] = {}
        if not payload:
            extra = {
                "ProjectionExpression": ", ".join(_META),
                "ExpressionAttributeNames": {"#st": "status"},
            }
        item = self._db.get_item(
            TableName=self._table, Key=_job_key(job_id), ConsistentRead=True, **extra
        ).get("Item")
        if item is None or self._expired(item):
            raise NotFoundError(f"job {job_id!r} not found", field="job_id")

        def s(name: str) -> str | None:
            return item.get(name, {}).get("S") or None

        def n(name: str) -> float | None:
            value = item.get(name, {}).get("N")
            return None if value is None else float(value)

        return JobRecord(
            job_id=job_id,
            status=item["status"]["S"],
            request=self._get_json(item.get("request")) if payload and request else {},
            result=self._get_json(item.get("result")) if payload else None,
            error=self._get_json(item.get("error")) if payload else None,
            session_id=s("session_id"),
            sandbox_session_id=s("sandbox_session_id"),
            execution_arn=s("execution_arn"),
            created_at=n("created_at") or 0.0,
            updated_at=n("updated_at") or 0.0,
            expires_at=int(n("expires_at") or 0),
            deadline=n("deadline"),
            cleaned_up_at=n("cleaned_up_at"),
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
        deadline: float | None = None,
        expect_status: str | None = None,
        cleaned_up: bool = False,
    ) -> bool:
        """Set the given fields (and ``updated_at``) on an existing job.

        With ``expect_status``, only when the job is still in that status; with
        ``cleaned_up``, only when no cleanup has finished before (and record that one has
        now). Returns False (and changes nothing) when such a condition does not hold.
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
            values[":result"] = self._put_json(f"jobs/{job_id}/result", result)
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
        if deadline is not None:
            sets.append("deadline = :deadline")
            values[":deadline"] = {"N": repr(deadline)}
        condition = "attribute_exists(pk)"
        if expect_status is not None:
            condition += " AND #st = :expected"
            names["#st"] = "status"
            values[":expected"] = {"S": expect_status}
        if cleaned_up:
            sets.append("cleaned_up_at = :now")
            condition += " AND attribute_not_exists(cleaned_up_at)"
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
            if (expect_status is not None or cleaned_up) and is_conditional_failure(e):
                return False
            raise
        return True
