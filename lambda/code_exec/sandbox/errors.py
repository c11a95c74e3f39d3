"""Vendor errors of the code interpreter data plane -> :mod:`code_exec.exceptions`.

botocore reports a refused request as ``ClientError`` (HTTP error status), an exception
event inside the response stream as ``EventStreamError`` (a ``ClientError``) or as a plain
event, and a transport failure as ``BotoCoreError``. :class:`SandboxClient` calls the
helpers here where the vendor is called, and raises the typed error ``from`` the original.

Each failed attempt is wrapped in :class:`Attempt` with whether retrying it is safe:
throttling always (the request was refused), a connection that never opened always, and
internal failures only for idempotent tools. A cell or command is never re-run once it
may have executed. No retry outlives the request: :func:`retrying` never sleeps past the
request's deadline (:mod:`code_exec.deadline`), and when no retry fits before it the last
failure is raised at once (throttled: 429, anything else: its own status), with
``Retry-After``.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from code_exec import deadline
from code_exec.exceptions import (
    SandboxAccessDeniedError,
    SandboxConflictError,
    SandboxError,
    SandboxInternalError,
    SandboxQuotaExceededError,
    SandboxResourceNotFoundError,
    SandboxThrottledError,
    SandboxTimeoutError,
    SandboxValidationError,
    SessionExpiredError,
    SessionNotFoundError,
)

__all__ = [
    "IDEMPOTENT_TOOLS",
    "THROTTLED_ATTEMPTS",
    "Attempt",
    "client_error_parts",
    "error_key",
    "is_retry_safe",
    "is_unsent",
    "retrying",
    "service_error",
    "tool_error",
    "transport_error",
]

# Attempts at a throttled request in the deployment's clients (``Services``), against 5 for
# other retry-safe failures: the account-wide InvokeCodeInterpreter rate (30 requests a
# second by default) is shared by every session of the deployment, and 20 busy sessions
# reach it; backing off longer slows requests down where 5 attempts failed some (make load).
THROTTLED_ATTEMPTS = 10
# Tools whose request can be repeated with the same effect (reads, listings, same writes).
IDEMPOTENT_TOOLS = frozenset({"readFiles", "listFiles", "getTask", "writeFiles", "stopTask"})

_ERRORS: dict[str, type[SandboxError]] = {
    "accessDenied": SandboxAccessDeniedError,
    "conflict": SandboxConflictError,
    "internalServer": SandboxInternalError,
    "resourceNotFound": SessionNotFoundError,
    "serviceQuotaExceeded": SandboxQuotaExceededError,
    "throttling": SandboxThrottledError,
    "tooManyRequests": SandboxThrottledError,
    "validation": SandboxValidationError,
}
_NOT_FOUND_MARKERS = ("not found", "no such", "does not exist", "enoent")

logger = logging.getLogger(__name__)
T = TypeVar("T")


class Attempt(Exception):
    """One failed attempt, with whether retrying it is safe (internal to the client)."""

    def __init__(self, error: SandboxError, retry_safe: bool) -> None:
        super().__init__(str(error))
        self.error, self.retry_safe = error, retry_safe


def error_key(code: str) -> str:
    """``ThrottlingException`` / ``throttlingException`` -> ``throttling``."""
    code = code.removesuffix("Exception")
    return code[:1].lower() + code[1:]


def client_error_parts(e: Any) -> tuple[str, str]:
    """The error code and message of a botocore ``ClientError``."""
    error = e.response.get("Error", {})
    return str(error.get("Code", "")), str(error.get("Message", ""))


def is_retry_safe(code: str, idempotent: bool) -> bool:
    """Retry only what cannot have run: throttling, or transient errors on idempotent ops."""
    key = error_key(code)
    if key in ("throttling", "tooManyRequests"):
        return True
    return idempotent and key in ("internalServer", "serviceUnavailable")


def service_error(
    code: str, message: str, session_id: str | None, *, known_session: bool
) -> SandboxError:
    """The typed error for a service error code (``resourceNotFound`` names the session).

    ``known_session``: the session was seen alive through this client, so a
    ``resourceNotFound`` means it has expired or was stopped.
    """
    key = error_key(code)
    cls = _ERRORS.get(key, SandboxError)
    message = message or key or "sandbox error"
    if cls is SessionNotFoundError and session_id:
        if known_session:
            return SessionExpiredError(
                f"sandbox session {session_id} has expired or was stopped ({message}); "
                "start a new session"
            )
        return SessionNotFoundError(f"sandbox session {session_id} not found ({message})")
    return cls(message)


def is_unsent(e: BotoCoreError) -> bool:
    """True when the request certainly never reached the service (connect failure)."""
    return isinstance(e, (EndpointConnectionError, ConnectTimeoutError))


def transport_error(e: BotoCoreError, what: str) -> SandboxError:
    """The typed error for a transport failure (no response, no connection, ...)."""
    if isinstance(e, ReadTimeoutError):
        bound = deadline.current()
        if bound is not None and bound.expired:
            return SandboxTimeoutError(
                f"{what}: no response from the sandbox before the request's deadline"
            )
        return SandboxTimeoutError(f"{what}: no response from the sandbox before the timeout")
    if isinstance(e, BotoConnectionError):
        return SandboxInternalError(f"{what}: cannot reach the code interpreter endpoint")
    return SandboxInternalError(f"{what}: transport error ({type(e).__name__})")


def tool_error(tool: str, text: str) -> SandboxError:
    """The typed error for a tool result with ``isError`` (a file tool that failed)."""
    lowered = text.lower()
    if any(m in lowered for m in _NOT_FOUND_MARKERS):
        return SandboxResourceNotFoundError(f"{tool}: {text.strip()}")
    return SandboxError(f"{tool} failed: {text.strip()}")


def retrying(
    once: Callable[[], T],
    attempts: int,
    base: float,
    cap: float,
    throttled_attempts: int | None = None,
    *,
    what: str,
) -> T:
    """Call ``once`` until it succeeds, retrying the :class:`Attempt` failures marked safe.

    Exponential backoff with full jitter (``base * 2**attempt`` seconds, at most ``cap``);
    the last failure, or one not safe to retry, is raised as its typed error. A throttled
    attempt may go on to ``throttled_attempts`` attempts in all (default ``attempts``): the
    service refused it over a rate the whole account shares, which clears as its callers
    back off; a deployment's sessions at that rate would otherwise fail requests instead of
    slowing down.

    The request's deadline (:func:`code_exec.deadline.current`) bounds it all: a backoff is
    drawn only from the time that leaves ``deadline.MIN_ATTEMPT_SECONDS`` for the next attempt,
    and when even that is gone the failure is raised now (it carries ``retry_after``).
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return once()
        except Attempt as a:
            throttled = isinstance(a.error, SandboxThrottledError)
            limit = (throttled_attempts or attempts) if throttled else attempts
            if not a.retry_safe or attempt >= limit:
                raise a.error from (a.__cause__ or None)
            window = min(cap, base * 2**attempt)
            bound = deadline.current()
            if bound is not None:
                window = bound.backoff_window(window)
                if window <= 0:
                    logger.warning(
                        "%s failed (%s: %s); no retry fits before the request's deadline",
                        what,
                        a.error.code,
                        a.error.message,
                    )
                    raise a.error from (a.__cause__ or None)
            delay = random.uniform(0, window)
            logger.warning(
                "%s failed (%s: %s); retry %s/%s in %.2f s",
                what,
                a.error.code,
                a.error.message,
                attempt,
                limit - 1,
                delay,
            )
            time.sleep(delay)
