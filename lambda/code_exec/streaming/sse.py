"""Server-sent events: frames, headers, and THE seam from an event generator to a response.

:func:`sse_response` is how any streamed route answers: give it a generator of SSE frames
(``str`` or ``bytes``, each a complete frame such as ``"event: x\\ndata: {...}\\n\\n"``) and
it returns the :class:`~code_exec.streaming.response.StreamedResponse` the streaming runtime
writes. The generator runs in its own thread (:class:`~code_exec.streaming.pump.Pump`), so
keep-alive pings go out while it is blocked (a model call, a long sandbox run); when the
client disconnects, the generator is closed at the next ``yield`` (its ``finally`` blocks
run there: release what it holds), before the invocation ends. At the deadline
(``stop_at``) it is only asked to stop (``cancel``): its remaining frames still go out.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from code_exec.streaming.pump import DEFAULT_PING_SECONDS, Emit, Pump
from code_exec.streaming.response import StreamedResponse

__all__ = ["PING", "SSE_HEADERS", "frame", "sse_response"]

SSE_HEADERS = {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
}
# A named event, as Anthropic sends it: its SDK skips ``ping``, curl shows it.
PING = b'event: ping\ndata: {"type": "ping"}\n\n'


def frame(event: str, data: Mapping[str, Any]) -> bytes:
    """One SSE frame; ``data`` carries its own ``type`` equal to the event name."""
    payload = json.dumps({"type": event, **data}, default=str, ensure_ascii=False)
    return f"event: {event}\ndata: {payload}\n\n".encode()


def sse_response(
    events: Iterable[str | bytes],
    *,
    headers: Mapping[str, str] | None = None,
    status_code: int = 200,
    cancel: threading.Event | None = None,
    ping_seconds: float = DEFAULT_PING_SECONDS,
    grace_seconds: float = 30.0,
    stop_at: float | None = None,
    abandon_at: float | None = None,
    on_abandon: Callable[[str], bytes | None] | None = None,
    on_error: Callable[[BaseException], bytes | None] | None = None,
    first_seconds: float | None = None,
) -> StreamedResponse:
    """Stream the frames of ``events`` as a ``text/event-stream`` response.

    Args:
        events: SSE frames, in order. A generator is closed at its current ``yield`` when
            the client disconnects; an exception it raises after the first frame ends the
            stream with the Runtime API's error trailers (format your own ``error`` event
            first if the client should see one).
        headers: extra response headers (e.g. ``request-id``).
        status_code: the HTTP status (200 for a stream).
        cancel: set when the client disconnects, for a producer that can stop sooner than
            its next ``yield`` (e.g. a model stream checking it between chunks).
        ping_seconds: a ``ping`` event goes out after this long without a frame (API
            Gateway drops a stream idle for 5 minutes).
        grace_seconds: how long a disconnected generator may take to reach its next
            ``yield`` and clean up before the invocation ends anyway.
        stop_at: ``time.monotonic()`` at which ``cancel`` is set because the function's
            deadline is near: the generator should then end with its own final event
            (e.g. a paused turn), which is still sent.
        abandon_at: when to stop waiting for a generator that has not ended; ``on_abandon``
            (given the reason) then releases what it holds, and the frame it returns is
            sent last.
        on_error: the last frame for an exception the generator raises once the response
            is committed (e.g. an ``error`` event); without it the stream fails.
        first_seconds: wait up to this long for the generator's first frame before
            committing to the status: an exception it raises before that frame is raised
            here (the route answers an HTTP error instead); past the wait, the response
            is committed and pings keep it open.

    Raises:
        Exception: what the generator raised before its first frame, within
            ``first_seconds``.
    """

    def produce(emit: Emit, stop: threading.Event) -> None:
        iterator = iter(events)
        try:
            for item in iterator:
                emit(item)
                if pump.dropping:
                    break
        finally:
            close: Callable[[], None] | None = getattr(iterator, "close", None)
            if close is not None:
                close()

    # named after the invoking thread, so its log lines (and calls) trace back to it
    pump = Pump(produce, cancel=cancel, name=f"{threading.current_thread().name}/sse")
    pump.start()
    if first_seconds is not None:
        with contextlib.suppress(TimeoutError):  # still working: commit, pings keep it open
            pump.first(first_seconds)
    return StreamedResponse(
        status_code,
        pump.frames(
            ping=PING,
            ping_seconds=ping_seconds,
            grace_seconds=grace_seconds,
            stop_at=stop_at,
            abandon_at=abandon_at,
            on_abandon=on_abandon,
            on_error=on_error,
        ),
        {**SSE_HEADERS, **(headers or {})},
        on_disconnect=lambda: pump.stop("disconnected"),
    )
