"""The API function's entry module: API Gateway REST proxy events, every buffered route
(:mod:`code_exec.api.routes`), one line over a module-level resolver.

The other functions have entry modules of their own (:mod:`code_exec.functions`,
:mod:`code_exec.api.streamed`, :mod:`code_exec.anthropic.authorizer`). Clients are built once
per container, on first use (``services.py``). Each invocation runs under one deadline
(:mod:`code_exec.deadline`) that every dependency call and retry reads: a buffered route
answers before API Gateway's 29 s.
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
from code_exec.observability import logger, metrics, traced
from code_exec.operations import Operations
from code_exec.services import Services

__all__ = ["api_handler", "app", "operations", "services"]

services = Services()
operations = Operations(services)
app = create_app(services)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@traced
@metrics.log_metrics
def api_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with bound(_buffered(context)):
        return app.resolve(event, context)


def _buffered(context: Any) -> Deadline:
    """A buffered route's deadline: its answer is out before API Gateway's 29 s."""
    return Deadline.for_invocation(
        context, budget=BUFFERED_BUDGET_SECONDS, grace=BUFFERED_GRACE_SECONDS
    )
