"""Powertools Logger, Tracer and Metrics, created once for the Lambda entry points.

Tracing is on only where Powertools turns it on: in Lambda (``LAMBDA_TASK_ROOT`` set), unless
``POWERTOOLS_TRACE_DISABLED`` says otherwise, never under SAM local. There the
:data:`tracer` patches botocore (:data:`PATCHED`), so every AWS call is an X-Ray subsegment,
as Powertools' default ``patch_all()`` did, without that call's imports of requests, httpx and
sqlite3, which our code never uses (``patch_all()`` leaves http.client unpatched, and so does
this: the web fetcher's urllib3 2 requests would not be seen by that patch anyway). The patch
is applied when botocore.session is first imported (a post-import hook), not at import of this
module: a function imports botocore with its first client, and patching it here would load
botocore's client machinery (~0.2 s) into every cold start's INIT.
Elsewhere (tests, ``make local``) there is no tracer at all: :data:`tracer` is None and
:func:`traced` returns the handler unchanged, so the X-Ray SDK (whose recorder, built at
import, costs half a second of a cold start) is never imported.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
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
# What the X-Ray SDK patches (its module name -> the import that applies it). botocore's
# trigger is botocore.session (every client is made by a session, which imports
# botocore.client fully first): a hook on botocore.client itself runs before
# ``botocore.client`` is set on its package, where the SDK's patch looks for it.
PATCHED = {"botocore": "botocore.session"}

_Handler = TypeVar("_Handler", bound=Callable[..., object])


def tracing_enabled() -> bool:
    """Powertools' own rule (its ``Tracer`` applies the same one when made)."""
    return not Tracer._is_tracer_disabled()


logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer: Tracer | None = Tracer(service=SERVICE, auto_patch=False) if tracing_enabled() else None


def _patch_on_import(tracer: Tracer, patch: str, trigger: str) -> None:
    """``tracer.patch([patch])`` once ``trigger`` is imported (now, if it already is)."""
    import wrapt  # the X-Ray SDK's own dependency, loaded with it

    def hook(_module: ModuleType) -> None:
        tracer.patch([patch])

    wrapt.register_post_import_hook(hook, trigger)


if tracer is not None:
    for _patch, _trigger in PATCHED.items():
        _patch_on_import(tracer, _patch, _trigger)


def traced(handler: _Handler) -> _Handler:
    """A Lambda handler in its own subsegment (cold start annotated) when tracing is on."""
    if tracer is None:
        return handler
    return tracer.capture_lambda_handler(handler)  # type: ignore[return-value]
