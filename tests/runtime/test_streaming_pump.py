"""The producer/writer pump behind every streamed response: pings, deadline, abandon,
backpressure, failures. Times are short real waits on ``queue.get``; the assertions are on
order and content, not on durations."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from code_exec.streaming.pump import Emit, Pump

PING = b"ping"


def _frames(pump: Pump, **kw: Any) -> Any:
    return pump.frames(ping=PING, **kw)


def test_pings_go_out_while_the_producer_is_silent_and_stop_when_it_speaks() -> None:
    go = threading.Event()

    def produce(emit: Emit, stop: threading.Event) -> None:
        emit("a")
        go.wait(10)
        emit(b"b")

    pump = Pump(produce)
    pump.start()
    out = _frames(pump, ping_seconds=0.02)
    assert next(out) == b"a"
    assert next(out) == PING and next(out) == PING
    go.set()
    rest = list(out)
    assert rest[-1] == b"b" and set(rest[:-1]) <= {PING}


def test_at_stop_at_the_producer_is_asked_to_stop_and_its_last_frames_still_go_out() -> None:
    def produce(emit: Emit, stop: threading.Event) -> None:
        emit("working")
        assert stop.wait(10)
        emit("paused: the final event")

    pump = Pump(produce)
    pump.start()
    frames = list(_frames(pump, ping_seconds=5, stop_at=0.0))
    assert frames == [b"working", b"paused: the final event"]
    assert pump.reason == "deadline"


def test_a_producer_that_never_reaches_a_safe_point_is_abandoned_with_a_last_frame() -> None:
    released = threading.Event()
    reasons: list[str] = []

    def produce(emit: Emit, stop: threading.Event) -> None:
        emit("started")
        released.wait(10)  # ignores ``stop``: stuck in a call

    def abandon(reason: str) -> bytes:
        reasons.append(reason)
        released.set()
        return b"error: gave up"

    pump = Pump(produce)
    pump.start()
    assert pump.first(5) == b"started"
    frames = list(_frames(pump, ping_seconds=5, stop_at=0.0, abandon_at=0.0, on_abandon=abandon))
    assert frames == [b"started", b"error: gave up"]
    assert reasons == ["deadline"] and pump.stop_signal.is_set()


def test_a_full_queue_makes_the_producer_wait_for_the_writer() -> None:
    emitted: list[int] = []
    done = threading.Event()

    def produce(emit: Emit, stop: threading.Event) -> None:
        for n in range(10):
            emit(str(n))
            emitted.append(n)
        done.set()

    pump = Pump(produce, max_pending=2)
    pump.start()
    assert not done.wait(0.3)  # nobody reads: the producer is held back
    assert len(emitted) <= 3
    assert list(_frames(pump, ping_seconds=5)) == [str(n).encode() for n in range(10)]
    assert done.is_set()


def test_a_producer_failing_after_its_first_frame_fails_the_writer_after_that_frame() -> None:
    def produce(emit: Emit, stop: threading.Event) -> None:
        emit("partial")
        raise RuntimeError("broken")

    pump = Pump(produce)
    pump.start()
    out = _frames(pump, ping_seconds=5)
    assert next(out) == b"partial"
    with pytest.raises(RuntimeError, match="broken"):
        next(out)


def test_a_failure_before_the_first_frame_is_raised_by_first() -> None:
    def produce(emit: Emit, stop: threading.Event) -> None:
        raise LookupError("no such session")

    pump = Pump(produce)
    pump.start()
    with pytest.raises(LookupError, match="no such session"):
        pump.first(5)


def test_closing_the_writer_stops_the_producer_and_waits_for_it() -> None:
    cleaned = threading.Event()

    def produce(emit: Emit, stop: threading.Event) -> None:
        try:
            while not stop.wait(0.01):
                emit("tick")
        finally:
            cleaned.set()

    pump = Pump(produce)
    pump.start()
    out = _frames(pump, ping_seconds=5, grace_seconds=5)
    assert next(out) == b"tick"
    out.close()  # what the runtime does when a write fails
    assert cleaned.is_set() and pump.reason == "disconnected" and not pump.running


def test_the_sse_seam_sets_cancel_at_stop_at_and_sends_the_generators_final_event() -> None:
    """What a streamed route gets from ``sse_response``: its generator learns the deadline is
    near through ``cancel`` and ends with its own last event, which still goes out."""
    import time

    from code_exec.streaming import frame, sse_response

    cancel = threading.Event()

    def events() -> Any:
        yield frame("message_start", {})
        assert cancel.wait(10)
        yield frame("message_delta", {"delta": {"stop_reason": "pause_turn"}})

    response = sse_response(events(), cancel=cancel, stop_at=time.monotonic() + 0.05)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    body = b"".join(response.chunks())
    assert body.startswith(b"event: message_start\n") and b'"pause_turn"' in body


def test_closing_a_body_never_iterated_stops_the_producer_and_runs_its_cleanup() -> None:
    """The runtime's first write failed: the body was never asked for a frame. Closing it
    still stops the producer (which was blocked on the full queue) and waits for its
    cleanup."""
    cleaned = threading.Event()

    def produce(emit: Emit, stop: threading.Event) -> None:
        try:
            for n in range(100):
                emit(str(n))
        finally:
            cleaned.set()

    pump = Pump(produce, max_pending=2)
    pump.start()
    body = _frames(pump, ping_seconds=5, grace_seconds=10)
    body.close()
    assert cleaned.is_set() and not pump.running
    assert pump.reason == "disconnected" and pump.stop_signal.is_set()
    body.close()  # idempotent


def test_a_producer_never_waits_for_room_past_the_abandon_time() -> None:
    """The writer is stuck (it never takes a frame, e.g. blocked in a write): at
    ``abandon_at`` on the pump's clock the producer stops waiting, drops its frames and
    ends, so its cleanup runs even though nobody closes the body."""
    now = [0.0]
    done = threading.Event()

    def produce(emit: Emit, stop: threading.Event) -> None:
        for n in range(10):
            emit(str(n))
        done.set()

    pump = Pump(produce, max_pending=1, clock=lambda: now[0])
    pump.start()
    _frames(pump, ping_seconds=5, abandon_at=100.0)  # the writer never reads it
    assert pump.running and not done.is_set()  # held back by the full queue
    now[0] = 100.0
    assert done.wait(10), "the producer still waits for room past the abandon time"
    assert pump.join(10) and pump.dropping and pump.reason == "deadline"
