"""The streaming function's runtime: a Lambda Runtime API loop that streams every response.

Started by the exec wrapper ``bootstrap`` beside this module (``AWS_LAMBDA_EXEC_WRAPPER``)
with the managed Python runtime's own interpreter, in place of the stock runtime interface
client, which cannot stream. ``python -m code_exec.streaming.runtime`` then:

1. imports the handler named by ``_HANDLER`` (a failure is reported to ``init/error``);
2. loops: next invocation -> ``handler(event, context)`` -> a
   :class:`~code_exec.streaming.response.StreamedResponse` -> the metadata prelude, then
   the body chunk by chunk. A handler that raises before returning is reported to the
   invocation's ``error`` endpoint; a body that raises later ends with error trailers.
   However the write ends, the response is closed before the next invocation: after a
   failed write (the reader is gone, or the Runtime API refused it, the first write
   included) that stops its producer and waits for its cleanup (leases released, one-shot
   sandboxes stopped; :meth:`~code_exec.streaming.pump.Pump.close`). A reader that leaves
   while the body waits is noticed at once (``on_disconnect``), not at the next write.

One invocation at a time, as Lambda runs them in one execution environment. Locally, the
same module runs against ``devtools.runtime_api`` (a Runtime API double), so ``make local``
and the tests exercise this exact loop.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from code_exec.streaming.framing import prelude
from code_exec.streaming.response import StreamedResponse
from code_exec.streaming.runtime_api import Invocation, Outcome, RuntimeApi

__all__ = ["LambdaContext", "handle", "load_handler", "main", "serve"]

logger = logging.getLogger(__name__)

Handler = Callable[[Any, Any], StreamedResponse]


class LambdaContext:
    """The context object a handler gets (the attributes the stock runtime provides)."""

    def __init__(self, invocation: Invocation, env: dict[str, str] | None = None) -> None:
        env = dict(os.environ) if env is None else env
        self.aws_request_id = invocation.request_id
        self.invoked_function_arn = invocation.function_arn
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = int(env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") or 0)
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.client_context = invocation.client_context
        self.identity = invocation.cognito_identity
        self._deadline_ms = invocation.deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._deadline_ms - time.time() * 1000))


def load_handler(name: str) -> Handler:
    """``module.function`` from ``_HANDLER``."""
    module_name, _, attr = name.rpartition(".")
    if not module_name:
        raise ValueError(f"_HANDLER must be module.function, got {name!r}")
    return getattr(importlib.import_module(module_name), attr)  # type: ignore[no-any-return]


def handle(api: RuntimeApi, handler: Handler, invocation: Invocation) -> Outcome | None:
    """Serve one invocation; None when it failed before its first byte."""
    if invocation.trace_id:
        os.environ["_X_AMZN_TRACE_ID"] = invocation.trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
    response: Any = None
    try:
        event = json.loads(invocation.payload or b"null")
        response = handler(event, LambdaContext(invocation))
        if not isinstance(response, StreamedResponse):
            raise TypeError(f"a streaming handler returns a StreamedResponse, not {response!r}")
        head = prelude(response.status_code, response.headers, cookies=response.cookies)
    except Exception as e:
        logger.exception("invocation %s failed before its first byte", invocation.request_id)
        if isinstance(response, StreamedResponse):
            response.close()  # e.g. metadata over 16 KiB: its producer is already running
        api.invocation_error(invocation.request_id, type(e).__name__, str(e))
        return None
    outcome: Outcome | None = None
    try:
        outcome = api.stream(
            invocation.request_id, head, response.chunks(), on_disconnect=response.on_disconnect
        )
    finally:
        # Always, and before the next invocation: a body written to its end is already
        # done (closing it is a no-op); any other ending (a failed write, the first one
        # included, a reader gone, or an error in this loop) stops its producer and waits
        # for its cleanup.
        if outcome is not Outcome.COMPLETE:
            logger.info("invocation %s: response %s", invocation.request_id, outcome)
        response.close()
        sys.stdout.flush()
        sys.stderr.flush()
    return outcome


def serve(api: RuntimeApi, handler: Handler, *, invocations: int | None = None) -> None:
    """Serve invocations until ``invocations`` have been handled (forever when None)."""
    served = 0
    while invocations is None or served < invocations:
        handle(api, handler, api.next())
        served += 1


def main() -> int:
    """Entry point of ``python -m code_exec.streaming.runtime``."""
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), stream=sys.stdout)
    api = RuntimeApi(os.environ["AWS_LAMBDA_RUNTIME_API"])
    try:
        handler = load_handler(os.environ["_HANDLER"])
    except Exception as e:
        logger.exception("the handler could not be loaded")
        api.init_error(f"Runtime.{type(e).__name__}", str(e))
        return 1
    serve(api, handler)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
