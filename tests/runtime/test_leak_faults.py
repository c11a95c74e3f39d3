"""Fault injection: whatever breaks, one sweep leaves no sandbox session READY.

Each fault is driven through the REAL job state machine (moto) and our handlers
(``LambdaAdapter``), against an emulator of this module's own, so "READY sessions" is the
emulator's own count (``/_emulator/health``) and a restart does not disturb other tests.
Each test first asserts how many sessions the fault left READY (the window the sweeper
closes), then runs one sweep: the one the schedule runs once the grace period has passed
(and, where a dead job still looks RUNNING, once its deadline has passed too).

| fault | READY before the sweep | after |
|---|---|---|
| the job Lambda is killed right after StartCodeInterpreterSession returns | 1 | 0 |
| Cleanup raises on every attempt (the job Lambda timed out mid-cell) | 1 | 0 |
| the emulator restarts in the middle of a cell | 0 | 0 |
| DynamoDB refuses every write once the session has started | 0 | 0 |
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from code_exec.agent import AgentRun
from code_exec.jobs import EXECUTION_STATUS_CHANGE
from code_exec.models import AgentResult
from code_exec.store import JobStatus
from code_exec.sweeper import Sweeper, SweepReport

from devtools.fault_injection import sleeps_skipped
from devtools.lambda_adapter import LambdaAdapter, LambdaContext
from tests import plugin_sandbox

from .conftest import ACCOUNT, REGION, STATE_MACHINE_NAME, ApiClient, create_job_machine
from .own_emulator import RestartableEmulator

pytestmark = [pytest.mark.sandbox, pytest.mark.slow(seconds=12)]


class LambdaKilled(Exception):
    """Unwinds a handler thread the test has declared dead (Lambda would have frozen it)."""


@pytest.fixture(scope="module")
def emulator() -> Iterator[RestartableEmulator]:
    plugin_sandbox.require(plugin_sandbox.sandbox_problem())
    running = RestartableEmulator()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def fault_api(
    handler: Any, emulator: RestartableEmulator, agent_template: dict[str, Any]
) -> Iterator[ApiClient]:
    # Retry waits (the state machine's Cleanup retries: 2 + 4 + 8 s) are recorded, not slept:
    # what is checked is what the attempts leave behind, not how long they waited.
    with pytest.MonkeyPatch.context() as mp, sleeps_skipped():
        mp.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", emulator.url)
        handler.services.reset()
        create_job_machine(agent_template)
        yield ApiClient(handler)
        handler.services.reset()


@pytest.fixture
def services(fault_api: ApiClient, emulator: RestartableEmulator) -> Iterator[Any]:
    services = fault_api.handler.services
    services.reset()
    assert emulator.ready_sessions() == 0
    yield services
    services.reset()


def _job_fn(template: dict[str, Any]) -> str:
    return LambdaAdapter(template).by_role("job_handler")


def _execution_ended(job_id: str, timeout: float = 90) -> str:
    arn = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{STATE_MACHINE_NAME}:{job_id}"
    sfn = boto3.client("stepfunctions", region_name=REGION)
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = str(sfn.describe_execution(executionArn=arn)["status"])
        if status != "RUNNING":
            return status
        time.sleep(0.2)
    raise AssertionError(f"the execution of job {job_id} did not end")


def _sweep(services: Any, *, later_by: float = 0.0) -> SweepReport:
    """One sweep, past the grace period (and ``later_by`` seconds later than now)."""
    return Sweeper(services, grace_seconds=0, clock=lambda: time.time() + later_by).sweep()


def _answer(request: Any) -> AgentRun:
    result = AgentResult(text="done", loop=request.loop, model_id="m", stop_reason="end_turn")
    return AgentRun(result=result, history=[])


class _AfterStart:
    """The agentcore client, running ``then`` in a job Lambda right after a session starts."""

    def __init__(self, client: Any, then: Any) -> None:
        self._client, self._then = client, then
        self.started = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def start_code_interpreter_session(self, **kwargs: Any) -> Any:
        resp = self._client.start_code_interpreter_session(**kwargs)
        if threading.current_thread().name.startswith("lambda-"):
            self.started.set()
            self._then()
        return resp


def test_the_job_lambda_killed_right_after_the_session_starts(
    fault_api: ApiClient,
    services: Any,
    emulator: RestartableEmulator,
    agent_template: dict[str, Any],
) -> None:
    """Between StartCodeInterpreterSession and recording the session, the job Lambda dies:
    nothing records the session's id, so the cleanup step cannot stop it; its name does."""
    dead = threading.Event()

    def die() -> None:
        dead.wait(120)  # the frozen Lambda never runs another line of its own
        raise LambdaKilled("the job Lambda was killed")

    killer = _AfterStart(services.agentcore, die)
    services.override(agentcore=killer, run_agent=lambda request, *, deps: _answer(request))
    time_is_up = threading.Event()
    try:
        with LambdaAdapter(agent_template, timeouts={_job_fn(agent_template): time_is_up}):
            accepted = fault_api.submit_job(prompt="What is 6 x 7?", loop="converse")
            job_id = accepted.body["job_id"]
            assert killer.started.wait(30)
            time_is_up.set()
            assert _execution_ended(job_id) == "FAILED"
        job = services.store.get_job(job_id)
        assert (job.status, job.sandbox_session_id) == (JobStatus.FAILED, None)

        assert emulator.ready_sessions() == 1  # leaked: nobody recorded it
        report = _sweep(services)
        assert len(report.stopped) == 1
        assert emulator.ready_sessions() == 0
    finally:
        dead.set()


