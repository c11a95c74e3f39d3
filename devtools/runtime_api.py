"""A Lambda Runtime API double on 127.0.0.1, for the streaming runtime outside Lambda.

``code_exec.streaming.runtime`` (the loop the streaming function's exec wrapper starts)
talks to whatever ``AWS_LAMBDA_RUNTIME_API`` names. Tests, ``make local`` and the bench
point it here, so the loop that runs is the deployed one. The double implements the
calls that loop makes, as the Runtime API documents them:

* ``GET /2018-06-01/runtime/invocation/next``: blocks until :meth:`FakeRuntimeApi.invoke`
  queues an event, then answers it with the context headers (request id, deadline,
  function ARN, trace id);
* ``POST …/invocation/{id}/response``: read as it arrives. A streamed response
  (``Lambda-Runtime-Function-Response-Mode: streaming``, chunked) is split at the first
  eight NUL bytes into API Gateway's metadata prelude and the payload, which is handed to
  the waiting caller chunk by chunk; trailers are kept. Answers 202;
* ``POST …/invocation/{id}/error`` and ``POST …/runtime/init/error``: recorded.

The waiting caller plays API Gateway: :meth:`Pending.reply` gives the status and headers
once the prelude is in, then the body as it streams. :meth:`Pending.cancel` plays a client
that went away (the runtime's connection is shut down, so its next write fails); the
function timeout does the same when the deadline passes. :meth:`FakeRuntimeApi.go_away`
injects a Runtime API that cannot be reached any more: the runtime's next call, such as the
response it is about to write, fails to connect (its first write fails, deterministically).
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from code_exec.streaming.framing import DELIMITER, MAX_PRELUDE_BYTES

from devtools.prompt_shutdown import PromptThreadingHTTPServer

__all__ = ["FakeRuntimeApi", "Pending", "Reply", "read_chunked"]

_PREFIX = "/2018-06-01/runtime/"
_STOP = object()


def read_chunked(rfile: Any) -> Iterator[bytes | dict[str, str]]:
    """Chunks of an HTTP/1.1 chunked body as they arrive; the last item is the trailers."""
    while True:
        line = rfile.readline()
        if not line:
            raise ConnectionError("chunked body cut before its last chunk")
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            trailers: dict[str, str] = {}
            while True:
                field_line = rfile.readline()
                if field_line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = field_line.decode("latin-1").partition(":")
                trailers[name.strip()] = value.strip()
            yield trailers
            return
        data = rfile.read(size)
        rfile.read(2)
        yield data


@dataclass
class Reply:
    """A response as API Gateway would see it: the prelude's metadata, then the body."""

    status_code: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    cookies: list[str] = field(default_factory=list)
    request_headers: dict[str, str] = field(default_factory=dict)  # of the runtime's POST
    trailers: dict[str, str] = field(default_factory=dict)
    error: dict[str, Any] | None = None  # from invocation/{id}/error
    timed_out: bool = False
    cut: bool = False  # the body ended without its last chunk
    _body: queue.Queue[bytes | None] = field(default_factory=queue.Queue, repr=False)

    def chunks(self, timeout: float | None = None) -> Iterator[bytes]:
        """The payload as it arrives, until the stream ends."""
        while True:
            item = self._body.get(timeout=timeout)
            if item is None:
                return
            yield item

    def body(self, timeout: float | None = None) -> bytes:
        return b"".join(self.chunks(timeout))

    @property
    def failed(self) -> bool:
        """The function reported an error (before the first byte, or in trailers), or the
        stream was cut."""
        return bool(self.error or self.cut or self.timed_out or self.error_type)

    @property
    def error_type(self) -> str | None:
        return self.trailers.get("Lambda-Runtime-Function-Error-Type")


class Pending:
    """One invocation: its event, and the reply once the runtime starts answering."""

    def __init__(self, event: Any, deadline: float, function_arn: str) -> None:
        self.request_id = str(uuid.uuid4())
        self.event = event
        self.deadline = deadline  # epoch seconds
        self.function_arn = function_arn
        self.result = Reply()
        self._started = threading.Event()  # the prelude (or an error) is in
        self._ended = threading.Event()
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._deadline_timer: threading.Timer | None = None  # cut at the deadline; off at the end
        self.cancelled = False

    def reply(self, timeout: float | None = None) -> Reply:
        """Wait for the status and headers (or the error reported before them)."""
        if not self._started.wait(timeout):
            raise TimeoutError(f"invocation {self.request_id}: no response within {timeout} s")
        return self.result

    def cancel(self) -> None:
        """The client went away: cut the runtime's response connection."""
        with self._lock:
            self.cancelled = True
            sock = self._socket
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _attach(self, sock: socket.socket) -> bool:
        with self._lock:
            self._socket = sock
            return not self.cancelled

    def _start(self) -> None:
        self._started.set()

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    def _end(self) -> None:
        if self._ended.is_set():
            return
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()  # else its thread waits out function_timeout (900 s)
        self._ended.set()
        self._started.set()
        self.result._body.put(None)


