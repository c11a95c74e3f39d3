"""Every error -> ``{"error": {"code", "message", "field"}}`` (Anthropic's envelope on
``/v1/*``), in one place.

``to_api_error`` turns what a request can raise — our :mod:`code_exec.exceptions`,
Powertools' request validation, unknown routes, anything unexpected — into one of our
errors; ``error_response`` renders it, in the wire format of the route that failed: ours, or
on ``/v1/*`` Anthropic's (:mod:`code_exec.anthropic.errors`). Bad input is a 4xx naming the
offending field (dotted path, e.g. ``files.0.name``); pydantic's own texts, types and URLs are
never echoed. An error with ``retry_after`` (throttled 429, unavailable or deadline 503) is sent
with a ``Retry-After`` header, on every route; a botocore error that escaped its call site is
classified by :func:`code_exec.dependency_errors.dependency_error`.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler import exceptions as pt_errors
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    ResponseValidationError,
)
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestValidationError as PowertoolsValidationError,
)
from pydantic import BaseModel

from code_exec.anthropic.errors import anthropic_error, error_payload
from code_exec.anthropic.ids import request_id
from code_exec.dependency_errors import dependency_error
from code_exec.exceptions import CodeExecError, NotFoundError, RequestValidationError

__all__ = [
    "ErrorBody",
    "ErrorResponse",
    "UnsupportedMediaTypeError",
    "error_parts",
    "error_response",
    "to_api_error",
    "validation_error",
]

logger = logging.getLogger(__name__)


class UnsupportedMediaTypeError(CodeExecError):
    status, code = 415, "UnsupportedMediaType"


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


_TYPE_WORDS = {
    "string": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "a boolean",
    "list": "a list",
    "dict": "an object",
    "model": "an object",
    "model_attributes": "an object",
}


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "path", "query", "header"):
        parts = parts[1:] if len(parts) > 1 else parts
    return ".".join(parts)


def _describe(err: dict[str, Any]) -> tuple[str, str]:
    """(field, message) for one Powertools/pydantic validation error, in our own words."""
    loc = tuple(err.get("loc") or ("body",))
    kind = str(err.get("type", ""))
    field = _field(loc)
    if kind == "json_invalid":
        return "body", "request body is not valid JSON"
    if kind == "missing":
        if field == "body":
            return field, "request body is required (a JSON object)"
        return field, f"{field} is required"
    if kind == "extra_forbidden":
        return field, f"{field} is not a known field"
    for suffix in ("_type", "_parsing"):
        if kind.endswith(suffix) and kind.removesuffix(suffix) in _TYPE_WORDS:
            what = _TYPE_WORDS[kind.removesuffix(suffix)]
            if field == "body":
                return field, f"request body must be {what} (a JSON object)"
            return field, f"{field} must be {what}"
    msg = str(err.get("msg") or "invalid value")  # pydantic's sentence, without type/url/input
    return field, f"{field}: {msg}"


def _is_response_error(exc: Exception) -> bool:
    if isinstance(exc, ResponseValidationError):
        return True
    errors = exc.errors() if isinstance(exc, PowertoolsValidationError) else []
    return any((e.get("loc") or ("",))[0] == "response" for e in errors)


def validation_error(errors: list[dict[str, Any]]) -> RequestValidationError:
    """Pydantic-style validation errors as one 400 naming the first offending field."""
    described = [_describe(e) for e in errors] or [("body", "invalid request")]
    field, message = described[0]
    if len(described) > 1:
        message += f" (and {len(described) - 1} more problem(s))"
    return RequestValidationError(message, field=field)


def to_api_error(exc: Exception) -> CodeExecError:
    if isinstance(exc, CodeExecError):
        return exc
    if _is_response_error(exc):
        logger.error("response failed validation: %s", exc)
        return CodeExecError("internal error: the response did not match its schema")
    if isinstance(exc, PowertoolsValidationError):
        return validation_error(list(exc.errors()))
    if isinstance(exc, RequestUnsupportedContentType):
        return UnsupportedMediaTypeError("send a JSON body (Content-Type: application/json)")
    if isinstance(exc, pt_errors.NotFoundError):
        return NotFoundError("no such route")
    if isinstance(exc, pt_errors.ServiceError):
        error = CodeExecError(str(exc.msg))
        error.status, error.code = exc.status_code, "HttpError"
        return error
    dependency = dependency_error(exc)
    if dependency is not None:
        return dependency
    logger.exception("unhandled error")
    return CodeExecError("internal error; see the function's logs for the request id")


ANTHROPIC_PREFIX = "/v1/"


def error_parts(exc: Exception, raw_event: Any = None) -> tuple[int, str, dict[str, str]]:
    """Status, JSON body and headers of the error response for ``exc``, in the wire format of
    the request's route (``raw_event``: the proxy event, when known)."""
    error = to_api_error(exc)
    if error.status >= 500:
        logger.error("request failed: %s %s", error.code, error.message)
    raw = raw_event or {}
    if str(raw.get("path") or "").startswith(ANTHROPIC_PREFIX):
        rid = request_id((raw.get("requestContext") or {}).get("requestId"))
        anthropic = anthropic_error(error)
        headers = {"request-id": rid, **anthropic.headers}
        return anthropic.status, error_payload(anthropic, rid), headers
    headers = {} if error.retry_after is None else {"Retry-After": str(error.retry_after)}
    return error.status, json.dumps({"error": error.to_dict()}), headers


def error_response(exc: Exception, event: Any = None) -> Response:
    """The error response for ``exc``, in the wire format of the request's route."""
    status, body, headers = error_parts(exc, getattr(event, "raw_event", None))
    return Response(status_code=status, content_type="application/json", body=body, headers=headers)
