"""Bytes on the wire of a streamed Lambda response behind API Gateway.

Two layers, both documented by AWS and mirrored by AWS's own runtime clients (Node.js
``HttpResponseStream``, Go ``events.APIGatewayProxyStreamingResponse``, Rust
``lambda_runtime``):

* **API Gateway's integration format** ("Set up a Lambda proxy integration with payload
  response streaming", API Gateway developer guide): a JSON metadata prelude
  (``statusCode``, ``headers``, ``multiValueHeaders``, ``cookies``), a delimiter of exactly
  eight NUL bytes, then the raw payload as the function writes it. API Gateway starts the
  client response once it has read valid metadata and the delimiter; the metadata must be
  within the first 16 KiB. The Runtime API request that carries it is labelled
  ``application/vnd.awslambda.http-integration-response``.
* **The Runtime API's streaming POST** ("Using the Lambda runtime API for custom
  runtimes", response streaming): ``Transfer-Encoding: chunked`` with
  ``Lambda-Runtime-Function-Response-Mode: streaming``; an error after the first byte is
  reported in HTTP trailers (``Lambda-Runtime-Function-Error-Type`` and
  ``Lambda-Runtime-Function-Error-Body``, the body base64-encoded JSON). ``http.client``
  can send chunked bodies but not trailers, so the chunk framing is written here.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence

__all__ = [
    "DELIMITER",
    "ERROR_BODY_TRAILER",
    "ERROR_TYPE_TRAILER",
    "HTTP_INTEGRATION_CONTENT_TYPE",
    "MAX_PRELUDE_BYTES",
    "PreludeError",
    "chunk",
    "error_trailers",
    "last_chunk",
    "prelude",
]

HTTP_INTEGRATION_CONTENT_TYPE = "application/vnd.awslambda.http-integration-response"
DELIMITER = b"\x00" * 8
MAX_PRELUDE_BYTES = 16 * 1024
ERROR_TYPE_TRAILER = "Lambda-Runtime-Function-Error-Type"
ERROR_BODY_TRAILER = "Lambda-Runtime-Function-Error-Body"


class PreludeError(ValueError):
    """The response metadata cannot be sent (too large, or not a valid status)."""


def prelude(
    status_code: int,
    headers: Mapping[str, str] | None = None,
    *,
    multi_value_headers: Mapping[str, Sequence[str]] | None = None,
    cookies: Sequence[str] | None = None,
) -> bytes:
    """The metadata JSON and its eight-NUL delimiter, ready to go before the payload.

    Empty parts are left out (AWS's Go type omits them too). ``json.dumps`` escapes U+0000,
    so the metadata itself can never contain the delimiter.

    Raises:
        PreludeError: ``status_code`` is not an HTTP status, or the metadata is over 16 KiB.
    """
    if not isinstance(status_code, int) or not 100 <= status_code <= 599:
        raise PreludeError(f"statusCode must be an HTTP status (100-599), got {status_code!r}")
    meta: dict[str, object] = {"statusCode": status_code}
    if headers:
        meta["headers"] = {str(k): str(v) for k, v in headers.items()}
    if multi_value_headers:
        meta["multiValueHeaders"] = {
            str(k): [str(v) for v in vs] for k, vs in multi_value_headers.items()
        }
    if cookies:
        meta["cookies"] = [str(c) for c in cookies]
    raw = json.dumps(meta, separators=(",", ":")).encode("utf-8")
    if len(raw) + len(DELIMITER) > MAX_PRELUDE_BYTES:
        raise PreludeError(
            f"response metadata is {len(raw)} bytes; API Gateway reads at most "
            f"{MAX_PRELUDE_BYTES} bytes of it"
        )
    return raw + DELIMITER


def chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk (an empty ``data`` would end the body, so it is refused)."""
    if not data:
        raise ValueError("an empty chunk ends a chunked body; use last_chunk()")
    return b"%x\r\n%s\r\n" % (len(data), data)


def last_chunk(trailers: Mapping[str, str] | None = None) -> bytes:
    """The zero-length chunk that ends the body, with trailer fields when given."""
    lines = b"".join(
        f"{name}: {value}\r\n".encode("latin-1") for name, value in (trailers or {}).items()
    )
    return b"0\r\n" + lines + b"\r\n"


def error_trailers(error_type: str, message: str) -> dict[str, str]:
    """The trailers that tell Lambda the stream failed after its first byte."""
    body = json.dumps({"errorType": error_type, "errorMessage": message, "stackTrace": []})
    return {
        ERROR_TYPE_TRAILER: error_type,
        ERROR_BODY_TRAILER: base64.b64encode(body.encode("utf-8")).decode("ascii"),
    }