class FakeRuntimeApi:
    """The Runtime API double; a context manager that serves on 127.0.0.1.

    Args:
        function_timeout: seconds from an invocation's start to its deadline (sent as
            ``Lambda-Runtime-Deadline-Ms``); at the deadline the response is cut, as Lambda
            stops a function that runs out of time.
        function_arn: the ARN sent as ``Lambda-Runtime-Invoked-Function-Arn``.
    """

    def __init__(
        self,
        *,
        function_timeout: float = 900.0,
        function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:code-exec-stream",
    ) -> None:
        self.function_timeout = function_timeout
        self.function_arn = function_arn
        self.init_errors: list[dict[str, Any]] = []
        self._queue: queue.Queue[object] = queue.Queue()
        self._pending: dict[str, Pending] = {}
        self._server = PromptThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        """``host:port``, the value of ``AWS_LAMBDA_RUNTIME_API``."""
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def __enter__(self) -> FakeRuntimeApi:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop()

    def stop(self) -> None:
        self._queue.put(_STOP)
        self._server.shutdown()  # a no-op once it went away
        self._server.server_close()

    def go_away(self) -> None:
        """Stop listening: every later call of the runtime fails to connect.

        Called from a handler (before it returns its response), it makes the runtime's first
        write of that response fail, before any byte of the body was asked for.
        """
        self._server.shutdown()  # serve_forever runs in its own thread: this waits for it
        self._server.server_close()

    def invoke(self, event: Any) -> Pending:
        """Queue one invocation for the next ``/next`` call."""
        pending = Pending(event, time.time() + self.function_timeout, self.function_arn)
        self._pending[pending.request_id] = pending
        timer = threading.Timer(self.function_timeout, self._time_out, args=(pending,))
        timer.daemon = True
        pending._deadline_timer = timer
        timer.start()
        self._queue.put(pending)
        return pending

    def _time_out(self, pending: Pending) -> None:
        if not pending.ended:
            pending.result.timed_out = True
            pending.cancel()
            pending._end()

    def _next(self) -> Pending | None:
        item = self._queue.get()
        if item is _STOP:
            self._queue.put(_STOP)  # for every other runtime waiting
            return None
        assert isinstance(item, Pending)
        return item


def _handler(api: FakeRuntimeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body leave in separate writes: without this the body waits for the
        # client's delayed ACK (~40 ms) on a kept-alive connection (Nagle's algorithm)
        disable_nagle_algorithm = True

        def log_message(self, fmt: str, *args: Any) -> None:  # quiet
            pass

        def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path != _PREFIX + "invocation/next":
                return self._answer(404)
            pending = api._next()
            if pending is None:
                return self._answer(500, b'{"errorType": "Runtime.Stopped"}')
            headers = {
                "Content-Type": "application/json",
                "Lambda-Runtime-Aws-Request-Id": pending.request_id,
                "Lambda-Runtime-Deadline-Ms": str(int(pending.deadline * 1000)),
                "Lambda-Runtime-Invoked-Function-Arn": pending.function_arn,
                "Lambda-Runtime-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}",
            }
            self._answer(200, json.dumps(pending.event).encode(), headers)
            return None

        def do_POST(self) -> None:
            path = self.path.removeprefix(_PREFIX)
            if path == "init/error":
                api.init_errors.append(self._error_body())
                return self._answer(202)
            parts = path.split("/")
            if len(parts) != 3 or parts[0] != "invocation" or parts[1] not in api._pending:
                return self._answer(404)
            pending = api._pending[parts[1]]
            if parts[2] == "error":
                pending.result.error = self._error_body()
                pending._end()
                return self._answer(202)
            if parts[2] == "response":
                return self._response(pending)
            return self._answer(404)

        def _error_body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            body["header_type"] = self.headers.get("Lambda-Runtime-Function-Error-Type")
            return dict(body)

        def _response(self, pending: Pending) -> None:
            reply = pending.result
            reply.request_headers = dict(self.headers.items())
            if not pending._attach(self.connection):
                self.close_connection = True
                return
            if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                length = int(self.headers.get("Content-Length") or 0)
                self._feed(pending, [self.rfile.read(length)])
                pending._end()
                return self._answer(202)
            try:
                self._feed(pending, read_chunked(self.rfile))
            except (OSError, ConnectionError, ValueError):
                reply.cut = True
                self.close_connection = True
                pending._end()
                return None
            pending._end()
            if pending.cancelled:
                self.close_connection = True
                return None
            return self._answer(202)

        def _feed(self, pending: Pending, items: Any) -> None:
            reply, head = pending.result, b""
            for item in items:
                if isinstance(item, dict):
                    reply.trailers = item
                    break
                if pending.cancelled:
                    raise ConnectionError("cancelled")
                if reply.status_code is None:
                    head += item
                    if DELIMITER not in head:
                        if len(head) > MAX_PRELUDE_BYTES:
                            raise ValueError("no metadata prelude in the first 16 KiB")
                        continue
                    meta_raw, _, item = head.partition(DELIMITER)
                    meta = json.loads(meta_raw)
                    reply.status_code = int(meta["statusCode"])
                    reply.headers = dict(meta.get("headers") or {})
                    for k, values in (meta.get("multiValueHeaders") or {}).items():
                        reply.headers.setdefault(k, ", ".join(values))
                    reply.cookies = list(meta.get("cookies") or [])
                    pending._start()
                if item:
                    reply._body.put(item)

    return Handler
