"""The runtime's error hierarchy.

Routes and loops raise these; :mod:`code_exec.api.errors` turns them into JSON responses in one
place. Vendor errors (botocore ``ClientError``, event-stream exceptions) are
translated where the vendor is called and raised ``from`` the original, so
nothing from botocore leaks above the sandbox client or the model call.

The failure contract (``docs/architecture.md``, "Failure contract"): a dependency that
throttles past the request's retries answers 429, one that failed transiently (5xx,
connection reset, read timeout) or did not answer before the request's deadline answers 503,
both with ``retry_after`` (rendered as ``Retry-After``); an AccessDenied answers 502 (a
configuration error, nothing to retry).
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "CodeExecError",
    "ConflictError",
    "DeadlineExceededError",
    "DependencyAccessDeniedError",
    "DependencyThrottledError",
    "DependencyUnavailableError",
    "ModelAccessDeniedError",
    "ModelError",
    "ModelNotAllowedError",
    "ModelOverloadedError",
    "ModelThrottledError",
    "ModelValidationError",
    "NotFoundError",
    "PayloadTooLargeError",
    "RequestValidationError",
    "SandboxAccessDeniedError",
    "SandboxConflictError",
    "SandboxError",
    "SandboxInternalError",
    "SandboxQuotaExceededError",
    "SandboxReplyError",
    "SandboxResourceNotFoundError",
    "SandboxThrottledError",
    "SandboxTimeoutError",
    "SandboxValidationError",
    "SessionExpiredError",
    "SessionNotFoundError",
    "ToolError",
    "TurnTimeoutError",
]


# What a throttled or briefly unavailable caller is told to wait, in seconds (``Retry-After``;
# the Anthropic SDK and most HTTP clients honour it).
RETRY_AFTER_SECONDS = 5


class CodeExecError(Exception):
    """Base error. ``status`` is the HTTP status the API answers with.

    ``retry_after`` (seconds, None: not retryable as is) is sent as ``Retry-After``: the
    class gives a default, an instance may say more precisely when to come back.
    """

    status: int = 500
    code: str = "InternalError"
    retry_after: int | None = None

    def __init__(
        self, message: str, *, field: str | None = None, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if retry_after is not None:
            self.retry_after = max(1, int(retry_after))

    def to_dict(self) -> dict[str, object]:
        """The JSON error body: a stable code, a message, and the offending field."""
        body: dict[str, object] = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body


class RequestValidationError(CodeExecError):
    status, code = 400, "ValidationError"


class ModelNotAllowedError(RequestValidationError):
    code = "ModelNotAllowed"


class AuthenticationError(CodeExecError):
    """The caller's credentials are missing or not valid."""

    status, code = 401, "Unauthorized"


class NotFoundError(CodeExecError):
    status, code = 404, "NotFound"


class ConflictError(CodeExecError):
    status, code = 409, "Conflict"


class PayloadTooLargeError(CodeExecError):
    status, code = 413, "PayloadTooLarge"


# --- any dependency (AWS services) ------------------------------------------------------


class DependencyThrottledError(CodeExecError):
    """A dependency (DynamoDB, S3, Step Functions, ...) still throttled once the retries the
    request's deadline allowed were spent."""

    status, code, retry_after = 429, "Throttled", RETRY_AFTER_SECONDS


class DependencyUnavailableError(CodeExecError):
    """A dependency failed transiently (5xx, connection reset, read timeout) after retries."""

    status, code, retry_after = 503, "DependencyUnavailable", RETRY_AFTER_SECONDS


class DeadlineExceededError(DependencyUnavailableError):
    """The request's deadline came before a dependency answered (:mod:`code_exec.deadline`):
    answered before API Gateway's limit instead of the gateway's own 504."""

    code = "DeadlineExceeded"


class DependencyAccessDeniedError(CodeExecError):
    """A dependency refused the function's role: a deployment error, not worth retrying."""

    status, code = 502, "DependencyAccessDenied"


