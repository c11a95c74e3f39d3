"""Asynchronous jobs: ``POST /jobs`` starts the Standard state machine, whose job step runs
the turn (``run_job``) and whose cleanup step always runs after it (``cleanup_job``).

The job record (DynamoDB, ``JOB#<id>``) is the source of truth for ``GET /jobs/{id}``; the
execution is consulted only when the record is not final.

Nothing a job starts outlives it: the job's sandbox session is named after the job
(:mod:`code_exec.owners`) before it starts and recorded as soon as it has started; the
cleanup work runs after the job step, again from EventBridge when the execution itself
fails, times out or is aborted (:mod:`code_exec.job_cleanup`, the cleanup function's own
module: it needs no model loop), and the sweeper
(:mod:`code_exec.sweeper`) stops whatever a RUNNING job past its ``deadline`` left.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from code_exec.dependency_errors import dependency_error
from code_exec.exceptions import CodeExecError
from code_exec.job_cleanup import EXECUTION_STATUS_CHANGE, JobCleanup
from code_exec.models import AgentRequest
from code_exec.operations import Operations
from code_exec.owners import job_owner
from code_exec.store import JobRecord, JobStatus

__all__ = ["EXECUTION_STATUS_CHANGE", "Jobs", "JobsUnavailableError"]

logger = logging.getLogger(__name__)

_DEADLINE_MARGIN_SECONDS = 60.0


class JobsUnavailableError(CodeExecError):
    """Step Functions refused to start the job (or is not there, as in local mode)."""

    status, code = 502, "JobsUnavailable"


class Jobs:
    """Job use cases over the same services as :class:`~code_exec.operations.Operations`."""

    def __init__(self, ops: Operations) -> None:
        self.ops = ops
        self.s = ops.s
        self.cleanup_step = JobCleanup(ops.s)

    def submit_job(self, request: AgentRequest) -> JobRecord:
        """Store the job and start its Step Functions execution."""
        request = self.ops.check_request(request)
        self.s.files.check_objects_exist(request.files)  # read once, when the job runs
        job = JobRecord(
            job_id=self.s.new_id(),
            status=JobStatus.QUEUED,
            request=request.model_dump(mode="json"),
            session_id=request.session_id,
        )
        self.s.store.create_job(job)
        try:
            resp = self.s.stepfunctions.start_execution(
                stateMachineArn=self.s.config.job_state_machine_arn,
                name=job.job_id,
                input=json.dumps({"job_id": job.job_id}),
            )
        except (ClientError, BotoCoreError) as e:  # refused, or never answered
            code = _error_code(e)
            logger.error("could not start job %s: %s", job.job_id, code)
            # throttled: 429, down or silent: 503 (both with Retry-After), denied: 502
            error = dependency_error(e) or JobsUnavailableError(f"could not start the job ({code})")
            self.s.store.update_job(job.job_id, status=JobStatus.FAILED, error=error.to_dict())
            raise error from e
        job.execution_arn = resp["executionArn"]
        self.s.store.update_job(job.job_id, execution_arn=job.execution_arn)
        return job

    def run_job(self, job_id: str, *, remaining_seconds: float | None = None) -> dict[str, Any]:
        """The job machine's task: run the stored turn and store its result.

        Raises on failure (after recording the error) so the state machine's Catch
        runs the cleanup step.
        """
        job = self.s.store.get_job(job_id, request=True)
        if job.status in JobStatus.FINAL:
            return {"job_id": job_id, "status": job.status}
        runs_for = remaining_seconds or self.s.config.session_timeout_seconds
        # The deadline tells the sweeper when this job can no longer hold a sandbox session
        # (the Lambda is gone by then), even if no cleanup ever marks it final.
        deadline = self.s.clock() + runs_for + _DEADLINE_MARGIN_SECONDS
        self.s.store.update_job(job_id, status=JobStatus.RUNNING, deadline=deadline)
        request = AgentRequest.model_validate(job.request)
        cap = None if remaining_seconds is None else max(1.0, remaining_seconds - 30.0)
        try:
            result = self.ops.invoke(
                request,
                wall_time_cap=cap,
                lease_seconds=runs_for + _DEADLINE_MARGIN_SECONDS,
                on_started=lambda sb: self._record_sandbox(job_id, sb),
                owner=job_owner(job_id),
            )
        except CodeExecError as e:
            self._finish(job_id, status=JobStatus.FAILED, error=e.to_dict())
            raise
        except Exception as e:
            error = {"code": "InternalError", "message": type(e).__name__}
            self._finish(job_id, status=JobStatus.FAILED, error=error)
            raise
        status = JobStatus.SUCCEEDED
        if not self._finish(job_id, status=status, result=result.model_dump(mode="json")):
            status = self.s.store.get_job(job_id).status  # cleanup got there first
        return {"job_id": job_id, "status": status}

    def _record_sandbox(self, job_id: str, sandbox_session_id: str) -> None:
        """Saved as soon as the session starts, so cleanup can stop it if this Lambda dies."""
        self.s.store.update_job(job_id, sandbox_session_id=sandbox_session_id)

    def _finish(self, job_id: str, **fields: Any) -> bool:
        """Final job update, only while RUNNING: a timed-out job marked FAILED stays FAILED."""
        done = self.s.store.update_job(job_id, expect_status=JobStatus.RUNNING, **fields)
        if not done:
            logger.warning("job %s was no longer RUNNING; kept its status", job_id)
        return done

    def job_status(self, job_id: str) -> JobRecord:
        """The stored job; a job whose execution ended without a final status is failed here.

        That happens only when the state machine itself ended before its cleanup step
        could run (the execution was aborted, or timed out as a whole): this read does
        the cleanup step's work then, stopping the job's sandbox session and marking the
        job FAILED.
        """
        job = self.s.store.get_job(job_id)
        if job.status in JobStatus.FINAL or not job.execution_arn:
            return job
        execution = self.s.stepfunctions.describe_execution(executionArn=job.execution_arn)
        if execution["status"] in ("FAILED", "TIMED_OUT", "ABORTED"):
            caught = {
                "Error": execution.get("error") or execution["status"],
                "Cause": execution.get("cause") or "the job's execution ended",
            }
            self.cleanup_job({"job_id": job_id, "error": caught})
            return self.s.store.get_job(job_id)
        return job

    def cleanup(self, event: dict[str, Any]) -> dict[str, Any]:
        """The cleanup function's work (:meth:`JobCleanup.cleanup`)."""
        return self.cleanup_step.cleanup(event)

    def cleanup_job(self, event: dict[str, Any]) -> dict[str, Any]:
        """The job machine's finally step (:meth:`JobCleanup.cleanup_job`)."""
        return self.cleanup_step.cleanup_job(event)


def _error_code(e: ClientError | BotoCoreError) -> str:
    """AWS's error code, or the transport failure's class name (no HTTP answer)."""
    if isinstance(e, ClientError):
        return str(e.response.get("Error", {}).get("Code", "Unknown"))
    return type(e).__name__
