"""The job function's entry module: the job machine's RunJob task runs one queued job.

Step Functions invokes :func:`job_handler` with ``{"job_id": ...}``; the turn runs under one
deadline (:mod:`code_exec.deadline`) that ends 20 s before the function's timeout, and the
job's own turn stops 30 s before it (:mod:`code_exec.jobs`), so its result is stored and the
Cleanup step can run.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from code_exec.deadline import Deadline, bound
from code_exec.jobs import Jobs
from code_exec.observability import logger, metrics, traced
from code_exec.operations import Operations
from code_exec.services import Services

__all__ = ["job_handler", "jobs", "services"]

services = Services()
jobs = Jobs(Operations(services))

# A job's turn stops 30 s before the function's timeout (jobs.py); its cleanup runs in there.
_TASK_GRACE_SECONDS = 20.0


@logger.inject_lambda_context
@traced
@metrics.log_metrics
def job_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with bound(Deadline.for_invocation(context, budget=None, grace=_TASK_GRACE_SECONDS)):
        return jobs.run_job(str(event["job_id"]), remaining_seconds=_remaining(context))


def _remaining(context: Any) -> float | None:
    get = getattr(context, "get_remaining_time_in_millis", None)
    return None if get is None else get() / 1000.0
