"""A Bedrock Runtime endpoint on 127.0.0.1 that answers from a recording.

For code that runs in another process (``make local``, whose streaming runtime runs in
worker processes), the replay cannot hook the client: point ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``
here instead. Each request goes to the same :meth:`BedrockReplay.respond` the in-process
hook uses (so the recording's expectations are checked the same way), and the reply goes
back over HTTP as Bedrock sends it: a JSON body, or an event stream written frame by frame
(chunked, flushed), paced as the recording says.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

from devtools.bedrock_replay import BedrockReplay
from devtools.local_server import LocalHttpServer

__all__ = ["BedrockServer"]


class BedrockServer:
    """Serve ``replay`` on 127.0.0.1 until :meth:`stop` (a context manager too)."""

    def __init__(self, replay: BedrockReplay) -> None:
        self.replay = replay
        self.errors: list[str] = []
        self._server = LocalHttpServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> BedrockServer:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(server: BedrockServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body leave in separate writes: without this the body waits for the
        # client's delayed ACK (~40 ms) on a kept-alive connection (Nagle's algorithm)
        disable_nagle_algorithm = True

        def log_message(self, fmt: str, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                response = server.replay.respond(f"{server.url}{self.path}", body)
            except AssertionError as e:  # a request the recording does not answer
                server.errors.append(str(e))
                data = b'{"message": "the recording does not answer this request"}'
                self.send_response(400)
                self.send_header("x-amzn-ErrorType", "ValidationException")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self.send_response(response.status_code)
            for name, value in response.headers.items():
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            raw = response.raw
            if hasattr(raw, "frames"):  # an event stream: frame by frame, as it is written
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for frame in raw.stream():
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:  # the caller stopped reading
                    raw.close()
                    self.close_connection = True
                return
            data = raw.read()
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
