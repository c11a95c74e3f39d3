"""boto3 clients whose every call and every retry ends by the request's deadline.

botocore fixes a client's timeouts and retries when the client is made, once per Lambda
container, while each request has its own deadline (:mod:`code_exec.deadline`). A client
made by :func:`make` (or passed to :func:`bind`) reads the deadline of the request it is
called for, at every call:

* **timeouts**: the connect and read timeouts of each attempt are the client's own, cut to
  the time the deadline leaves (:meth:`Deadline.call_seconds`). The connection pools read
  their timeout per request, and the pool timeout here is computed then, from the caller's
  context variable, so threads serving different requests each get their own. A read
  timeout bounds each wait for bytes, so a streamed reply is bounded per chunk, not whole.
* **retries**: botocore's *standard* mode decides whether to retry and how long to back off
  (its retryable errors, jittered exponential backoff, retry quota), and a retry whose
  backoff would end less than ``deadline.MIN_ATTEMPT_SECONDS`` before the deadline is not made:
  the last error is raised instead (translated where it is caught, else by
  :mod:`code_exec.dependency_errors`: 429 or 503 with ``Retry-After``). botocore's own
  handler is left with one attempt and never retries; ours is first in line
  (``needs-retry`` takes the first answer that is not None, and ``False`` means no retry).
* **no adaptive mode**: its client-side rate limiter blocks in ``before-send`` for as long
  as its token bucket says, outside any deadline; every client here uses standard mode.

Outside any request (no deadline set) the clients behave as configured.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from botocore.config import Config
from botocore.retries import standard
from urllib3.util.timeout import Timeout

from code_exec import deadline, observability

__all__ = ["bind", "make"]

logger = logging.getLogger(__name__)


def make(service: str, *, config: Config, attempts: int = 3, **kwargs: Any) -> Any:
    """A boto3 client for ``service`` bounded by the request's deadline (see module doc).

    Args:
        service: the boto3 service name.
        config: its configuration (timeouts, user agent, ...); its ``retries`` are replaced.
        attempts: attempts in all per call (botocore's ``total_max_attempts``), while the
            deadline allows.
        **kwargs: passed to ``boto3.client`` (``region_name``, ``endpoint_url``, ...).
    """
    import boto3  # here, not at import: a function loads it with its first client

    observability.trace_aws_calls()  # in Lambda, X-Ray patches botocore before the first one
    single = config.merge(Config(retries={"mode": "standard", "total_max_attempts": 1}))
    client = boto3.client(service, config=single, **kwargs)
    bind(client, attempts=attempts)
    return client


def bind(client: Any, *, attempts: int) -> Any:
    """Bound an existing client's timeouts and retries by the request's deadline.

    The client must have been made with standard retries and ``total_max_attempts=1`` (as
    :func:`make` does), so that only the handler registered here retries.
    """
    retries = client.meta.config.retries or {}
    if retries.get("mode") != "standard" or retries.get("total_max_attempts") != 1:
        raise ValueError("bind() needs a client with standard retries and total_max_attempts=1")
    _bound_timeouts(client)
    # botocore's own handler (one attempt: it never retries) holds the ``needs-retry`` unique
    # id, so this call builds a standard handler and registers only its retry-quota release
    # after each call; ours asks that handler, first in line.
    handler = standard.register_retry_handler(client, max_attempts=max(1, attempts))
    name = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register_first(f"needs-retry.{name}", _DeadlineRetry(handler).needs_retry)
    return client


class _DeadlineRetry:
    """botocore's standard retry decision, refused when its backoff would outlive the deadline."""

    def __init__(self, handler: standard.RetryHandler) -> None:
        self._handler = handler

    def needs_retry(self, **kwargs: Any) -> float | bool:
        delay = self._handler.needs_retry(**kwargs)
        if delay is None:
            return False
        bound = deadline.current()
        if bound is not None and bound.backoff_window(float(delay)) < float(delay):
            operation = getattr(kwargs.get("operation"), "name", "?")
            logger.warning(
                "%s: no retry in %.2f s, the request's deadline is %.2f s away",
                operation,
                delay,
                bound.remaining(),
            )
            return False
        return float(delay)


class _DeadlineTimeout(Timeout):
    """A urllib3 timeout cut, at each request, to the current deadline: connect and read each,
    and their sum (urllib3's ``total``), so a slow connect leaves less time to read."""

    def clone(self) -> Timeout:
        # what a connection pool uses for each request (``_get_timeout``)
        bound = deadline.current()
        if bound is None:
            return Timeout(connect=self._connect, read=self._read, total=self.total)
        left = bound.call_seconds(math.inf)
        total = left if self.total is None else _cut(self.total, left)
        return Timeout(connect=_cut(self._connect, left), read=_cut(self._read, left), total=total)

    @property
    def connect_timeout(self) -> Any:
        # what a new connection is opened with, before the request's own timeout applies
        bound, value = deadline.current(), super().connect_timeout
        return value if bound is None else _cut(value, bound.call_seconds(math.inf))


def _cut(value: Any, left: float) -> Any:
    """``value`` (seconds, or urllib3's default sentinel) cut to ``left``."""
    return min(float(value), left) if isinstance(value, int | float) else value


def _bound_timeouts(client: Any) -> None:
    """Give the client's connection pools a timeout computed per request from the deadline.

    botocore exposes no per-call timeout: its HTTP session hands one urllib3 ``Timeout`` to
    every pool it creates. That object is replaced (before any pool exists) by one that
    reads the deadline; a botocore change that breaks this fails the tests that prove it.
    """
    session = client._endpoint.http_session
    old = session._timeout
    if not isinstance(old, Timeout):
        old = Timeout(connect=old, read=old)
    timeout = _DeadlineTimeout(connect=old._connect, read=old._read, total=old.total)
    session._timeout = timeout
    session._manager.connection_pool_kw["timeout"] = timeout
    session._manager.clear()
