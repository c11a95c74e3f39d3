"""Powertools Logger, Tracer and Metrics, created once for the Lambda entry points.

Tracing is on only where Powertools turns it on: in Lambda (``LAMBDA_TASK_ROOT`` set), unless
``POWERTOOLS_TRACE_DISABLED`` says otherwise, never under SAM local. There the
:data:`tracer` patches what our code calls out with (:data:`PATCHED`): every botocore call
and every ``http.client`` request (the web fetcher's urllib3) is an X-Ray subsegment.
Elsewhere (tests, ``make local``) there is no tracer at all: :data:`tracer` is None and
:func:`traced` returns the handler unchanged, so the X-Ray SDK (whose recorder, built at
import, costs half a second of a cold start) is never imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.tracing.tracer import Tracer  # the X-Ray SDK loads when one is made

__all__ = [
    "NAMESPACE",
    "PATCHED",
    "SERVICE",
    "MetricUnit",
    "logger",
    "metrics",
    "traced",
    "tracer",
    "tracing_enabled",
]

SERVICE = "bedrock-code-execution"
NAMESPACE = "BedrockCodeExecution"
# What the X-Ray SDK patches: the AWS calls, and http.client (urllib3's web fetches; botocore's
# own connections are left to its botocore patch). Not ``patch_all()``: that also imports
# requests, httpx and sqlite3 at cold start, which our code never calls.
PATCHED = ("botocore", "httplib")

_Handler = TypeVar("_Handler", bound=Callable[..., object])


def tracing_enabled() -> bool:
    """Powertools' own rule (its ``Tracer`` applies the same one when made)."""
    return not Tracer._is_tracer_disabled()


logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer: Tracer | None = (
    Tracer(service=SERVICE, patch_modules=PATCHED) if tracing_enabled() else None
)


def traced(handler: _Handler) -> _Handler:
    """A Lambda handler in its own subsegment (cold start annotated) when tracing is on."""
    if tracer is None:
        return handler
    return tracer.capture_lambda_handler(handler)  # type: ignore[return-value]
