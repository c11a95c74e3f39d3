"""Powertools Logger, Tracer and Metrics, created once for the Lambda entry points.

Tracing is on only where Powertools turns it on (:data:`TRACING`, decided at import by
Powertools' own rule): in Lambda (``LAMBDA_TASK_ROOT`` set), unless
``POWERTOOLS_TRACE_DISABLED`` says otherwise, never under SAM local. There the tracer
(:func:`get_tracer`) patches botocore (:data:`PATCHED`), so every AWS call is an X-Ray
subsegment, as Powertools' default ``patch_all()`` did, without that call's imports of
requests, httpx and sqlite3, which our code never uses (``patch_all()`` leaves http.client
unpatched, and so does this). :func:`traced` puts a handler in its own subsegment.

Nothing of this runs at import: the tracer (and with it the X-Ray SDK, ~40 modules) is made
on first use, by the first traced invocation or by :func:`trace_aws_calls`, which
:func:`code_exec.clients.make` calls before it makes a client (every AWS client of the runtime
is made there): botocore is patched then, before any call. A function imports botocore with
its first client; patching it at import would load botocore's client machinery (~0.2 s) into
every cold start's INIT. Elsewhere (tests, ``make local``) there is no tracer at all and
:func:`traced` returns the handler unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.tracing.tracer import Tracer  # the X-Ray SDK loads when one is made

__all__ = [
    "NAMESPACE",
    "PATCHED",
    "SERVICE",
    "TRACING",
    "MetricUnit",
    "get_tracer",
    "logger",
    "metrics",
    "trace_aws_calls",
    "traced",
    "tracing_enabled",
]

SERVICE = "bedrock-code-execution"
NAMESPACE = "BedrockCodeExecution"
# What the X-Ray SDK patches.
PATCHED = ("botocore",)

_Handler = TypeVar("_Handler", bound=Callable[..., object])


def tracing_enabled() -> bool:
    """Powertools' own rule (its ``Tracer`` applies the same one when made)."""
    return not Tracer._is_tracer_disabled()


logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
TRACING = tracing_enabled()


@functools.cache
def get_tracer() -> Tracer | None:
    """Powertools' tracer where tracing is on (made on first use: it imports the X-Ray SDK)."""
    return Tracer(service=SERVICE, auto_patch=False) if TRACING else None


@functools.cache
def trace_aws_calls() -> None:
    """Where tracing is on, patch :data:`PATCHED` (once), so AWS calls are subsegments."""
    tracer = get_tracer()
    if tracer is not None:
        tracer.patch(list(PATCHED))


def traced(handler: _Handler) -> _Handler:
    """A Lambda handler in its own subsegment (cold start annotated) when tracing is on."""
    if not TRACING:
        return handler

    @functools.cache
    def captured() -> Callable[..., Any]:
        tracer = get_tracer()
        assert tracer is not None  # TRACING
        return tracer.capture_lambda_handler(handler)

    @functools.wraps(handler)
    def run(event: Any, context: Any) -> Any:
        return captured()(event, context)

    return run  # type: ignore[return-value]
