"""One deadline per request (``code_exec.deadline``): how it is computed, how it reaches a
thread, and that the sandbox retry loop and the boto3 clients never outlive it.

Time is an injected clock everywhere a bound is asserted; the one real wait (a loopback
server that never answers) asserts which error ends the call, not how long it took.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError
from code_exec import clients, deadline
from code_exec.deadline import MIN_ATTEMPT_SECONDS, Deadline, bound
from code_exec.exceptions import (
    DeadlineExceededError,
    SandboxInternalError,
    SandboxThrottledError,
)
from code_exec.sandbox.errors import Attempt, retrying
from code_exec.streaming.pump import Pump

from devtools.lambda_adapter import LambdaContext


class FakeClock:
    """Monotonic seconds that move only when something sleeps."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


# --- the deadline itself -------------------------------------------------------------------


def test_a_buffered_route_answers_before_api_gateways_29_s() -> None:
    clock = FakeClock()
    d = Deadline.for_invocation(
        LambdaContext(remaining_ms=29_000),
        budget=deadline.BUFFERED_BUDGET_SECONDS,
        grace=deadline.BUFFERED_GRACE_SECONDS,
        clock=clock,
    )
    answer_by = d.at + d.grace + deadline.ANSWER_MARGIN_SECONDS - clock()
    assert answer_by == pytest.approx(29.0)
    assert d.remaining() == pytest.approx(24.5)  # work ends, then 3 s of cleanup, 1.5 s margin


def test_the_function_time_left_wins_when_it_is_shorter_than_the_budget() -> None:
    clock = FakeClock()
    d = Deadline.for_invocation(
        LambdaContext(remaining_ms=10_000), budget=29.0, grace=3.0, clock=clock
    )
    assert d.remaining() == pytest.approx(5.5)
    tiny = Deadline.for_invocation(
        LambdaContext(remaining_ms=2_000), budget=29.0, grace=3.0, clock=clock
    )
    assert (tiny.remaining(), tiny.final_remaining()) == (0.0, pytest.approx(0.5))


def test_a_streamed_route_has_the_functions_time() -> None:
    clock = FakeClock()
    d = Deadline.for_invocation(
        LambdaContext(remaining_ms=900_000), budget=None, grace=35.0, margin=10.0, clock=clock
    )
    assert d.remaining() == pytest.approx(855.0)
    assert Deadline.for_invocation(None, budget=None).remaining() == float("inf")


def test_check_raises_a_503_with_retry_after_once_expired() -> None:
    clock = FakeClock()
    d = Deadline.after(2.0, clock=clock)
    d.check()
    assert not d.expired
    clock.sleep(2.0)
    assert d.expired
    with pytest.raises(DeadlineExceededError) as e:
        d.check("the cell")
    assert (e.value.status, e.value.code, e.value.retry_after) == (503, "DeadlineExceeded", 5)
    assert "the cell" in e.value.message


def test_a_calls_timeout_is_cut_to_the_work_left_then_to_the_grace() -> None:
    clock = FakeClock()
    d = Deadline.after(10.0, grace=3.0, clock=clock)
    assert d.call_seconds(60.0) == 10.0
    assert d.call_seconds(4.0) == 4.0
    clock.sleep(10.5)  # past the work: cleanup calls get what the grace leaves
    assert d.call_seconds(60.0) == pytest.approx(2.5)
    clock.sleep(5.0)  # past everything: never 0 (urllib3 would not block at all)
    assert 0 < d.call_seconds(60.0) <= 0.01


def test_bound_sets_the_current_deadline_and_restores_the_outer_one() -> None:
    outer, inner = Deadline.after(100.0), Deadline.after(1.0)
    assert deadline.current() is None
    with bound(outer):
        with bound(inner):
            assert deadline.current() is inner
        assert deadline.current() is outer
    assert deadline.current() is None


def test_the_streamed_producer_thread_runs_under_the_requests_deadline() -> None:
    seen: list[Deadline | None] = []
    d = Deadline.after(30.0)

    def produce(emit: Any, stop: threading.Event) -> None:
        seen.append(deadline.current())
        emit(b"x")

    with bound(d):
        pump = Pump(produce)
    pump.start()
    assert pump.join(10.0)
    assert seen == [d]


