"""Acceptance (§1.7): with the emulator throttling ``InvokeCodeInterpreter`` at 0.3 calls/s per
account (scaled: see below), 4 concurrent ``POST /sessions/*/execute`` each answer within API
Gateway's 29 s with 200 or a JSON 429/503 carrying ``Retry-After``.

"Within 29 s" is proven through the deadline, not the wall clock of a shared machine: every
request's deadline is computed for the 29 s budget at its entry, every sleep made while a
request ran (the sandbox retry loop's, botocore's) ended before that request's deadline, and
every HTTP call's timeout (connect + read, urllib3's ``total``) ended before its final instant.
The longest real answer time is printed (``-s``), not asserted.

The buffered budget is scaled down to :data:`BUDGET` (it stands for API Gateway's 29 s,
``code_exec.deadline.BUFFERED_BUDGET_SECONDS``, whose real value ``test_deadline`` checks),
and the rate up by as much (as many calls fit in one budget): the throttled requests retry
until their deadline, so the test lasts about as long as the budget; what is proven (every
request's deadline is computed for the route's budget, and binds every sleep and every
timeout) does not depend on its size.

Each request runs in its own copy of the handler module (as separate Lambda execution
environments: own resolver, own clients), in its own thread, all at once.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pytest
from code_exec import clients, deadline
from code_exec.deadline import ANSWER_MARGIN_SECONDS, BUFFERED_BUDGET_SECONDS, Deadline

from devtools.handler_copies import handler_copy
from devtools.lambda_adapter import LambdaContext

from .conftest import load_event

pytestmark = [pytest.mark.sandbox, pytest.mark.slow(seconds=12, waits=True)]

HANDLER = "code_exec.api.handler"
REQUESTS = 4
# the buffered route's budget here (API Gateway's 29 s in production): still room for retries
# after the answer margin and the cleanup grace are kept back
BUDGET = 12.0
# InvokeCodeInterpreter calls a second, for the whole account: the acceptance's 0.3 over 29 s,
# scaled with the budget so that as many calls fit in one (8.7)
RATE_PER_ACCOUNT = 0.3 * BUFFERED_BUDGET_SECONDS / BUDGET
# what a throttled or late request may answer (all 429/503 with Retry-After)
_RETRYABLE = ("SandboxThrottled", "SandboxInternalError", "SandboxTimeout", "DeadlineExceeded")
EPSILON = 0.01  # seconds: rounding between reading the clock and computing a bound


@pytest.fixture(scope="module")
def throttled_url() -> Iterator[str]:
    """An emulator of its own, throttling at 0.3 calls/s per account."""
    from emulators.code_interpreter.spawn import EmulatorStartError, start_emulator
    from tests import plugin_sandbox

    plugin_sandbox.require(plugin_sandbox.sandbox_problem())
    try:
        emulator = start_emulator(
            start_timeout=30.0,
            die_with_parent=True,
            cell_timeout=5,
            max_sessions=16,
            warm_pool=REQUESTS,
            workspace_mb=64,
            memory_mb=1024,
            max_processes=64,
            max_rps_per_account=RATE_PER_ACCOUNT,
            unisolated=False,
            check_responses=True,
        )
    except EmulatorStartError as e:
        pytest.fail(str(e))
    with emulator:
        yield emulator.url


@dataclass
class Trace:
    """What happened under each request's deadline (keyed by the deadline object's id)."""

    entries: dict[int, tuple[Deadline, float]] = field(default_factory=dict)
    sleeps: list[tuple[Deadline, float, float]] = field(default_factory=list)
    timeouts: list[tuple[Deadline, float, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def trace(monkeypatch: pytest.MonkeyPatch) -> Trace:
    """Record every request's deadline as it is made, every sleep and every HTTP timeout."""
    t = Trace()
    make, real_sleep, clone = Deadline.for_invocation, time.sleep, clients._DeadlineTimeout.clone

    def for_invocation(*args: Any, **kwargs: Any) -> Deadline:
        entered = time.monotonic()
        d = make(*args, **kwargs)
        with t.lock:
            t.entries[id(d)] = (d, entered)
        return d

    def sleep(seconds: float) -> None:
        d = deadline.current()
        if d is not None:
            with t.lock:
                t.sleeps.append((d, time.monotonic(), seconds))
        real_sleep(seconds)

    def recorded_clone(self: Any) -> Any:
        d, start = deadline.current(), time.monotonic()
        timeout = clone(self)
        if d is not None:
            with t.lock:
                t.timeouts.append((d, start, timeout))
        return timeout

    monkeypatch.setattr(Deadline, "for_invocation", for_invocation)
    monkeypatch.setattr(time, "sleep", sleep)
    monkeypatch.setattr(clients._DeadlineTimeout, "clone", recorded_clone)
    return t


