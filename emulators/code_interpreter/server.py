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
from .exceptions import NotImplementedException, UnknownOperationException
from .responses import Request, Response, dispatch, dispatch_admin
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
        backend = self.server.backend
        if url.path.startswith("/_emulator/"):
            resp = dispatch_admin(backend, url.path, req)
        else:
            route = match(self.command, url.path)
            if route is None:
                resp = Response.error(
                    UnknownOperationException(f"No operation for {self.command} {url.path}")
                )
            elif not route.implemented:
                resp = Response.error(
                    NotImplementedException(
                        f"{route.operation} is not implemented by the code interpreter emulator"
                    )
                )
            else:
                req.params = route.params
                resp = dispatch(backend, route.operation, req)
        self._send(resp)

    def _send(self, resp: Response) -> None:
        self.send_response(resp.status)
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(resp.body)))
        self.send_header("x-amzn-RequestId", self.server.next_request_id())
        self.end_headers()
        self.wfile.write(resp.body)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _handle

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class EmulatorServer(ThreadingHTTPServer):
    """The HTTP server plus the backend it serves."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, config: EmulatorConfig, backend: CodeInterpreterBackend) -> None:
        super().__init__((config.host, config.port), _Handler)
        self.config = config
        self.backend = backend
        self._counter = 0
        self._counter_lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}"

    def next_request_id(self) -> str:
        with self._counter_lock:
            self._counter += 1
            return f"emulator-{self._counter:08d}"

    def close(self) -> None:
        """Stop serving and terminate every session."""
        self.shutdown()
        self.server_close()
        self.backend.shutdown()


def create_server(config: EmulatorConfig | None = None) -> EmulatorServer:
    """Build the server (not yet serving): call ``serve_forever`` in a thread."""
    config = config or EmulatorConfig.from_env()
    return EmulatorServer(config, CodeInterpreterBackend(config))
