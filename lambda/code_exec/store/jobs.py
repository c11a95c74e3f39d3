"""Asynchronous jobs: the request, status, and result or error of each."""

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
        if item is None or self._expired(item):
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
            if expect_status is not None and is_conditional_failure(e):
                return False
            raise
        return True
