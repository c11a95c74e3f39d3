"""A producer thread and the writer that drains it: pings, deadlines, backpressure, disconnects.

The streaming runtime writes a response body from its own thread; the work that produces
the body (an agent turn, a model stream) runs in another, so the writer can send a
keep-alive ping while the producer is blocked, and notice the time. They meet in a bounded
queue: a slow client slows the writer, the queue fills, and the producer waits for room
(backpressure) instead of buffering a whole turn in memory.

How a stream ends:

* the producer returns: the writer sends what is queued and ends the body;
* the producer raises: the writer re-raises after what was queued (the runtime turns it
  into error trailers), or, given ``on_error``, sends the frame it makes of the error last
  and ends the body normally;
* the client disconnects (the runtime closes the writer): the stop signal is set with
  reason ``disconnected``, frames are dropped from then on, and the writer waits up to a
  grace period for the producer to reach its next safe point and clean up, so nothing is
  left running when the invocation ends; ``on_abandon`` runs if it does not;
* the deadline: at ``stop_at`` the stop signal is set with reason ``deadline`` and the
  producer's remaining frames (its final event) still go out; at ``abandon_at`` the writer
  stops waiting, calls ``on_abandon`` and sends the frame it returns.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["DEFAULT_PING_SECONDS", "Emit", "Produce", "Pump"]

logger = logging.getLogger(__name__)

DEFAULT_PING_SECONDS = 15.0

Emit = Callable[[bytes | str], None]
Produce = Callable[[Emit, threading.Event], None]


@dataclass(frozen=True)
class _Failure:
    error: BaseException


_END = object()
_NOTHING = object()


class Pump:
    """Runs ``produce(emit, stop)`` in a thread; :meth:`frames` is the writer's side.

    Args:
        produce: the producer; it calls ``emit`` with each frame and may watch ``stop``
            (a ``threading.Event``) to end early at a safe point.
        cancel: the stop signal to use (a new one by default), shared with code that
            checks it, such as a model-stream reader.
        name: the producer thread's name.
        max_pending: frames queued before ``emit`` waits for the writer.
    """

    def __init__(
        self,
        produce: Produce,
        *,
        cancel: threading.Event | None = None,
        name: str = "stream-producer",
        max_pending: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._produce = produce
        self.stop_signal = cancel if cancel is not None else threading.Event()
        self.reason: str | None = None
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_pending)
        # in a copy of the caller's context: the request's deadline (code_exec.deadline)
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._run,), name=name, daemon=True
        )
        self._dropping = False
        self._first: object = _NOTHING
        self._clock = clock

    # --- producer side -------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def emit(self, item: bytes | str) -> None:
        """Queue one frame; waits while the queue is full, drops it once the client is gone."""
        data = item.encode("utf-8") if isinstance(item, str) else item
        if data:
            self._put(data)

    @property
    def dropping(self) -> bool:
        """Nothing the producer emits is sent any more (the client left, or the producer was
        abandoned)."""
        return self._dropping

    def stop(self, reason: str) -> None:
        """Ask the producer to end at its next safe point (the first reason is kept)."""
        if self.reason is None:
            self.reason = reason
        self.stop_signal.set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the producer; True once it has ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _put(self, item: object) -> None:
        while not self._dropping:
            try:
                self._queue.put(item, timeout=0.25)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        try:
            self._produce(self.emit, self.stop_signal)
        except BaseException as e:  # handed to the writer, which re-raises it
            logger.exception("stream producer failed")
            self._put(_Failure(e))
        finally:
            self._put(_END)

    # --- writer side ---------------------------------------------------------------------

    def first(self, timeout: float | None = None) -> bytes | None:
        """Wait for the first frame (kept for :meth:`frames`): None when the producer ended
        without one. Lets a handler choose the HTTP status before committing to a stream.

        Raises:
            The producer's exception, when it failed before its first frame.
            TimeoutError: no frame within ``timeout``.
        """
        if self._first is _NOTHING:
            try:
                self._first = self._queue.get(timeout=timeout)
            except queue.Empty as e:
                raise TimeoutError("no first frame yet") from e
        item = self._first
        if isinstance(item, _Failure):
            raise item.error
        return item if isinstance(item, bytes) else None

    def frames(
        self,
        *,
        ping: bytes,
        ping_seconds: float = DEFAULT_PING_SECONDS,
        grace_seconds: float = 30.0,
        stop_at: float | None = None,
        abandon_at: float | None = None,
        on_abandon: Callable[[str], bytes | None] | None = None,
        on_error: Callable[[BaseException], bytes | None] | None = None,
    ) -> Iterator[bytes]:
        """The body: frames as they come, ``ping`` after ``ping_seconds`` of silence.

        ``stop_at`` and ``abandon_at`` are times on the pump's clock (monotonic seconds).
        ``on_abandon(reason)`` releases what a producer that never reached a safe point
        still holds; its return value is sent as the last frame when the client is still
        there. ``on_error(exception)``, when given, turns a producer's failure into the last
        frame instead of a failed body.
        """
        finished = False
        last = self._clock()
        deadline_passed = False
        try:
            item = self._first if self._first is not _NOTHING else None
            self._first = _NOTHING
            while True:
                if item is None:
                    now = self._clock()
                    if stop_at is not None and not deadline_passed and now >= stop_at:
                        deadline_passed = True
                        self.stop("deadline")
                    if abandon_at is not None and now >= abandon_at:
                        finished = True
                        final = self._abandon(on_abandon, "deadline")
                        if final:
                            yield final
                        return
                    marks = [last + ping_seconds]
                    if stop_at is not None and not deadline_passed:
                        marks.append(stop_at)
                    if abandon_at is not None:
                        marks.append(abandon_at)
                    try:
                        item = self._queue.get(timeout=max(0.0, min(marks) - now))
                    except queue.Empty:
                        if self._clock() - last >= ping_seconds:
                            last = self._clock()
                            yield ping
                        continue
                if item is _END:
                    finished = True
                    return
                if isinstance(item, _Failure):
                    finished = True
                    if on_error is None:
                        raise item.error
                    final = on_error(item.error)
                    if final:
                        yield final
                    return
                assert isinstance(item, bytes)
                last = self._clock()
                item_out, item = item, None
                yield item_out
        finally:
            if not finished:  # closed by the runtime: the client is gone
                self._dropping = True
                self.stop("disconnected")
                self._drain()
                if not self.join(grace_seconds):
                    self._abandon(on_abandon, "disconnected")

    def _abandon(
        self, on_abandon: Callable[[str], bytes | None] | None, reason: str
    ) -> bytes | None:
        self._dropping = True
        self.stop(reason)
        logger.warning("stream producer still running at %s; abandoning it", reason)
        return on_abandon(reason) if on_abandon is not None else None

    def _drain(self) -> None:
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return
