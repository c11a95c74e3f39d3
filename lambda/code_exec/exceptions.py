"""The runtime's error hierarchy.

Routes and loops raise these; :mod:`code_exec.api.errors` turns them into JSON responses in one
place. Vendor errors (botocore ``ClientError``, event-stream exceptions) are
translated where the vendor is called and raised ``from`` the original, so
nothing from botocore leaks above the sandbox client or the model call.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "CodeExecError",
    "ConflictError",
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


class CodeExecError(Exception):
    """Base error. ``status`` is the HTTP status the API answers with."""

    status: int = 500
    code: str = "InternalError"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

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
    status, code = 429, "SandboxThrottled"


class SandboxQuotaExceededError(SandboxError):
    status, code = 429, "SandboxQuotaExceeded"


class SandboxInternalError(SandboxError):
    status, code = 502, "SandboxInternalError"


class SandboxReplyError(SandboxInternalError):
    """What came out of the sandbox failed validation (a relay reply a cell rewrote):
    attacker-controlled output, refused as a whole."""

    code = "SandboxMalformedReply"


class SandboxTimeoutError(SandboxError):
    """A cell or command ran past its time limit."""

    status, code = 504, "SandboxTimeout"


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

    status, code = 429, "ModelThrottled"


class ModelOverloadedError(ModelError):
    """Bedrock could not serve the model right now (unavailable, not ready, timed out).

    Same status and code as :class:`ModelError` on the API's own routes; ``/v1`` answers it
    as Anthropic's 529 ``overloaded_error``.
    """


class ModelValidationError(ModelError):
    """Bedrock rejected the request it was sent (``ValidationException``).

    Same status and code as :class:`ModelError` on the API's own routes; ``/v1`` answers it
    as Anthropic's 400 ``invalid_request_error``.
    """


class ModelAccessDeniedError(ModelError):
    """The caller's role may not invoke this model (or the model is not enabled)."""

    status, code = 403, "ModelAccessDenied"


class TurnTimeoutError(CodeExecError):
    """A streamed turn was still running when its stream had to end (the function's deadline,
    or the grace period after a disconnect)."""

    status, code = 504, "TurnTimeout"


class ToolError(CodeExecError):
    """A tool raised; reported back to the model (or the sandbox code) as an error result."""

    status, code = 500, "ToolError"
