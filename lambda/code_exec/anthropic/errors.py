"""Anthropic's error envelope: our error hierarchy -> HTTP status and Anthropic ``error.type``.

Every ``/v1/*`` error answers ``{"type": "error", "error": {"type", "message"}, "request_id"}``
with a ``request-id`` header, and the status the Anthropic SDK maps to its exception classes
(400 ``BadRequestError`` ... 529 ``OverloadedError``). Routes and the turn raise
:mod:`code_exec.exceptions`; this module is the one place they become Anthropic errors.

How Bedrock and the sandbox map (our choice; Anthropic documents only its own causes):

| raised                                     | status | ``error.type``          |
|--------------------------------------------|--------|-------------------------|
| bad input, Bedrock ``ValidationException``  | 400    | ``invalid_request_error`` |
| missing or unknown API key                  | 401    | ``authentication_error`` |
| Bedrock ``AccessDeniedException``           | 403    | ``permission_error``     |
| unknown model, container, file             | 404    | ``not_found_error``      |
| container busy with another request        | 409    | ``invalid_request_error`` |
| body over the limit                        | 413    | ``request_too_large``    |
| Bedrock, sandbox or AWS throttling         | 429    | ``rate_limit_error`` (+ ``retry-after``) |
| Bedrock unavailable / model not ready      | 529    | ``overloaded_error`` (+ ``retry-after``) |
| a dependency down, or the deadline first    | 529    | ``overloaded_error`` (+ ``retry-after``) |
| a sandbox operation timed out             | 504    | ``timeout_error``        |
| a turn still running at the deadline       | 504    | ``timeout_error`` (an ``error`` event) |
| anything else                              | 500    | ``api_error``            |

A dependency down after retries (5xx, connection reset, the sandbox's internal error), or the
request's deadline reached before it answered, is ``overloaded_error``
rather than ``api_error``: Anthropic documents 529 as "temporarily overloaded", the SDK
raises ``OverloadedError`` and retries it after ``retry-after``, which is what such a caller
should do; ``api_error`` means a defect. ``retry-after`` is sent whenever the error carries
``retry_after`` (:class:`~code_exec.exceptions.CodeExecError`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from code_exec.exceptions import RETRY_AFTER_SECONDS as _RETRY_AFTER
from code_exec.exceptions import (
    AuthenticationError,
    CodeExecError,
    ConflictError,
    DependencyThrottledError,
    DependencyUnavailableError,
    ModelAccessDeniedError,
    ModelOverloadedError,
    ModelThrottledError,
    ModelValidationError,
    NotFoundError,
    PayloadTooLargeError,
    RequestValidationError,
    SandboxConflictError,
    SandboxInternalError,
    SandboxQuotaExceededError,
    SandboxThrottledError,
    SandboxTimeoutError,
    SandboxValidationError,
    TurnTimeoutError,
)

__all__ = [
    "RETRY_AFTER_SECONDS",
    "AnthropicError",
    "DetailedRequestError",
    "FileNotDownloadableError",
    "ThreadUnsupportedError",
    "anthropic_error",
    "error_payload",
]

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = _RETRY_AFTER  # what a throttled caller is told to wait (the SDK honours it)


class DetailedRequestError(RequestValidationError):
    """A 400 whose cause the SDK reads from ``error.details.error_code`` (and maps to its own
    exception class)."""

    code = "invalid_request"

    def details(self) -> dict[str, Any]:
        return {"error_code": self.code}


class FileNotDownloadableError(DetailedRequestError):
    """Only files made by code can be downloaded."""

    code = "file_not_downloadable"


class ThreadUnsupportedError(DetailedRequestError):
    """Server-held threads are not kept here: the SDK (its tool runner included) then resends
    the whole conversation without ``thread``."""

    code = "thread_unsupported_request"


@dataclass(frozen=True)
class AnthropicError:
    """An error as Anthropic's API sends it."""

    status: int
    type: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] | None = None


# Most specific first: the first class the error is an instance of decides.
_TABLE: tuple[tuple[type[CodeExecError], int, str], ...] = (
    (PayloadTooLargeError, 413, "request_too_large"),
    (AuthenticationError, 401, "authentication_error"),
    (ModelAccessDeniedError, 403, "permission_error"),
    (ModelThrottledError, 429, "rate_limit_error"),
    (SandboxThrottledError, 429, "rate_limit_error"),
    (SandboxQuotaExceededError, 429, "rate_limit_error"),
    (DependencyThrottledError, 429, "rate_limit_error"),
    (ModelOverloadedError, 529, "overloaded_error"),
    (DependencyUnavailableError, 529, "overloaded_error"),
    (SandboxInternalError, 529, "overloaded_error"),
    (ModelValidationError, 400, "invalid_request_error"),
    (SandboxValidationError, 400, "invalid_request_error"),
    (SandboxTimeoutError, 504, "timeout_error"),
    (TurnTimeoutError, 504, "timeout_error"),
    (SandboxConflictError, 409, "invalid_request_error"),
    (ConflictError, 409, "invalid_request_error"),
    (NotFoundError, 404, "not_found_error"),
    (RequestValidationError, 400, "invalid_request_error"),
)


def anthropic_error(error: CodeExecError) -> AnthropicError:
    """The Anthropic status, type and headers for one of our errors."""
    for cls, status, kind in _TABLE:
        if isinstance(error, cls):
            retry_after = error.retry_after
            if retry_after is None and status in (429, 529):
                retry_after = RETRY_AFTER_SECONDS
            headers = {} if retry_after is None else {"retry-after": str(retry_after)}
            message = error.message
            field = error.field if isinstance(error, RequestValidationError) else None
            if field and field not in message:
                message = f"{field}: {message}"
            details = error.details() if isinstance(error, DetailedRequestError) else None
            return AnthropicError(status, kind, message, headers, details)
    if error.status >= 500:
        logger.error("request failed: %s %s", error.code, error.message)
    headers = {} if error.retry_after is None else {"retry-after": str(error.retry_after)}
    return AnthropicError(500, "api_error", error.message, headers)


def error_payload(error: AnthropicError, request_id: str) -> str:
    """The JSON body of an error response (also the ``data`` of an SSE ``error`` event)."""
    inner: dict[str, Any] = {"type": error.type, "message": error.message}
    if error.details:
        inner["details"] = error.details
    return json.dumps({"type": "error", "error": inner, "request_id": request_id})
