"""moto's Lambda ``Invoke`` routed to our handlers, in-process (moto runs Lambda code only in
Docker, and these machines have none)."""

from __future__ import annotations

import importlib
import json
import logging
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["LambdaAdapter", "LambdaContext", "template_functions"]

logger = logging.getLogger(__name__)


@dataclass
class LambdaContext:
    """The attributes Powertools reads from a Lambda context."""

    function_name: str = "code-exec-api"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:code-exec-api"
    aws_request_id: str = "5b5c6f1e-0000-4000-8000-000000000000"
    remaining_ms: int = 29_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def template_functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Logical id -> Lambda function properties."""
    return {
        k: v["Properties"]
        for k, v in template["Resources"].items()
        if v["Type"] == "AWS::Lambda::Function"
    }


class LambdaAdapter:
    """Routes moto's Lambda ``Invoke`` for the template's functions to our handlers, in-process.

    moto can only run Lambda code in Docker, and this machine has none. While active, the
    adapter replaces ``LambdaBackend.invoke`` (what moto's Invoke API calls): a function of
    the template (by name or ARN) is run by importing its ``Handler`` (e.g.
    ``code_exec.functions.job_function.job_handler``) and calling it with the payload, as
    Lambda would.
    A raised exception becomes ``X-Amz-Function-Error: Unhandled`` with Lambda's error
    payload; running past the function's ``Timeout`` (overridable per function, in seconds
    or as a ``threading.Event`` the test sets when the timeout should hit) becomes
    Lambda's ``Sandbox.Timedout`` error, while the abandoned handler thread is left to end
    on its own (Lambda would freeze it); ``threads`` keeps every handler thread, so a test
    can wait for an abandoned one to end. Any other function goes to moto unchanged.
    ``handlers`` (logical id -> callable) replaces the imported handler of a function, for
    tests that give each function its own copy of the handler module, as separate Lambda
    containers have.
    """

    def __init__(
        self,
        template: dict[str, Any],
        timeouts: dict[str, Any] | None = None,
        *,
        region: str = "us-east-1",
        account: str = "123456789012",
        handlers: Mapping[str, Callable[..., Any]] | None = None,
    ) -> None:
        self.functions = template_functions(template)
        self.region, self.account = region, account
        self.timeouts = dict(timeouts or {})
        self.handlers = dict(handlers or {})
        self.invocations: list[tuple[str, dict[str, Any]]] = []
        self.threads: list[threading.Thread] = []  # one per invocation, named lambda-<id>
        self._original: Any = None

    def __enter__(self) -> LambdaAdapter:
        from moto.awslambda.models import LambdaBackend

        self._original = LambdaBackend.invoke
        adapter = self

        def invoke(backend, function_name, qualifier, body, headers, response_headers):  # type: ignore[no-untyped-def]
            name = str(function_name).rsplit(":", 1)[-1]
            if name not in adapter.functions:
                return adapter._original(
                    backend, function_name, qualifier, body, headers, response_headers
                )
            return adapter._invoke(name, body, response_headers)

        LambdaBackend.invoke = invoke  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: Any) -> None:
        from moto.awslambda.models import LambdaBackend

        LambdaBackend.invoke = self._original  # type: ignore[method-assign]

    def _invoke(self, name: str, body: Any, response_headers: dict[str, str]) -> bytes:
        props = self.functions[name]
        module_name, fn_name = props["Handler"].rsplit(".", 1)
        handler = self.handlers.get(name) or getattr(importlib.import_module(module_name), fn_name)
        event = json.loads(body or b"{}")
        self.invocations.append((props["Handler"], event))
        limit = self.timeouts.get(name, props.get("Timeout", 3))
        timeout = 60.0 if isinstance(limit, threading.Event) else float(limit)
        outcome: dict[str, Any] = {}
        context = LambdaContext(
            function_name=name,
            invoked_function_arn=f"arn:aws:lambda:{self.region}:{self.account}:function:{name}",
            remaining_ms=int(timeout * 1000),
        )

        def run() -> None:
            try:
                outcome["result"] = handler(event, context)
            except Exception as e:
                logger.exception("%s raised", name)  # what Lambda writes to the function's log
                outcome["error"] = e

        thread = threading.Thread(target=run, name=f"lambda-{name}", daemon=True)
        self.threads.append(thread)
        thread.start()
        if isinstance(limit, threading.Event):  # "the timeout hits now", set by the test
            while thread.is_alive() and not limit.is_set():
                thread.join(0.05)
        else:
            thread.join(timeout)
        if thread.is_alive():
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(
                {
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": f"Task timed out after {timeout:.2f} seconds",
                }
            ).encode()
        if "error" in outcome:
            e = outcome["error"]
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(
                {
                    "errorType": type(e).__name__,
                    "errorMessage": str(e),
                    "stackTrace": traceback.format_tb(e.__traceback__),  # as Lambda reports it
                }
            ).encode()
        return json.dumps(outcome.get("result")).encode()

    def by_role(self, handler_suffix: str) -> str:
        """Logical id of the function whose handler ends with ``handler_suffix``."""
        return next(k for k, v in self.functions.items() if v["Handler"].endswith(handler_suffix))
