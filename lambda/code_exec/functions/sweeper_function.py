"""The sweeper function's entry module: an EventBridge schedule stops READY sandbox sessions
no live owner holds (:mod:`code_exec.sweeper`).

It lists and stops sessions and reads owners' records: the sandbox client and the table are
all it loads, never the model loops.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from code_exec.deadline import Deadline, bound
from code_exec.observability import logger, metrics, traced
from code_exec.services import Services
from code_exec.sweeper import Sweeper

__all__ = ["services", "sweeper", "sweeper_handler"]

services = Services()
sweeper = Sweeper(services)


@logger.inject_lambda_context
@traced
@metrics.log_metrics
def sweeper_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with bound(Deadline.for_invocation(context, budget=None)):
        return sweeper.sweep().as_dict()