# --- the sandbox retry loop ------------------------------------------------------------


def _always_throttled(calls: list[int]) -> Any:
    def once() -> None:
        calls.append(1)
        raise Attempt(SandboxThrottledError("Rate exceeded"), retry_safe=True)

    return once


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The retry loop's sleeps move this clock instead of waiting."""
    fake = FakeClock()
    monkeypatch.setattr("code_exec.sandbox.errors.time.sleep", fake.sleep)
    return fake


@pytest.fixture
def widest_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every backoff draws the longest sleep its window allows."""
    monkeypatch.setattr("code_exec.sandbox.errors.random.uniform", lambda lo, hi: hi)


@pytest.mark.usefixtures("widest_jitter")
def test_without_a_deadline_ten_throttled_attempts_sleep_about_47_s(clock: FakeClock) -> None:
    """The defect's arithmetic (§1.7): what the loop does when nothing bounds it."""
    calls: list[int] = []
    with pytest.raises(SandboxThrottledError):
        retrying(_always_throttled(calls), 5, 0.25, 8.0, 10, what="t")
    assert len(calls) == 10
    assert sum(clock.sleeps) == pytest.approx(47.5)


@pytest.mark.usefixtures("widest_jitter")
def test_the_retry_loop_never_sleeps_past_the_deadline(clock: FakeClock) -> None:
    calls: list[int] = []
    d = Deadline.after(24.5, grace=3.0, clock=clock)
    with bound(d), pytest.raises(SandboxThrottledError) as e:
        retrying(_always_throttled(calls), 5, 0.25, 8.0, 10, what="t")
    assert clock() <= d.at - MIN_ATTEMPT_SECONDS  # every sleep left time for an attempt
    assert sum(clock.sleeps) <= 24.5 - MIN_ATTEMPT_SECONDS
    assert 1 < len(calls) < 10  # it did retry, and it stopped for the deadline
    assert (e.value.status, e.value.retry_after) == (429, 5)


def test_a_throttled_call_with_2_s_left_answers_429_with_retry_after_quickly(
    clock: FakeClock,
) -> None:
    calls: list[int] = []
    d = Deadline.after(2.0, clock=clock)
    with bound(d), pytest.raises(SandboxThrottledError) as e:
        retrying(_always_throttled(calls), 5, 0.25, 8.0, 10, what="t")
    assert clock() - 1000.0 <= 2.0 - MIN_ATTEMPT_SECONDS  # answered with time to spare
    assert (e.value.status, e.value.retry_after) == (429, 5)


def test_an_expired_deadline_raises_the_first_failure_without_sleeping(
    clock: FakeClock,
) -> None:
    calls: list[int] = []

    def once() -> None:
        calls.append(1)
        raise Attempt(SandboxInternalError("internal"), retry_safe=True)

    with bound(Deadline.after(0.5, clock=clock)), pytest.raises(SandboxInternalError) as e:
        retrying(once, 5, 0.25, 8.0, what="t")
    assert (len(calls), clock.sleeps) == (1, [])
    assert (e.value.status, e.value.retry_after) == (503, 5)


# --- boto3 clients --------------------------------------------------------------------


def _ddb(attempts: int) -> Any:
    return clients.make(
        "dynamodb",
        config=Config(connect_timeout=5, read_timeout=60),
        attempts=attempts,
        region_name="us-east-1",
        endpoint_url="https://dynamodb.deadline.invalid",
    )


@pytest.fixture
def internal_errors() -> Iterator[tuple[Any, list[int]]]:
    """A DynamoDB client whose every HTTP attempt answers 500 (counted)."""
    client, sent = _ddb(attempts=2), []

    def answer(request: Any, **kwargs: Any) -> AWSResponse:
        sent.append(1)
        body = json.dumps({"__type": "InternalServerError", "message": "injected"}).encode()
        return AWSResponse(request.url, 500, {}, _Raw(body))

    client.meta.events.register("before-send.dynamodb.GetItem", answer)
    yield client, sent


class _Raw:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield self._data


