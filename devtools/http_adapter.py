"""HTTP requests as API Gateway REST proxy events, served by a Lambda handler in-process.

``make local`` and the tests that drive a real HTTP client (the Anthropic SDK, curl) put
this thin adapter in front of the SAME ``api_handler`` Lambda runs: each request becomes
the event API Gateway would send, and the handler's proxy response becomes the HTTP
response. It has no logic of its own beyond what API Gateway does in front of the function:
on ``/v1/*`` it first calls the Lambda REQUEST authorizer (the same handler the stack deploys)
and either answers as API Gateway's ``UNAUTHORIZED`` / ``ACCESS_DENIED`` gateway responses do
(:data:`GATEWAY_ERRORS`, the bodies ``stacks/api.py`` configures; a test keeps them equal;
API Gateway adds only its own ``x-amzn-RequestId`` header to those) or passes the authorizer's
context on in ``requestContext.authorizer``.

Streamed routes go where API Gateway sends them: to the streaming function (after the
authorizer, as on API Gateway). The event is handed to a Runtime API double
(:mod:`devtools.runtime_api`) that the streaming runtime polls, and what the runtime streams
back is relayed as it arrives (chunked, flushed per chunk), the metadata prelude giving the
status and headers. A function error before the first byte answers 502 like API Gateway; a
stream that fails later is cut without its last chunk. A client that goes away cancels the
invocation.

``local_routes`` are the local server's own endpoints (``/_local/...``: e.g. running the
sweeper on demand); they never exist behind API Gateway and never reach the handler.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import sys
import threading
import uuid
from collections.abc import Callable, Collection, Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from code_exec.streaming.framing import chunk
from code_exec.streaming.runtime_api import watch_peer_close

__all__ = [
    "GATEWAY_ERRORS",
    "LOCAL_PREFIX",
    "LocalContext",
    "LocalRoute",
    "StreamTarget",
    "authorizer_event",
    "make_handler",
    "to_event",
]

AUTHORIZED_PREFIX = "/v1/"
# API Gateway's gateway responses as the stack configures them: status, Anthropic error type,
# and message (the body is both Anthropic's envelope and the API's own error shape).
GATEWAY_ERRORS = {
    "UNAUTHORIZED": (401, "authentication_error", "invalid x-api-key", "Unauthorized"),
    "ACCESS_DENIED": (403, "permission_error", "access denied", "AccessDenied"),
}
# What API Gateway answers when a streamed function fails before its first byte.
_INTEGRATION_ERROR = b'{"message": "Internal server error"}'
LOCAL_PREFIX = "/_local/"  # the local server's own endpoints; no API route starts so
# A local endpoint: the request's query parameters in, (status, JSON body) out.
LocalRoute = Callable[[dict[str, str]], tuple[int, Any]]


def gateway_error(kind: str, request_id: str) -> tuple[int, bytes]:
    """The status and body API Gateway answers with for a gateway response ``kind``."""
    status, error_type, message, code = GATEWAY_ERRORS[kind]
    body = {
        "type": "error",
        "error": {"type": error_type, "message": message, "code": code},
        "request_id": request_id,
    }
    return status, json.dumps(body).encode()


def authorizer_event(event: dict[str, Any]) -> dict[str, Any]:
    """The REQUEST authorizer event API Gateway sends for a proxy event."""
    ctx = event["requestContext"]
    arn = (
        f"arn:aws:execute-api:us-east-1:{ctx['accountId']}:{ctx['apiId']}/{ctx['stage']}/"
        f"{event['httpMethod']}{event['path']}"
    )
    return {
        "type": "REQUEST",
        "methodArn": arn,
        "resource": event["resource"],
        "path": event["path"],
        "httpMethod": event["httpMethod"],
        "headers": event["headers"],
        "multiValueHeaders": event["multiValueHeaders"],
        "queryStringParameters": event["queryStringParameters"],
        "multiValueQueryStringParameters": event["multiValueQueryStringParameters"],
        "pathParameters": event["pathParameters"],
        "stageVariables": event["stageVariables"],
        "requestContext": ctx,
    }


def authorize(authorizer: Callable[..., Any], event: dict[str, Any]) -> str | None:
    """Run the authorizer as API Gateway does: None when allowed (the event then carries its
    context), else the gateway response it causes."""
    request = authorizer_event(event)
    try:
        result = authorizer(request, LocalContext())
    except Exception as e:
        if str(e) == "Unauthorized":
            return "UNAUTHORIZED"
        raise
    statements = result.get("policyDocument", {}).get("Statement", [])
    arn = request["methodArn"]
    allowed = any(
        s.get("Effect") == "Allow" and fnmatch.fnmatchcase(arn, s.get("Resource", ""))
        for s in statements
    )
    if not allowed:
        return "ACCESS_DENIED"
    context = {k: str(v) for k, v in (result.get("context") or {}).items()}
    event["requestContext"]["authorizer"] = {**context, "principalId": result["principalId"]}
    return None


class StreamTarget(Protocol):
    """Where streamed routes go (``devtools.runtime_api.FakeRuntimeApi``)."""

    def invoke(self, event: Any) -> Any: ...


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


def make_handler(
    api_handler: Callable[..., Any],
    authorizer: Callable[..., Any] | None = None,
    *,
    streamed: StreamTarget | None = None,
    stream_routes: Collection[tuple[str, str]] = (),
    local_routes: Mapping[tuple[str, str], LocalRoute] | None = None,
) -> type[BaseHTTPRequestHandler]:
    """A ``BaseHTTPRequestHandler`` class that sends every request through ``api_handler``
    (``/v1/*`` through ``authorizer`` first, when given), except ``stream_routes`` (method,
    path), which go to ``streamed``, and ``local_routes`` (method, path under
    :data:`LOCAL_PREFIX`), served here."""
    local = dict(local_routes or {})

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body leave in separate writes; with Nagle's algorithm the body waits for
        # the client's delayed ACK of the headers (~40 ms) on a kept-alive connection.
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            event = to_event(self.command, self.path, dict(self.headers.items()), body)
            if event["path"].startswith(LOCAL_PREFIX):
                self._local(event)
                return
            if authorizer is not None and event["path"].startswith(AUTHORIZED_PREFIX):
                refused = authorize(authorizer, event)
                if refused:
                    request_id = event["requestContext"]["requestId"]
                    status, data = gateway_error(refused, request_id)
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("x-amzn-RequestId", request_id)  # as API Gateway does
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
            if streamed is not None and (self.command, event["path"]) in stream_routes:
                self._relay(streamed.invoke(event))
                return
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

        def _local(self, event: dict[str, Any]) -> None:
            route = local.get((self.command, event["path"]))
            if route is None:
                status, reply = 404, {"error": {"code": "NotFound", "message": event["path"]}}
            else:
                status, reply = route(dict(event["queryStringParameters"] or {}))
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _relay(self, pending: Any) -> None:
            reply = pending.reply()
            if reply.status_code is None:  # the function failed before its first byte
                self.send_response(502)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(_INTEGRATION_ERROR)))
                self.end_headers()
                self.wfile.write(_INTEGRATION_ERROR)
                return
            self.send_response(reply.status_code)
            for k, v in reply.headers.items():
                if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(k, str(v))
            for cookie in reply.cookies:
                self.send_header("Set-Cookie", cookie)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            # API Gateway cuts the function's stream when its client leaves; so does this
            # front, as soon as the client closes (not only when a write to it fails).
            done = threading.Event()
            self.wfile.flush()
            watch_peer_close(self.connection, pending.cancel, done)
            try:
                for data in reply.chunks():
                    self.wfile.write(chunk(data))
                    self.wfile.flush()
                if reply.failed:  # cut: no last chunk, the client sees an incomplete body
                    self.close_connection = True
                    return
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except OSError:  # the client went away
                pending.cancel()
                self.close_connection = True
            finally:
                done.set()

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        def __getattr__(self, name: str) -> Any:
            """Any other method (TRACE, QUERY, ...) reaches the API too, which answers it as
            a route it does not have (the stdlib would answer 501, a server error)."""
            if name.startswith("do_"):
                return self._serve
            raise AttributeError(name)

        def log_message(self, fmt: str, *args: Any) -> None:
            sys.stderr.write("local-api: " + fmt % args + "\n")

    return Handler
