"""HTTP glue: a stdlib ThreadingHTTPServer that routes to ``responses``.

One thread per connection, so a long cell in one session never blocks another.
"""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from .backend import CodeInterpreterBackend
from .config import EmulatorConfig
from .conformance import ConformanceLog, check_response
from .exceptions import EmulatorError, NotImplementedException, UnknownOperationException
from .responses import OPERATIONS, Request, Response, dispatch, dispatch_admin
from .routes import match

__all__ = ["EmulatorServer", "create_server"]

log = logging.getLogger(__name__)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms stalls
    server: EmulatorServer

    def _handle(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        req = Request(
            method=self.command,
            params={},
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        if url.path == "/_emulator/conformance" and self.command == "GET":
            self._send(Response.json(self.server.conformance_report()))
            return
        if url.path.startswith("/_emulator/"):
            self._send(dispatch_admin(self.server.backend, url.path, req))
            return
        route = match(self.command, url.path)
        if route is None:
            error: EmulatorError = UnknownOperationException(
                f"No operation for {self.command} {url.path}"
            )
            self._send(Response.error(error), checked=(None, False))
        elif route.operation not in OPERATIONS:
            error = NotImplementedException(
                f"{route.operation} is not implemented by the code interpreter emulator"
            )
            self._send(Response.error(error), checked=(route.operation, False))
        else:
            req.params = route.params
            resp = dispatch(self.server.backend, route.operation, req)
            self._send(resp, checked=(route.operation, True))

    def _send(self, resp: Response, checked: tuple[str | None, bool] | None = None) -> None:
        """Send ``resp``; ``checked`` = (operation, implemented) for service responses."""
        headers = {
            **resp.headers,
            "Content-Length": str(len(resp.body)),
            "x-amzn-RequestId": self.server.next_request_id(),
        }
        if checked is not None:
            request = f"{self.command} {self.path}"
            self.server.check(request, *checked, resp.status, headers, resp.body)
        self.send_response(resp.status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(resp.body)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _handle

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class EmulatorServer(ThreadingHTTPServer):
    """The HTTP server plus the backend it serves."""

    daemon_threads = True
    allow_reuse_address = True
    # The stdlib's listen backlog (5) overflows when many clients open connections at once
    # (a Lambda client's pool under load); the service takes them.
    request_queue_size = 128

    def __init__(self, config: EmulatorConfig, backend: CodeInterpreterBackend) -> None:
        super().__init__((config.host, config.port), _Handler)
        self.config = config
        self.backend = backend
        self._counter = 0
        self._counter_lock = threading.Lock()
        self.conformance = ConformanceLog() if config.check_responses else None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}"

    def next_request_id(self) -> str:
        with self._counter_lock:
            self._counter += 1
            return f"emulator-{self._counter:08d}"

    def check(
        self,
        request: str,
        operation: str | None,
        implemented: bool,
        status: int,
        headers: dict[str, str],
        body: bytes,
    ) -> None:
        """Check one service response against the service model (``check_responses``)."""
        if self.conformance is None:
            return
        problems = check_response(operation, status, headers, body, implemented=implemented)
        self.conformance.record(request, operation, status, problems)
        for problem in problems:
            log.error("response to %s does not match the service model: %s", request, problem)

    def conformance_report(self) -> dict[str, object]:
        """Responses checked and mismatches so far (``enabled`` False when not checking)."""
        if self.conformance is None:
            return {"enabled": False, "checked": 0, "mismatches": []}
        return {"enabled": True, **self.conformance.snapshot()}

    def close(self) -> None:
        """Stop serving and terminate every session."""
        self.shutdown()
        self.server_close()
        self.backend.shutdown()


def create_server(config: EmulatorConfig | None = None) -> EmulatorServer:
    """Build the server (not yet serving): call ``serve_forever`` in a thread."""
    config = config or EmulatorConfig.from_env()
    return EmulatorServer(config, CodeInterpreterBackend(config))