def _get(client: Any) -> None:
    client.get_item(TableName="t", Key={"pk": {"S": "x"}})


def test_botocore_retries_while_the_deadline_allows(internal_errors: Any) -> None:
    client, sent = internal_errors
    with bound(Deadline(at=100.0, clock=lambda: 0.0)), pytest.raises(ClientError):
        _get(client)
    assert len(sent) == 2


def test_botocore_does_not_retry_when_the_backoff_would_pass_the_deadline(
    internal_errors: Any,
) -> None:
    client, sent = internal_errors
    with bound(Deadline(at=0.5, clock=lambda: 0.0)), pytest.raises(ClientError):
        _get(client)
    assert len(sent) == 1


def test_botocore_timeouts_are_cut_to_the_deadline() -> None:
    client = _ddb(attempts=1)
    pool = client._endpoint.http_session._manager.connection_from_url("https://x.invalid/")
    assert (pool.timeout.clone().connect_timeout, pool.timeout.clone().read_timeout) == (5, 60)
    with bound(Deadline(at=2.5, clock=lambda: 0.0)):
        per_request = pool.timeout.clone()
        assert (per_request.connect_timeout, per_request.read_timeout) == (2.5, 2.5)
        assert pool.timeout.connect_timeout == 2.5  # what a new connection is opened with


def test_a_call_to_a_server_that_never_answers_ends_at_the_deadline() -> None:
    """Loopback: the server accepts and never replies; the client's own read timeout is 60 s,
    the deadline's 0.3 s ends the call (a test timeout would catch the 60 s)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    client = clients.make(
        "dynamodb",
        config=Config(connect_timeout=5, read_timeout=60),
        attempts=1,
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{port}",
    )
    try:
        with bound(Deadline.after(0.3)), pytest.raises(ReadTimeoutError):
            _get(client)
    finally:
        server.close()


def test_bind_refuses_a_client_with_botocores_own_retries() -> None:
    import boto3

    plain = boto3.client("dynamodb", region_name="us-east-1", config=Config(retries={}))
    with pytest.raises(ValueError, match="total_max_attempts=1"):
        clients.bind(plain, attempts=3)


# --- an agent turn's cells ---------------------------------------------------------------


class _Cells:
    def __init__(self) -> None:
        self.timeouts: list[float | None] = []

    def run_cell(self, code: str, *, timeout_seconds: float | None = None) -> Any:
        from code_exec.sandbox import ExecutionResult

        self.timeouts.append(timeout_seconds)
        return ExecutionResult(stdout="ok\n")


def test_a_buffered_turns_cell_is_cut_to_the_requests_deadline() -> None:
    """/invoke (no stream): the cell's own 60 s limit is cut to what the deadline leaves, less
    the margin to answer, so the sandbox interrupts it before the call's timeout would."""
    from code_exec.loops.toolbox import CodeTool

    now = FakeClock()
    cells = _Cells()
    tool = CodeTool(cells, cell_timeout_seconds=60, clock=now)
    with bound(Deadline.after(10.0, clock=now)) as d:
        assert not tool.run("execute_code", {"code": "print('ok')"}).is_error
        now.sleep(9.0)  # 1 s left: less than the margin, the cell is not started
        outcome = tool.run("execute_code", {"code": "print('late')"})
    assert cells.timeouts == [pytest.approx(10.0 - deadline.CELL_MARGIN_SECONDS)]
    assert outcome.is_error and "Not run" in outcome.text
    assert d.remaining() == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["dynamodb", "s3", "stepfunctions", "bedrock", "agentcore"])
def test_every_client_the_services_build_is_bound_by_the_deadline(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from code_exec.services import Services

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = getattr(Services(), name)
    assert isinstance(client._endpoint.http_session._timeout, clients._DeadlineTimeout)
    retries = client.meta.config.retries
    assert (retries["mode"], retries["total_max_attempts"]) == ("standard", 1)
    with bound(Deadline(at=0.5, clock=lambda: 0.0)):
        pool = client._endpoint.http_session._manager.connection_from_url("https://x.invalid/")
        assert pool.timeout.clone().total == 0.5