# --- sandbox (code interpreter data plane) -------------------------------------------


class SandboxError(CodeExecError):
    """The code interpreter refused or failed a request."""

    status, code = 502, "SandboxError"


class SandboxAccessDeniedError(SandboxError):
    status, code = 502, "SandboxAccessDenied"


class SandboxConflictError(SandboxError):
    """The session is busy with another invocation."""

    status, code = 409, "SandboxConflict"


class SandboxValidationError(SandboxError):
    status, code = 400, "SandboxValidation"


class SandboxThrottledError(SandboxError):
    status, code, retry_after = 429, "SandboxThrottled", RETRY_AFTER_SECONDS


class SandboxQuotaExceededError(SandboxError):
    status, code, retry_after = 429, "SandboxQuotaExceeded", RETRY_AFTER_SECONDS


class SandboxInternalError(SandboxError):
    """The code interpreter failed transiently (internal error, no connection) after retries."""

    status, code, retry_after = 503, "SandboxInternalError", RETRY_AFTER_SECONDS


class SandboxReplyError(SandboxInternalError):
    """What came out of the sandbox failed validation (a relay reply a cell rewrote):
    attacker-controlled output, refused as a whole."""

    code = "SandboxMalformedReply"


class SandboxTimeoutError(SandboxError):
    """The sandbox did not answer in time (a read timeout, a runner that never started).

    503 with ``Retry-After`` on the API's own routes (never a 504, which clients read as
    API Gateway's); ``/v1`` answers Anthropic's 504 ``timeout_error``.
    """

    status, code, retry_after = 503, "SandboxTimeout", RETRY_AFTER_SECONDS


class SandboxResourceNotFoundError(SandboxError):
    """A file or task inside a live session does not exist."""

    status, code = 404, "SandboxResourceNotFound"


class SessionNotFoundError(SandboxError):
    """The sandbox session (or the stored session) does not exist."""

    status, code = 404, "SessionNotFound"


class SessionExpiredError(SessionNotFoundError):
    """The session existed but has timed out or was stopped."""

    status, code = 410, "SessionExpired"


# --- model and tools --------------------------------------------------------------------


class ModelError(CodeExecError):
    """The model call failed in a way that ends the turn."""

    status, code = 502, "ModelError"


class ModelThrottledError(ModelError):
    """Bedrock throttled the model call (after the client's own retries)."""

    status, code, retry_after = 429, "ModelThrottled", RETRY_AFTER_SECONDS


class ModelOverloadedError(ModelError):
    """Bedrock could not serve the model right now (unavailable, not ready, timed out).

    503 with ``Retry-After`` on the API's own routes (code ``ModelError``, so a job keeps
    its named session as for any model failure); ``/v1`` answers it as Anthropic's 529
    ``overloaded_error``.
    """

    status, retry_after = 503, RETRY_AFTER_SECONDS


class ModelValidationError(ModelError):
    """Bedrock rejected the request it was sent (``ValidationException``).

    Same status and code as :class:`ModelError` on the API's own routes; ``/v1`` answers it
    as Anthropic's 400 ``invalid_request_error``.
    """


class ModelAccessDeniedError(ModelError):
    """The deployment's role may not invoke this model (or the model is not enabled).

    A configuration error of the deployment, not of the caller: 502 without ``Retry-After``
    on the API's own routes, as for any dependency's AccessDenied; ``/v1`` answers it as
    Anthropic's 403 ``permission_error``.
    """

    status, code = 502, "ModelAccessDenied"


class TurnTimeoutError(CodeExecError):
    """A streamed turn was still running when its stream had to end (the function's deadline,
    or the grace period after a disconnect)."""

    status, code = 504, "TurnTimeout"


class ToolError(CodeExecError):
    """A tool raised; reported back to the model (or the sandbox code) as an error result."""

    status, code = 500, "ToolError"
