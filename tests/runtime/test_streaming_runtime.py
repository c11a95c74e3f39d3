"""The streaming runtime's Runtime API loop, over real sockets, against the Runtime API double.

The loop under test is the one the streaming function runs (``code_exec.streaming.runtime``);
the double (``devtools.runtime_api``) plays Lambda: it answers ``/next``, reads the
streamed ``/response`` as it arrives, splits API Gateway's prelude from the payload, and
records errors. One test starts the loop the way Lambda does: through the exec wrapper.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from code_exec.streaming import StreamedResponse, frame, sse_response
from code_exec.streaming.runtime import main, serve
from code_exec.streaming.runtime_api import RuntimeApi

from devtools.local_server import BOOTSTRAP, TASK_ROOT
from devtools.runtime_api import FakeRuntimeApi


def _serving(
    api: FakeRuntimeApi, handler: Callable[..., Any], invocations: int
) -> threading.Thread:
    thread = threading.Thread(
        target=serve, args=(RuntimeApi(api.address), handler), kwargs={"invocations": invocations}
    )
    thread.daemon = True
    thread.start()
    return thread


def test_an_ended_invocation_leaves_no_deadline_timer_waiting() -> None:
    """The double cuts a response at its deadline with a timer; one that ended stops it (a
    test run makes hundreds of invocations with a 900 s deadline)."""

    def handler(event: Any, context: Any) -> StreamedResponse:
        return StreamedResponse(200, iter([b"done"]), {}, [])

    with FakeRuntimeApi() as api:
        thread = _serving(api, handler, 1)
        pending = api.invoke({})
        assert pending.reply(10).body(10) == b"done"
        thread.join(10)
        timer = pending._deadline_timer
        assert timer is not None
        timer.join(10)
        assert not timer.is_alive()
        assert not pending.result.timed_out


def test_a_response_is_a_chunked_stream_with_the_documented_headers_and_the_prelude_first() -> None:
    def handler(event: Any, context: Any) -> StreamedResponse:
        body = [b"hello ", b"", json.dumps(event).encode()]  # the empty chunk is skipped
        return StreamedResponse(201, iter(body), {"content-type": "text/plain"}, ["a=b"])

    with FakeRuntimeApi() as api:
        thread = _serving(api, handler, 1)
        reply = api.invoke({"n": 1}).reply(10)
        assert reply.body(10) == b'hello {"n": 1}'
        thread.join(10)
    headers = reply.request_headers
    assert headers["Lambda-Runtime-Function-Response-Mode"] == "streaming"
    assert headers["Transfer-Encoding"] == "chunked"
    assert headers["Content-Type"] == "application/vnd.awslambda.http-integration-response"
    assert headers["Trailer"] == (
        "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body"
    )
    assert "Content-Length" not in headers
    assert (reply.status_code, reply.headers, reply.cookies) == (
        201,
        {"content-type": "text/plain"},
        ["a=b"],
    )
    assert not reply.failed and reply.trailers == {}


def test_each_chunk_reaches_the_reader_while_the_handler_is_still_producing() -> None:
    read_first = threading.Event()

    def body() -> Iterator[bytes]:
        yield b"first"
        assert read_first.wait(10), "the first chunk was not delivered before the second"
        yield b"second"

    with FakeRuntimeApi() as api:
        _serving(api, lambda e, c: StreamedResponse(200, body()), 1)
        chunks = api.invoke({}).reply(10).chunks(10)
        assert next(chunks) == b"first"
        read_first.set()
        assert list(chunks) == [b"second"]


def test_a_body_failing_after_its_first_byte_ends_with_error_trailers() -> None:
    def body() -> Iterator[bytes]:
        yield b"partial"
        raise ValueError("the model stream broke")

    with FakeRuntimeApi() as api:
        _serving(api, lambda e, c: StreamedResponse(200, body()), 1)
        reply = api.invoke({}).reply(10)
        assert reply.body(10) == b"partial"
    assert reply.status_code == 200 and reply.failed
    assert reply.trailers["Lambda-Runtime-Function-Error-Type"] == "ValueError"
    error = json.loads(base64.b64decode(reply.trailers["Lambda-Runtime-Function-Error-Body"]))
    assert error["errorMessage"] == "the model stream broke"


def test_a_handler_failing_before_its_first_byte_is_an_invocation_error_and_the_loop_goes_on() -> (
    None
):
    def handler(event: Any, context: Any) -> StreamedResponse:
        if event.get("fail"):
            raise KeyError("boom")
        return StreamedResponse(200, iter([b"ok"]))

    with FakeRuntimeApi() as api:
        thread = _serving(api, handler, 2)
        failed = api.invoke({"fail": True}).reply(10)
        served = api.invoke({"fail": False}).reply(10)
        assert served.body(10) == b"ok"
        thread.join(10)
    assert failed.status_code is None
    assert failed.error is not None
    assert (failed.error["errorType"], failed.error["header_type"]) == ("KeyError", "KeyError")


def test_a_handler_returning_something_else_is_an_invocation_error() -> None:
    with FakeRuntimeApi() as api:
        _serving(api, lambda e, c: {"statusCode": 200, "body": "buffered"}, 1)
        reply = api.invoke({}).reply(10)
    assert reply.error is not None and reply.error["errorType"] == "TypeError"


def test_the_context_has_the_request_id_arn_and_remaining_time_from_the_deadline() -> None:
    seen: dict[str, Any] = {}

    def handler(event: Any, context: Any) -> StreamedResponse:
        seen.update(
            request_id=context.aws_request_id,
            arn=context.invoked_function_arn,
            remaining=context.get_remaining_time_in_millis(),
            trace=os.environ.get("_X_AMZN_TRACE_ID"),
        )
        return StreamedResponse(200, iter([b"."]))

    with FakeRuntimeApi(function_timeout=120) as api:
        _serving(api, handler, 1)
        pending = api.invoke({})
        pending.reply(10).body(10)
    assert seen["request_id"] == pending.request_id
    assert seen["arn"] == api.function_arn
    assert 110_000 < seen["remaining"] <= 120_000
    assert seen["trace"].startswith("Root=1-")


def test_a_reader_that_goes_away_closes_the_body_and_the_generator_stops_at_its_yield() -> None:
    """The Runtime API connection is cut (as when the client disconnects): the next write
    fails, the runtime closes the body, the SSE seam stops pulling, sets ``cancel`` and closes
    the generator at the yield it waits on, before the invocation ends."""
    finished = threading.Event()
    cancels: list[threading.Event] = []
    produced: list[list[int]] = []

    def events(mine: list[int]) -> Iterator[bytes]:
        try:
            for n in range(1000):
                mine.append(n)
                yield frame("n", {"n": n})
                time.sleep(0.05)
        finally:
            finished.set()

    def handler(event: Any, context: Any) -> StreamedResponse:
        cancels.append(threading.Event())
        produced.append([])
        return sse_response(events(produced[-1]), cancel=cancels[-1], ping_seconds=0.05)

    with FakeRuntimeApi() as api:
        thread = _serving(api, handler, 2)
        pending = api.invoke({})
        chunks = pending.reply(10).chunks(10)
        assert next(chunks).startswith(b"event: n\n")
        pending.cancel()
        assert finished.wait(10), "the generator was not closed after the disconnect"
        assert cancels[0].is_set()
        # the runtime is free again: the next invocation is served
        following = api.invoke({})
        assert following.reply(10).status_code == 200
        following.cancel()
        thread.join(15)
    assert len(produced[0]) < 100


@pytest.mark.parametrize("fault", ["unreachable", "cut before the prelude", "cut mid-stream"])
def test_a_failed_response_write_stops_the_producer_and_its_cleanup_runs_before_the_end(
    fault: str,
) -> None:
    """Whichever write fails (the first: the Runtime API cannot be reached, or the client
    left before the prelude; or a later one), the runtime closes the response: the producer
    is asked to stop (``cancel``), what it still emits is dropped (it never waits on a full
    queue), its generator is closed and its ``finally`` (a lease release, a sandbox stop)
    runs, all before the invocation ends."""
    released = threading.Event()
    cancel = threading.Event()
    produced: list[int] = []

    def events() -> Iterator[bytes]:
        try:
            for n in range(100_000):  # far more than the pump queues
                produced.append(n)
                yield frame("n", {"n": n})
        finally:
            released.set()

    def handler(event: Any, context: Any) -> StreamedResponse:
        response = sse_response(events(), cancel=cancel, ping_seconds=5)
        if fault == "unreachable":
            api.go_away()
        elif fault == "cut before the prelude":
            api._pending[context.aws_request_id].cancel()
        return response

    with FakeRuntimeApi() as api:
        thread = _serving(api, handler, 1)
        pending = api.invoke({})
        if fault == "cut mid-stream":
            assert next(pending.reply(10).chunks(10)).startswith(b"event: n\n")
            pending.cancel()
        thread.join(30)
        assert not thread.is_alive(), "the invocation did not end"
        assert released.is_set(), "the producer's cleanup had not run when the invocation ended"
    assert cancel.is_set()
    assert len(produced) < 100_000


def test_a_response_whose_metadata_cannot_be_sent_stops_its_producer_too() -> None:
    """Headers over API Gateway's 16 KiB: an invocation error, and the producer the handler
    already started is stopped and cleaned up before the invocation ends."""
    released = threading.Event()

    def events() -> Iterator[bytes]:
        try:
            for n in range(100_000):
                yield frame("n", {"n": n})
        finally:
            released.set()

    def handler(event: Any, context: Any) -> StreamedResponse:
        return sse_response(events(), headers={"x-big": "x" * 20_000}, ping_seconds=5)

    with FakeRuntimeApi() as api:
        thread = _serving(api, handler, 1)
        reply = api.invoke({}).reply(10)
        thread.join(30)
        assert not thread.is_alive()
        assert released.is_set(), "the producer's cleanup had not run when the invocation ended"
    assert reply.error is not None and reply.error["errorType"] == "PreludeError"


def test_a_reader_that_goes_away_while_nothing_is_written_stops_the_producer_at_once() -> None:
    """The producer is busy (a long command) and the next ping is a minute away: the
    connection being cut is seen without a write, and ``cancel`` is set for the producer,
    which then ends; the invocation ends with it."""
    cancel = threading.Event()
    ended = threading.Event()

    def events() -> Iterator[bytes]:
        try:
            yield frame("n", {"n": 0})
            cancel.wait(60)  # a long command that watches its request's cancel
            yield frame("n", {"n": 1})
        finally:
            ended.set()

    def handler(event: Any, context: Any) -> StreamedResponse:
        return sse_response(events(), cancel=cancel, ping_seconds=60)

    with FakeRuntimeApi() as api:
        thread = _serving(api, handler, 1)
        pending = api.invoke({})
        assert next(pending.reply(10).chunks(10)).startswith(b"event: n\n")
        pending.cancel()
        assert cancel.wait(10), "the producer was not told that its reader left"
        assert ended.wait(10)
        thread.join(15)
        assert not thread.is_alive()


def test_a_handler_that_does_not_load_is_an_init_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeRuntimeApi() as api:
        monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", api.address)
        monkeypatch.setenv("_HANDLER", "code_exec.no_such_module.handler")
        assert main() == 1
    [error] = api.init_errors
    assert error["errorType"] == "Runtime.ModuleNotFoundError"
    assert "no_such_module" in error["errorMessage"]


def test_the_exec_wrapper_runs_the_loop_on_the_interpreter_lambda_gives_it() -> None:
    """Lambda starts ``$AWS_LAMBDA_EXEC_WRAPPER <interpreter> <runtime args...>``: the wrapper
    in the repository (executable, as bundled) must start our loop with that interpreter and
    the real streaming handler, which answers a bad request with a 400 naming the field."""
    assert os.access(BOOTSTRAP, os.X_OK)
    with FakeRuntimeApi() as api:
        env = {
            **os.environ,
            "AWS_LAMBDA_RUNTIME_API": api.address,
            "_HANDLER": "code_exec.api.streamed.stream_handler",
            "LAMBDA_TASK_ROOT": str(TASK_ROOT),
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
        proc = subprocess.Popen(
            [str(BOOTSTRAP), sys.executable, "/var/runtime/bootstrap.py"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            event = {
                "resource": "/invoke/stream",
                "path": "/invoke/stream",
                "httpMethod": "POST",
                "headers": {},
                "requestContext": {"requestId": "r1"},
                "body": json.dumps({"loop": "converse"}),
            }
            reply = api.invoke(event).reply(60)
            body = json.loads(reply.body(10))
        finally:
            proc.terminate()
            _, stderr = proc.communicate(timeout=10)
    assert reply.status_code == 400 and reply.headers["content-type"] == "application/json"
    assert body["error"]["field"] == "prompt"
    assert f"streaming runtime: {sys.executable}".encode() in stderr
