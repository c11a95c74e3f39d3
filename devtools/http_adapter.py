"""HTTP requests as API Gateway REST proxy events, served by a Lambda handler in-process.

``make local`` and the tests that drive a real HTTP client (the Anthropic SDK, curl) put
this thin adapter in front of the SAME ``api_handler`` Lambda runs: each request becomes
the event API Gateway would send, and the handler's proxy response becomes the HTTP
response. It has no logic of its own.
"""

from __future__ import annotations

import base64
import sys
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["LocalContext", "make_handler", "to_event"]


def to_event(method: str, raw_path: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """An API Gateway REST proxy event (the shape the deployed API sends) for one request."""
    parts = urlsplit(raw_path)
    query = parse_qsl(parts.query, keep_blank_values=True)
    try:
        text, is_b64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, is_b64 = base64.b64encode(body).decode(), True
    return {
        "resource": parts.path,
        "path": parts.path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": dict(query) or None,
        "multiValueQueryStringParameters": {k: [v for kk, v in query if kk == k] for k, _ in query}
        or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": parts.path,
            "httpMethod": method,
            "path": parts.path,
            "stage": "local",
            "requestId": str(uuid.uuid4()),
            "accountId": "000000000000",
            "apiId": "local",
            "protocol": "HTTP/1.1",
            "identity": {"sourceIp": "127.0.0.1", "userAgent": headers.get("User-Agent", "")},
        },
        "body": text if body else None,
        "isBase64Encoded": is_b64,
    }


class LocalContext:
    """The attributes of a Lambda context that Powertools reads."""

    function_name = "code-exec-api-local"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:code-exec-api-local"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 29_000


def make_handler(api_handler: Callable[..., Any]) -> type[BaseHTTPRequestHandler]:
    """A ``BaseHTTPRequestHandler`` class that sends every request through ``api_handler``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            event = to_event(self.command, self.path, dict(self.headers.items()), body)
            result = api_handler(event, LocalContext())
            payload = result.get("body") or ""
            data = (
                base64.b64decode(payload)
                if result.get("isBase64Encoded")
                else str(payload).encode("utf-8")
            )
            self.send_response(int(result["statusCode"]))
            headers = dict(result.get("headers") or {})
            for k, values in (result.get("multiValueHeaders") or {}).items():
                headers.setdefault(k, ", ".join(values))
            for k, v in headers.items():
                if k.lower() not in ("content-length", "connection"):
                    self.send_header(k, str(v))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        def log_message(self, fmt: str, *args: Any) -> None:
            sys.stderr.write("local-api: " + fmt % args + "\n")

    return Handler
