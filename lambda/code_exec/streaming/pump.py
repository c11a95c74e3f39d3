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
* the writer is gone (the client disconnected, or any write of the response failed, the
  first included): the runtime closes the body :meth:`frames` returned, which works whether
  or not it was ever iterated (:meth:`Pump.close`). The stop signal is set with reason
  ``disconnected``, frames are dropped from then on (``emit`` returns at once), and the
  closing thread waits up to a grace period for the producer to reach its next safe point
  and clean up, so nothing is left running when the invocation ends; ``on_abandon`` runs
  if it does not;
* the deadline: at ``stop_at`` the stop signal is set with reason ``deadline`` and the
  producer's remaining frames (its final event) still go out; at ``abandon_at`` the writer
  stops waiting, calls ``on_abandon`` and sends the frame it returns.

The producer never waits forever for room in the queue: ``emit`` gives up (drops the frame,
and every later one) once the writer is gone or ``abandon_at`` has passed, even when the
writer itself is stuck in a write and never gets to look at the clock.

This is the one cancellation path for anything a streamed response runs: *the consumer is
gone -> the stop signal is set and the producer's frames are dropped -> the producer ends at
its next safe point and its ``finally`` blocks (lease release, sandbox stop) run -> the
invocation ends*. A producer that can stop sooner than its next frame watches the stop
signal (``cancel``) and :attr:`Pump.reason` tells it why.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["DEFAULT_PING_SECONDS", "Body", "Emit", "Produce", "Pump"]

logger = logging.getLogger(__name__)

DEFAULT_PING_SECONDS = 15.0

Emit = Callable[[bytes | str], None]
Produce = Callable[[Emit, threading.Event], None]


@dataclass(frozen=True)
class _Failure:
    error: BaseException


_END = object()
_NOTHING = object()
_PUT_POLL_SECONDS = 0.25  # how often a producer waiting for room looks at the stop conditions


class Body(Iterator[bytes]):
    """The writer's side of a :class:`Pump` as the response body: an iterator of frames whose
    :meth:`close` stops the producer even when no frame was ever asked for (closing a
    generator that never started would not run its ``finally``)."""

    def __init__(self, pump: Pump, frames: Iterator[bytes]) -> None:
        self._pump = pump
        self._frames = frames

    def __iter__(self) -> Body:
        return self

    def __next__(self) -> bytes:
        return next(self._frames)

    def close(self) -> None:
        """The writer is gone: stop the producer and wait for its cleanup (idempotent)."""
        close = getattr(self._frames, "close", None)
        if close is not None:
            close()  # a started generator cleans up in its ``finally``
        self._pump.close("disconnected")  # and one that never started, here


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
        self._lock = threading.Lock()
        self._ended = False  # the writer is done: the stream ended, or the producer was closed
        # set by :meth:`frames`; until then the producer waits for room without a time limit
        self._give_up_at: float | None = None
        self._grace_seconds = 30.0
        self._on_abandon: Callable[[str], bytes | None] | None = None

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

    def close(self, reason: str = "disconnected") -> None:
        """The writer is gone: stop the producer, drop what it emits, and wait up to the grace
        period for it to end (``on_abandon`` runs if it does not).

        Idempotent, and a no-op once the stream ended by itself. The runtime reaches it
        through the body :meth:`frames` returns, on any failed write, before the first frame
        was asked for included.
        """
        with self._lock:
            if self._ended:
                return
            self._ended = True
        self._dropping = True
        self.stop(reason)
        self._drain()  # wakes a producer waiting for room
        if not self.join(self._grace_seconds):
            self._abandon(self._on_abandon, reason)

    def _put(self, item: object) -> None:
        """Queue ``item``, waiting for room while the writer is there and in time."""
        while not self._dropping:
            if self._give_up_at is not None and self._clock() >= self._give_up_at:
                logger.warning("the stream's writer took nothing until the deadline; dropping")
                self._dropping = True
                self.stop("deadline")
                return
            try:
                self._queue.put(item, timeout=_PUT_POLL_SECONDS)
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
    ) -> Body:
        """The body: frames as they come, ``ping`` after ``ping_seconds`` of silence.

        ``stop_at`` and ``abandon_at`` are times on the pump's clock (monotonic seconds).
        ``on_abandon(reason)`` releases what a producer that never reached a safe point
        still holds; its return value is sent as the last frame when the client is still
        there. ``on_error(exception)``, when given, turns a producer's failure into the last
        frame instead of a failed body. Closing the body (iterated or not) is
        :meth:`close`: the producer is stopped and waited for up to ``grace_seconds``.
        """
        self._grace_seconds = grace_seconds
        self._on_abandon = on_abandon
        self._give_up_at = abandon_at
        body = self._frames(
            ping=ping,
            ping_seconds=ping_seconds,
            stop_at=stop_at,
            abandon_at=abandon_at,
            on_abandon=on_abandon,
            on_error=on_error,
        )
        return Body(self, body)

    def _frames(
        self,
        *,
        ping: bytes,
        ping_seconds: float,
        stop_at: float | None,
        abandon_at: float | None,
        on_abandon: Callable[[str], bytes | None] | None,
        on_error: Callable[[BaseException], bytes | None] | None,
    ) -> Iterator[bytes]:
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
            if finished:
                with self._lock:
                    self._ended = True
            else:  # closed by the runtime: the client is gone
                self.close("disconnected")

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