def _execute(module: ModuleType, session_id: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    event = load_event("sessions_execute")
    event["body"] = json.dumps({"code": "print(6 * 7)"})
    event["pathParameters"] = {"session_id": session_id}
    event["path"] = f"/sessions/{session_id}/execute"
    event["requestContext"]["path"] = "/prod" + event["path"]
    raw = module.api_handler(event, LambdaContext(remaining_ms=29_000))
    headers = dict(raw.get("headers") or {})
    for k, values in (raw.get("multiValueHeaders") or {}).items():
        headers.setdefault(k, values[-1])
    return raw["statusCode"], json.loads(raw["body"]), headers


def _throttled_total(url: str) -> int:
    with urllib.request.urlopen(f"{url}/_emulator/health", timeout=10) as r:
        return int(json.loads(r.read())["throttled"])


def test_four_concurrent_executes_answer_before_the_gateway_with_200_or_429_503(
    aws: None, throttled_url: str, trace: Trace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", throttled_url)
    modules = [handler_copy(HANDLER, f"{HANDLER}<throttled-{n}>") for n in range(REQUESTS)]
    assert BUDGET < BUFFERED_BUDGET_SECONDS
    for module in modules:
        monkeypatch.setattr(module, "BUFFERED_BUDGET_SECONDS", BUDGET)
    answers: dict[int, tuple[int, dict[str, Any], dict[str, str], float]] = {}
    go = threading.Barrier(REQUESTS)

    def run(n: int) -> None:
        go.wait()
        start = time.monotonic()
        status, body, headers = _execute(modules[n], f"throttled-{n}")
        answers[n] = (status, body, headers, time.monotonic() - start)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(REQUESTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(answers) == list(range(REQUESTS))

    # every answer: 200 with the output, or a JSON 429/503 that says when to come back
    for status, body, headers, _ in answers.values():
        assert status in (200, 429, 503), body
        if status == 200:
            assert body["stdout"] == "42\n"
        else:
            assert body["error"]["code"] in _RETRYABLE, body
            assert int(headers["Retry-After"]) >= 1
    assert _throttled_total(throttled_url) > 0  # the rate limit was really met

    # every request ran under a deadline computed for the route's budget from its entry
    assert len(trace.entries) == REQUESTS
    for d, entered in trace.entries.values():
        answer_by = d.at + d.grace + ANSWER_MARGIN_SECONDS
        assert answer_by <= entered + BUDGET + EPSILON
    # ... no sleep went past it (retries back off only within the work time) ...
    assert trace.sleeps, "throttled requests retried (and slept) under their deadline"
    for d, start, seconds in trace.sleeps:
        assert id(d) in trace.entries
        assert start + seconds <= d.at + EPSILON
    # ... and no HTTP call could wait past its final instant (connect + read together)
    assert trace.timeouts
    for d, start, timeout in trace.timeouts:
        assert start + timeout.total <= d.at + d.grace + EPSILON

    longest = max(a[3] for a in answers.values())
    statuses = sorted(a[0] for a in answers.values())
    print(f"\nthrottled execute: statuses {statuses}, longest answer {longest:.2f} s")
