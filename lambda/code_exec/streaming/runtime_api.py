"""A client of the Lambda Runtime API (``AWS_LAMBDA_RUNTIME_API``) that can stream.

The stock Python runtime interface client answers every invocation with one buffered POST;
this one writes the response as an HTTP/1.1 chunked stream with the headers Lambda's
documentation gives for custom runtimes that stream, and reports an error after the first
byte in trailers (see :mod:`code_exec.streaming.framing`). Per the Runtime API guide, the
``next`` call has no timeout: it blocks until an invocation arrives.
"""

from __future__ import annotations

import http.client
import json
import logging
import select
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum

from code_exec.streaming.framing import (
    ERROR_BODY_TRAILER,
    ERROR_TYPE_TRAILER,
    HTTP_INTEGRATION_CONTENT_TYPE,
    chunk,
    error_trailers,
    last_chunk,
)

__all__ = [
    "API_VERSION",
    "Invocation",
    "Outcome",
    "RuntimeApi",
    "RuntimeApiError",
    "watch_peer_close",
]

logger = logging.getLogger(__name__)

API_VERSION = "2018-06-01"


class RuntimeApiError(RuntimeError):
    """The Runtime API answered a call with an unexpected status."""


class Outcome(Enum):
    """How writing one streamed response ended."""

    COMPLETE = "complete"  # every chunk written, the stream ended normally
    FAILED = "failed"  # the body raised after the first byte: error trailers were sent
    DISCONNECTED = "disconnected"  # a write failed: nobody is reading any more


@dataclass(frozen=True)
class Invocation:
    """One event from ``/runtime/invocation/next`` and its context headers."""

    request_id: str
    payload: bytes
    deadline_ms: int
    function_arn: str = ""
    trace_id: str | None = None
    client_context: str | None = None
    cognito_identity: str | None = None


class RuntimeApi:
    """The calls a runtime makes: next invocation, streamed response, errors."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self._host, self._port = host or address, int(port or 80)

    def _connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self._host, self._port, timeout=None)

    def _path(self, tail: str) -> str:
        return f"/{API_VERSION}/runtime/{tail}"

    def next(self) -> Invocation:
        """Block until the next invocation arrives."""
        conn = self._connection()
        try:
            conn.request("GET", self._path("invocation/next"))
            resp = conn.getresponse()
            payload = resp.read()
            if resp.status != 200:
                raise RuntimeApiError(f"invocation/next answered {resp.status}")
            h = resp.headers
            return Invocation(
                request_id=h["Lambda-Runtime-Aws-Request-Id"],
                payload=payload,
                deadline_ms=int(h.get("Lambda-Runtime-Deadline-Ms") or 0),
                function_arn=h.get("Lambda-Runtime-Invoked-Function-Arn") or "",
                trace_id=h.get("Lambda-Runtime-Trace-Id"),
                client_context=h.get("Lambda-Runtime-Client-Context"),
                cognito_identity=h.get("Lambda-Runtime-Cognito-Identity"),
            )
        finally:
            conn.close()

    def stream(
        self,
        request_id: str,
        prelude: bytes,
        body: Iterator[bytes],
        *,
        on_disconnect: Callable[[], None] | None = None,
    ) -> Outcome:
        """POST the response: ``prelude`` first, then each chunk of ``body`` as it comes.

        An exception raised by ``body`` ends the stream with error trailers (``FAILED``);
        a failed write means the reader is gone (``DISCONNECTED``): the caller must then
        close ``body``'s producer. ``on_disconnect`` is called (from another thread) as soon
        as the other end closes the connection while ``body`` is still waiting for its next
        chunk, so the producer can stop before the next write would fail.
        """
        conn = self._connection()
        done = threading.Event()
        try:
            conn.putrequest("POST", self._path(f"invocation/{request_id}/response"))
            conn.putheader("Lambda-Runtime-Function-Response-Mode", "streaming")
            conn.putheader("Transfer-Encoding", "chunked")
            conn.putheader("Content-Type", HTTP_INTEGRATION_CONTENT_TYPE)
            conn.putheader("Trailer", f"{ERROR_TYPE_TRAILER}, {ERROR_BODY_TRAILER}")
            conn.endheaders()
            conn.send(chunk(prelude))
            if on_disconnect is not None and conn.sock is not None:
                watch_peer_close(conn.sock, on_disconnect, done)
            failure: Exception | None = None
            while True:
                try:
                    data = next(body)
                except StopIteration:
                    break
                except Exception as e:  # the handler failed mid-stream: report it in trailers
                    logger.exception("streamed body failed after its first byte")
                    failure = e
                    break
                conn.send(chunk(data))
            if failure is None:
                conn.send(last_chunk())
            else:
                conn.send(last_chunk(error_trailers(type(failure).__name__, str(failure))))
            resp = conn.getresponse()
            resp.read()
            if resp.status >= 300:
                logger.warning("the Runtime API answered %s to a streamed response", resp.status)
            return Outcome.COMPLETE if failure is None else Outcome.FAILED
        except (OSError, http.client.HTTPException) as e:
            logger.warning("streamed response cut: %s", type(e).__name__)
            return Outcome.DISCONNECTED
        finally:
            done.set()
            conn.close()

    def invocation_error(self, request_id: str, error_type: str, message: str) -> None:
        """Report an invocation that failed before its first byte."""
        self._post_error(f"invocation/{request_id}/error", error_type, message)

    def init_error(self, error_type: str, message: str) -> None:
        """Report a runtime that could not start (e.g. the handler does not import)."""
        self._post_error("init/error", error_type, message)

    def _post_error(self, tail: str, error_type: str, message: str) -> None:
        body = json.dumps({"errorMessage": message, "errorType": error_type, "stackTrace": []})
        conn = self._connection()
        try:
            conn.request(
                "POST",
                self._path(tail),
                body=body.encode("utf-8"),
                headers={
                    "Content-Type": "application/json",
                    "Lambda-Runtime-Function-Error-Type": error_type,
                },
            )
            resp = conn.getresponse()
            resp.read()
            if resp.status >= 300:
                raise RuntimeApiError(f"{tail} answered {resp.status}")
        finally:
            conn.close()


def watch_peer_close(
    sock: socket.socket, on_close: Callable[[], None], done: threading.Event, poll: float = 0.25
) -> threading.Thread:
    """Call ``on_close`` once when the peer closes ``sock`` (EOF or a reset), until ``done``.

    Nobody reads a connection while a response is being written on it, so nothing but the
    peer's close makes it readable; if data does arrive (an early answer), it is left for
    its reader and the watch ends.
    """

    def watch() -> None:
        while not done.is_set():
            try:
                readable, _, _ = select.select([sock], [], [], poll)
                if not readable:
                    continue
                closed = sock.recv(1, socket.MSG_PEEK) == b""
            except (OSError, ValueError):  # reset, or closed under us
                closed = True
            if closed and not done.is_set():
                logger.info("the reader closed the connection")
                on_close()
            return

    thread = threading.Thread(target=watch, name="peer-close-watch", daemon=True)
    thread.start()
    return thread
