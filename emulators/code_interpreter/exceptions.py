"""Errors named after the AWS error codes of the ``bedrock-agentcore`` service model.

They are serialized in one place: :meth:`EmulatorError.http_response` for plain
REST-JSON errors and ``eventstream.exception_frame`` for exception events inside
``InvokeCodeInterpreter``'s stream.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

__all__ = [
    "AccessDeniedException",
    "ConflictException",
    "EmulatorError",
    "InternalServerException",
    "NotImplementedException",
    "ResourceNotFoundException",
    "ServiceQuotaExceededException",
    "ServiceUnavailableException",
    "ThrottlingException",
    "UnknownOperationException",
    "ValidationException",
    "error_class",
]


class EmulatorError(Exception):
    """Base: ``code`` is the AWS error code, ``status`` its HTTP status (from the model)."""

    code: ClassVar[str] = "InternalServerException"
    status: ClassVar[int] = 500
    event_name: ClassVar[str | None] = None  # member name in CodeInterpreterStreamOutput

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, Any]:
        """The JSON body of the error (``message`` plus shape-specific members)."""
        return {"message": self.message}

    def http_response(self) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body of a REST-JSON error response."""
        payload = json.dumps(self.body()).encode()
        headers = {
            "Content-Type": "application/json",
            "x-amzn-ErrorType": self.code,
        }
        return self.status, headers, payload


class AccessDeniedException(EmulatorError):
    code, status, event_name = "AccessDeniedException", 403, "accessDeniedException"


class ConflictException(EmulatorError):
    code, status, event_name = "ConflictException", 409, "conflictException"


class InternalServerException(EmulatorError):
    code, status, event_name = "InternalServerException", 500, "internalServerException"


class ResourceNotFoundException(EmulatorError):
    code, status, event_name = "ResourceNotFoundException", 404, "resourceNotFoundException"


class ServiceQuotaExceededException(EmulatorError):
    code, status = "ServiceQuotaExceededException", 402
    event_name = "serviceQuotaExceededException"


class ServiceUnavailableException(EmulatorError):
    """A REST-JSON-only error (``InvokeWebSearch`` declares it; no stream event)."""

    code, status = "ServiceUnavailableException", 503


class ThrottlingException(EmulatorError):
    code, status, event_name = "ThrottlingException", 429, "throttlingException"


class ValidationException(EmulatorError):
    code, status, event_name = "ValidationException", 400, "validationException"

    def __init__(
        self, message: str, *, reason: str = "FieldValidationFailed", field: str | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.field = field

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "reason": self.reason}
        if self.field:
            body["fieldList"] = [{"name": self.field, "message": self.message}]
        return body


class UnknownOperationException(EmulatorError):
    """No operation of the service matches the request."""

    code, status = "UnknownOperationException", 404


class NotImplementedException(EmulatorError):
    """A real ``bedrock-agentcore`` operation this emulator does not implement."""

    code, status = "NotImplementedException", 501


_STREAM_ERRORS: tuple[type[EmulatorError], ...] = (
    AccessDeniedException,
    ConflictException,
    InternalServerException,
    ResourceNotFoundException,
    ServiceQuotaExceededException,
    ThrottlingException,
    ValidationException,
)


def error_class(name: str) -> type[EmulatorError]:
    """By AWS code or stream event name (``throttlingException``)."""
    for cls in (*_STREAM_ERRORS, ServiceUnavailableException):
        if name in (cls.code, cls.event_name):
            return cls
    raise KeyError(name)
