"""The cleanup function's entry module: a job's Cleanup step, and the EventBridge rule on the
job machine's FAILED, TIMED_OUT and ABORTED executions (:mod:`code_exec.job_cleanup`).

It stops the job's sandbox session and marks a failed or timed-out job as such: the sandbox
client and the table are all it loads, never the model loops.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from code_exec.deadline import Deadline, bound
from code_exec.job_cleanup import JobCleanup
from code_exec.observability import logger, metrics, traced
from code_exec.services import Services

__all__ = ["cleanup", "cleanup_handler", "services"]

services = Services()
cleanup = JobCleanup(services)


@logger.inject_lambda_context
@traced
@metrics.log_metrics
def cleanup_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with bound(Deadline.for_invocation(context, budget=None)):
        return cleanup.cleanup(event)
