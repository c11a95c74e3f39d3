"""The REST resolver: Powertools' resolver with a body-size limit and JSON-only bodies.

Bodies are JSON whatever ``Content-Type`` says (``curl -d`` sends form-encoded); a body
over :data:`MAX_BODY_BYTES` answers 413 before anything parses it, and a body that cannot
be read as text at all answers 400 instead of reaching Powertools' decoder.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from code_exec.exceptions import PayloadTooLargeError, RequestValidationError

__all__ = ["MAX_BODY_BYTES", "JsonBodyResolver", "check_body", "json_body"]

# Lambda's synchronous invocation payload limit is 6 MB for the whole event (headers,
# context, base64 framing); 5 MiB of body keeps the check reachable and meaningful.
MAX_BODY_BYTES = 5 * 1024 * 1024


def _body_size(event: dict[str, Any]) -> int:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return len(body) * 3 // 4
    return len(body.encode("utf-8")) if isinstance(body, str) else len(body)


def _declared_size(headers: dict[str, Any]) -> int:
    for k, v in headers.items():
        if k.lower() == "content-length":
            try:
                return int(v)
            except (TypeError, ValueError):
                return 0
    return 0


_SKILL_VERSIONS = re.compile(r"^/v1/skills/[^/]+/versions$")


class JsonBodyResolver(APIGatewayRestResolver):
    """Adds the body-size limit and JSON-only bodies in front of Powertools' validation."""

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        headers = dict(event.get("headers") or {})
        if event.get("body") and not _raw_body_route(event):
            ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
            if not str(ctype).lower().startswith("application/json"):
                headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
                headers["content-type"] = "application/json"
                mv = {
                    k: v
                    for k, v in (event.get("multiValueHeaders") or {}).items()
                    if k.lower() != "content-type"
                }
                event = {**event, "headers": headers, "multiValueHeaders": mv}
        return super().resolve(event, context)

    def _call_route(self, route: Any, route_arguments: dict[str, str]) -> Any:
        try:
            check_body(self.current_event.raw_event)
        except (PayloadTooLargeError, RequestValidationError) as error:
            return self._call_exception_handler(error, route)
        return super()._call_route(route, route_arguments)


def check_body(event: Mapping[str, Any]) -> None:
    """Refuse a body over the size limit, or one that cannot be read as JSON text at all.

    Routes that read their own body (:func:`_raw_body_route`) are only size-checked.

    Raises:
        PayloadTooLargeError: over :data:`MAX_BODY_BYTES` (by its size or its
            ``Content-Length``), naming ``body``.
        RequestValidationError: not readable as text, or nested too deeply, naming ``body``.
    """
    if _raw_body_route(event):
        _check_size(event)
        return
    # ordinary syntax errors are left to Powertools' validation (400 naming the body)
    with contextlib.suppress(json.JSONDecodeError):
        json_body(event)


def json_body(event: Mapping[str, Any]) -> Any:
    """The body of ``event`` parsed as JSON (None when it has none), after the size check.

    One parse for routes that read their body themselves (the streamed ones), where
    :func:`check_body` and the route each parsed it before: a long conversation is megabytes.

    Raises:
        PayloadTooLargeError: as :func:`check_body`.
        RequestValidationError: not readable as text, or nested too deeply, naming ``body``.
        json.JSONDecodeError: text that is not JSON.
    """
    _check_size(event)
    body = event.get("body")
    if not body or not isinstance(body, str):
        return None
    # Powertools' own decoding raises plain binascii.Error or UnicodeDecodeError on these,
    # and a RecursionError on deep nesting: each would answer 500, so each is named here
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, ValueError) as e:  # UnicodeDecodeError is a ValueError
            raise RequestValidationError(
                "request body is flagged base64-encoded but is not base64 of UTF-8 text",
                field="body",
            ) from e
    try:
        return json.loads(body)
    except RecursionError:
        raise RequestValidationError("request body is nested too deeply", field="body") from None


def _check_size(event: Mapping[str, Any]) -> None:
    size = max(_body_size(dict(event)), _declared_size(dict(event.get("headers") or {})))
    if size > MAX_BODY_BYTES:
        raise PayloadTooLargeError(
            f"request body is {size} bytes; the limit is {MAX_BODY_BYTES} bytes "
            "(upload large inputs to the files bucket and pass files[].s3_key)",
            field="body",
        )


def _raw_body_route(event: Mapping[str, Any]) -> bool:
    """Routes that read their own body (file and skill uploads are ``multipart/form-data``)."""
    path = str(event.get("path") or "").rstrip("/")
    return path in ("/v1/files", "/v1/skills") or bool(_SKILL_VERSIONS.match(path))