def test_cleanup_raising_on_every_attempt(
    fault_api: ApiClient,
    services: Any,
    emulator: RestartableEmulator,
    agent_template: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The job Lambda times out mid-cell, and every cleanup attempt raises: the state
    machine's four (one try, three retries) and the failed-executions rule's."""
    entered, dead = threading.Event(), threading.Event()

    def stuck(request: Any, *, deps: Any) -> AgentRun:
        entered.set()
        dead.wait(120)  # a cell that outlives the Lambda
        raise LambdaKilled("the job Lambda was killed")

    attempts: list[dict[str, Any]] = []

    def broken(event: dict[str, Any]) -> dict[str, Any]:
        attempts.append(event)
        raise RuntimeError("the cleanup step is broken")

    from code_exec.functions import cleanup_function

    monkeypatch.setattr(cleanup_function.cleanup, "cleanup", broken)
    services.override(run_agent=stuck)
    time_is_up = threading.Event()
    try:
        with LambdaAdapter(agent_template, timeouts={_job_fn(agent_template): time_is_up}):
            accepted = fault_api.submit_job(prompt="What is 6 x 7?", loop="converse")
            job_id = accepted.body["job_id"]
            assert entered.wait(30)
            time_is_up.set()
            assert _execution_ended(job_id) == "FAILED"
        event = {
            "detail-type": EXECUTION_STATUS_CHANGE,
            "source": "aws.states",
            "detail": {"name": job_id, "status": "FAILED", "error": "RuntimeError"},
        }
        with pytest.raises(RuntimeError):  # the rule's delivery fails as well
            cleanup_function.cleanup_handler(event, LambdaContext())
        assert len(attempts) == 5
        job = services.store.get_job(job_id)
        assert job.status == JobStatus.RUNNING and job.sandbox_session_id  # never cleaned up

        assert emulator.ready_sessions() == 1  # leaked: its job still looks RUNNING
        assert _sweep(services).stopped == []  # ... and holds it until its deadline
        assert job.deadline is not None
        report = _sweep(services, later_by=job.deadline - time.time() + 1)
        assert report.stopped == [job.sandbox_session_id]
        assert emulator.ready_sessions() == 0
    finally:
        dead.set()


def test_the_emulator_restarting_in_the_middle_of_a_cell(
    fault_api: ApiClient,
    services: Any,
    emulator: RestartableEmulator,
    agent_template: dict[str, Any],
) -> None:
    """A job in a named session runs a real cell; the service restarts under it. The job
    fails, the session id answers 410 afterwards, and nothing is left running."""
    entered = threading.Event()

    def long_cell(request: Any, *, deps: Any) -> AgentRun:
        entered.set()
        deps.sandbox.run_cell(deps.sandbox_session_id, "import time\ntime.sleep(30)")
        return _answer(request)

    services.override(run_agent=long_cell)
    with LambdaAdapter(agent_template):
        accepted = fault_api.submit_job(
            prompt="What is 6 x 7?", loop="converse", session_id="restarted"
        )
        job_id = accepted.body["job_id"]
        assert entered.wait(30)
        time.sleep(1.0)  # the cell is running
        emulator.restart()
        assert _execution_ended(job_id) == "FAILED"
    job = services.store.get_job(job_id)
    assert job.status == JobStatus.FAILED and job.error is not None

    assert emulator.ready_sessions() == 0  # the sessions ended with the process
    assert _sweep(services).stopped == []
    assert emulator.ready_sessions() == 0
    later = fault_api.execute("restarted", code="print(1)")
    assert (later.status, later.error["code"]) == (410, "SessionExpired")


class _ThrottledWrites:
    """DynamoDB whose every write is refused (as after botocore's own retries) once ``on``."""

    _WRITES = ("put_item", "update_item", "delete_item")

    def __init__(self, client: Any) -> None:
        self._client = client
        self.on = threading.Event()
        self.refused = 0

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._client, name)
        if name not in self._WRITES:
            return call

        def write(**kwargs: Any) -> Any:
            if self.on.is_set():
                self.refused += 1
                error = {
                    "Error": {
                        "Code": "ProvisionedThroughputExceededException",
                        "Message": "The level of configured provisioned throughput is exceeded",
                    }
                }
                raise ClientError(error, name.title().replace("_", ""))
            return call(**kwargs)

        return write


def test_dynamodb_refusing_writes_once_the_session_has_started(
    fault_api: ApiClient,
    services: Any,
    emulator: RestartableEmulator,
    agent_template: dict[str, Any],
) -> None:
    """A job in a named session: the lease is taken, the sandbox session starts, then every
    write fails (the session record, the lease release, the job's status, the cleanup)."""
    table = _ThrottledWrites(services.dynamodb)
    starts = _AfterStart(services.agentcore, table.on.set)
    services.override(
        dynamodb=table, agentcore=starts, run_agent=lambda request, *, deps: _answer(request)
    )
    try:
        with LambdaAdapter(agent_template):
            accepted = fault_api.submit_job(
                prompt="What is 6 x 7?", loop="converse", session_id="throttled"
            )
            job_id = accepted.body["job_id"]
            assert starts.started.wait(30)
            assert _execution_ended(job_id) == "FAILED"
        assert table.refused >= 5  # save, release, the job's status, cleanup's attempts
        assert services.store.get_job(job_id).status == JobStatus.RUNNING  # never written

        assert emulator.ready_sessions() == 0  # stopped at once: it could not be recorded
        assert _sweep(services).stopped == []  # the sweep needs no write
        assert emulator.ready_sessions() == 0
    finally:
        table.on.clear()
