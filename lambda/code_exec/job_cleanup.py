"""The cleanup step of a job: stop what the job started, and mark a job that failed.

The job machine's Cleanup step runs it after the job step, and an EventBridge rule on the
machine's FAILED, TIMED_OUT and ABORTED executions runs it again (an execution aborted or
timed out as a whole never reaches its Cleanup step); ``GET /jobs/{id}`` on an ended
execution does the same work (:meth:`code_exec.jobs.Jobs.job_status`). ``cleaned_up_at``
makes the repeats no-ops.

Its own module because the cleanup function needs only the sandbox client and the table,
never the model loops :mod:`code_exec.jobs` runs turns with.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from code_exec.exceptions import (
    ConflictError,
    ModelAccessDeniedError,
    ModelError,
    ModelNotAllowedError,
    ModelThrottledError,
    NotFoundError,
    PayloadTooLargeError,
    RequestValidationError,
    SandboxError,
    ToolError,
)
from code_exec.observability import MetricUnit, metrics
from code_exec.store import JobStatus, SessionGoneError

__all__ = ["EXECUTION_STATUS_CHANGE", "JobCleanup"]

logger = logging.getLogger(__name__)

EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change"  # EventBridge detail-type


class JobCleanup:
    """The cleanup work over a Lambda's :class:`~code_exec.services.Services` (``sandbox``
    stops sessions, ``store`` reads and updates jobs and sessions)."""

    def __init__(self, services: Any) -> None:
        self.s = services

    def cleanup(self, event: dict[str, Any]) -> dict[str, Any]:
        """The cleanup work, from the state machine's Cleanup step or from EventBridge.

        EventBridge sends the job machine's FAILED, TIMED_OUT and ABORTED status changes
        (``detail.name`` is the job id): an execution aborted or timed out as a whole
        never reaches its Cleanup step, and one whose Cleanup failed gets another try.
        """
        if event.get("detail-type") != EXECUTION_STATUS_CHANGE:
            return self.cleanup_job(event)
        detail = event.get("detail") or {}
        job_id, status = str(detail.get("name")), str(detail.get("status"))
        caught = {
            "Error": detail.get("error") or status,
            "Cause": detail.get("cause") or f"the job's execution ended {status}",
        }
        try:
            return self.cleanup_job({"job_id": job_id, "error": caught})
        except NotFoundError:
            logger.warning("execution %s ended %s but has no job record", job_id, status)
            return {"job_id": job_id, "status": "NOT_FOUND"}

    def cleanup_job(self, event: dict[str, Any]) -> dict[str, Any]:
        """The job machine's finally step (idempotent: it runs once per job).

        Stops the job's sandbox session when it was one-shot, or when the job failed in a
        named session in a way that may have left the sandbox busy or broken (see
        :func:`_keeps_named_session`); a named session is then tombstoned (410), but only
        while it is still backed by that sandbox session. A job that did not succeed is
        marked FAILED with the error the state machine caught.
        """
        job_id = str(event["job_id"])
        job = self.s.store.get_job(job_id)
        if job.cleaned_up_at is not None:
            return {"job_id": job_id, "status": job.status}  # done before (EventBridge again)
        error = None
        if job.status != JobStatus.SUCCEEDED:
            error = job.error if job.status == JobStatus.FAILED and job.error else None
            error = error or _caught_error(event)
        if job.sandbox_session_id and (job.session_id is None or not _keeps_named_session(error)):
            self._stop_quietly(job.sandbox_session_id)
            if job.session_id:
                self.s.store.mark_session_stopped(
                    job.session_id, sandbox_session_id=job.sandbox_session_id
                )
        if error is None:
            self.s.store.update_job(job_id, cleaned_up=True)
            return {"job_id": job_id, "status": job.status}
        if self.s.store.update_job(job_id, status=JobStatus.FAILED, error=error, cleaned_up=True):
            metrics.add_metric(name="JobsFailed", unit=MetricUnit.Count, value=1)
        return {"job_id": job_id, "status": JobStatus.FAILED}

    def _stop_quietly(self, sandbox_session_id: str) -> None:
        try:
            self.s.sandbox.stop_session(sandbox_session_id)
        except SandboxError:
            logger.warning("could not stop sandbox session %s", sandbox_session_id, exc_info=True)


# Errors that end a turn without leaving the sandbox busy or its state in doubt: the model
# refused or failed between cells, or the request was bad. A job failing with one of these
# keeps its named session (the caller's Python state survives a model throttle); any other
# failure (the sandbox's own errors, a Lambda timeout mid-cell, an unknown error) stops it.
_MODEL_OR_REQUEST_ERRORS = frozenset(
    cls.code
    for cls in (
        ModelError,
        ModelThrottledError,
        ModelAccessDeniedError,
        ModelNotAllowedError,
        RequestValidationError,
        ConflictError,
        SessionGoneError,
        NotFoundError,
        PayloadTooLargeError,
        ToolError,
    )
)


def _keeps_named_session(error: dict[str, Any] | None) -> bool:
    """Whether a job that ended with ``error`` leaves its named session running."""
    return error is None or error.get("code") in _MODEL_OR_REQUEST_ERRORS


def _caught_error(event: dict[str, Any]) -> dict[str, Any]:
    """The error a Step Functions Catch put in the input (``Error``/``Cause``), normalized."""
    caught = event.get("error") or event.get("Error") or {}
    if isinstance(caught, str):
        caught = {"Error": caught, "Cause": event.get("Cause", "")}
    name = str(caught.get("Error") or "JobFailed")
    cause = caught.get("Cause") or "the job did not finish"
    if isinstance(cause, str) and cause.startswith("{"):
        try:
            parsed = json.loads(cause)
            cause = parsed.get("errorMessage") or cause
        except ValueError:
            pass
    lowered = name.lower().replace("_", "")
    code = "JobTimedOut" if "timeout" in lowered or "timedout" in lowered else "JobFailed"
    return {"code": code, "message": f"{name}: {str(cause)[:1000]}"}
