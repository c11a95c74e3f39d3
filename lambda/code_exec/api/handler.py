"""Lambda entry points: one line each over module-level objects.

* ``api_handler`` — API Gateway REST proxy events (every route, see :mod:`code_exec.api.routes`)
* ``job_handler`` — Step Functions task: runs one queued job, stores its result
* ``cleanup_handler`` — Step Functions finally step: stops the job's sandbox session
  and marks a failed or timed-out job as such; also the target of the EventBridge rule on
  the job machine's FAILED, TIMED_OUT and ABORTED executions
* ``sweeper_handler`` — EventBridge schedule: stops READY sandbox sessions no live job or
  session holds (:mod:`code_exec.sweeper`)

Clients are built once per container, on first use (``services.py``). Each invocation runs
under one deadline (:mod:`code_exec.deadline`) that every dependency call and retry reads:
a buffered route's answers before API Gateway's 29 s, the others before the function's
timeout.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from code_exec.api.routes import create_app
from code_exec.deadline import (
    BUFFERED_BUDGET_SECONDS,
    BUFFERED_GRACE_SECONDS,
    Deadline,
    bound,
)
from code_exec.jobs import Jobs
from code_exec.observability import logger, metrics, tracer
from code_exec.operations import Operations
from code_exec.services import Services
from code_exec.sweeper import Sweeper

__all__ = [
    "api_handler",
    "app",
    "cleanup_handler",
    "job_handler",
    "jobs",
    "operations",
    "services",
    "sweeper",
    "sweeper_handler",
]

services = Services()
operations = Operations(services)
jobs = Jobs(operations)
app = create_app(services)
sweeper = Sweeper(services)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def api_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with bound(_buffered(context)):
        return app.resolve(event, context)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def job_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with bound(Deadline.for_invocation(context, budget=None, grace=_TASK_GRACE_SECONDS)):
        return jobs.run_job(str(event["job_id"]), remaining_seconds=_remaining(context))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def cleanup_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with bound(Deadline.for_invocation(context, budget=None)):
        return jobs.cleanup(event)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def sweeper_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with bound(Deadline.for_invocation(context, budget=None)):
        return sweeper.sweep().as_dict()


# A job's turn stops 30 s before the function's timeout (jobs.py); its cleanup runs in there.
_TASK_GRACE_SECONDS = 20.0


def _buffered(context: Any) -> Deadline:
    """A buffered route's deadline: its answer is out before API Gateway's 29 s."""
    return Deadline.for_invocation(
        context, budget=BUFFERED_BUDGET_SECONDS, grace=BUFFERED_GRACE_SECONDS
    )


def _remaining(context: Any) -> float | None:
    get = getattr(context, "get_remaining_time_in_millis", None)
    return None if get is None else get() / 1000.0
