"""The sweeper decides, session by session, from the owner each session's name records.

Real sessions in the emulator (under an interpreter id of this module's own, so the
sweeps here see nothing else), real records in moto's DynamoDB, and a clock the tests move.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from code_exec.config import RuntimeConfig
from code_exec.jobs import EXECUTION_STATUS_CHANGE, Jobs
from code_exec.operations import Operations
from code_exec.owners import (
    Owner,
    job_owner,
    parse_owner,
    request_owner,
    session_owner,
    stream_owner,
)
from code_exec.services import Services
from code_exec.store import JobRecord, JobStatus
from code_exec.sweeper import STREAM_HOLD_SECONDS, Sweeper

from .conftest import BUCKET, REGION, TABLE

pytestmark = pytest.mark.sandbox

INTERPRETER = "sweeperTests"


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def services(aws: None, agentcore_client: Any, clock: Clock) -> Iterator[Services]:
    config = RuntimeConfig(
        code_interpreter_id=INTERPRETER,
        table_name=TABLE,
        files_bucket=BUCKET,
        session_ttl_seconds=3600,
    )
    s = Services(
        clock=clock,
        config=config,
        agentcore=agentcore_client,
        dynamodb=boto3.client("dynamodb", region_name=REGION),
        s3=boto3.client("s3", region_name=REGION),
    )
    yield s
    for summary in s.sessions.list_sessions():  # leave nothing READY behind
        s.sessions.stop_session(summary.session_id)


def _start(services: Services, owner: Owner | None, name: str | None = None) -> str:
    return str(services.sandbox.start_session(name=owner.name if owner else name))


def _ready(services: Services) -> set[str]:
    return {s.session_id for s in services.sessions.list_sessions(status="READY")}


def test_owner_names_round_trip_and_foreign_names_are_nobodys() -> None:
    owners = (session_owner("my-chat_1"), job_owner("ab12"), request_owner("cd34"))
    for owner in (*owners, stream_owner("ef56")):
        assert parse_owner(owner.name) == owner
        assert len(owner.name) <= 100
    assert len(session_owner("s" * 64).name) <= 100
    for foreign in (None, "", "my-code-session", "bcx-other-1", "bcx-job-", "sandbox-session-1"):
        assert parse_owner(foreign) is None


def test_a_sweep_stops_exactly_the_sessions_no_live_owner_holds(
    services: Services, clock: Clock
) -> None:
    store = services.store
    # held: a session record that records this sandbox session
    held = _start(services, session_owner("held"))
    record = store.acquire_session("held", "req-1", 60)
    record.sandbox_session_id = held
    store.save_session(record, "req-1")
    store.release_session("held", "req-1")
    # held: a request holds the lease and is starting the session (not recorded yet)
    starting = _start(services, session_owner("starting"))
    store.acquire_session("starting", "req-2", 120)
    # leaked: the session was stopped (tombstone) but its sandbox session is still READY
    tombstoned = _start(services, session_owner("tomb"))
    record = store.acquire_session("tomb", "req-3", 60)
    record.sandbox_session_id = tombstoned
    store.save_session(record, "req-3")
    store.release_session("tomb", "req-3")
    store.mark_session_stopped("tomb", sandbox_session_id=tombstoned)
    # leaked: the session record points at another sandbox session
    replaced = _start(services, session_owner("held"))
    # leaked: no record at all (the session was deleted)
    orphan = _start(services, session_owner("deleted"))
    # held: a RUNNING job before its deadline; leaked: one past it, one FAILED, one unknown
    jobs = {}
    for job_id, status, deadline in (
        ("running", JobStatus.RUNNING, 600),
        ("dead", JobStatus.RUNNING, -1),
        ("failed", JobStatus.FAILED, 600),
    ):
        store.create_job(JobRecord(job_id=job_id, status=JobStatus.QUEUED, request={}))
        store.update_job(job_id, status=status, deadline=clock() + deadline)
        jobs[job_id] = _start(services, job_owner(job_id))
    unknown_job = _start(services, job_owner("never-was"))
    # leaked: a one-shot buffered request's session (the request is long over), foreign names
    request = _start(services, request_owner("r1"))
    unnamed = _start(services, None)
    foreign = _start(services, None, name="someone-elses")
    # held: a one-shot streamed turn's session, for as long as its function may still run
    streamed = _start(services, stream_owner("s1"))

    young = Sweeper(services).sweep()  # the configured grace: every session is too young
    assert young.stopped == [] and young.ready == 13 and len(young.young) == 13

    report = Sweeper(services, grace_seconds=0).sweep()
    leaked = {tombstoned, replaced, orphan, jobs["dead"], jobs["failed"], unknown_job}
    leaked |= {request, unnamed, foreign}
    assert set(report.stopped) == leaked
    assert report.failed == []
    assert _ready(services) == {held, starting, jobs["running"], streamed}

    clock.offset = 700  # later: the lease lapsed, the job's deadline passed (TTL has not)
    again = Sweeper(services, grace_seconds=0).sweep()
    assert set(again.stopped) == {starting, jobs["running"]}
    assert _ready(services) == {held, streamed}

    clock.offset = STREAM_HOLD_SECONDS + 1  # no streamed turn runs this long
    last = Sweeper(services, grace_seconds=0).sweep()
    assert last.stopped == [streamed]
    assert _ready(services) == {held}


def test_a_sweep_reads_no_conversation(services: Services, monkeypatch: Any) -> None:
    """Owners are read without their history or result (no S3 read, whatever their size)."""
    from code_exec.store import base

    monkeypatch.setattr(base, "INLINE_LIMIT_BYTES", 16)  # every history lives in S3
    sandbox = _start(services, session_owner("chatty"))
    record = services.store.acquire_session("chatty", "req", 60)
    record.sandbox_session_id = sandbox
    record.history = [{"role": "user", "content": "a long conversation"}]
    services.store.save_session(record, "req")
    services.store.release_session("chatty", "req")
    reads: list[str] = []
    services.s3.meta.events.register(
        "provide-client-params.s3.GetObject", lambda params, **_: reads.append(params["Key"])
    )
    report = Sweeper(services, grace_seconds=0).sweep()
    assert sandbox in report.held and reads == []


def test_cleanup_from_eventbridge_fails_the_job_once_and_stops_its_session(
    services: Services,
) -> None:
    """An execution that timed out as a whole never ran its Cleanup step: the rule does."""
    jobs = Jobs(Operations(services))
    sandbox = _start(services, job_owner("timed-out"))
    services.store.create_job(JobRecord(job_id="timed-out", status=JobStatus.QUEUED, request={}))
    services.store.update_job(
        "timed-out", status=JobStatus.RUNNING, sandbox_session_id=sandbox, deadline=time.time()
    )
    event = {
        "version": "0",
        "detail-type": EXECUTION_STATUS_CHANGE,
        "source": "aws.states",
        "detail": {
            "executionArn": "arn:aws:states:us-east-1:123456789012:execution:TestAgent-jobs:x",
            "name": "timed-out",
            "status": "TIMED_OUT",
            "error": None,
            "cause": None,
        },
    }
    assert jobs.cleanup(event) == {"job_id": "timed-out", "status": JobStatus.FAILED}
    job = services.store.get_job("timed-out")
    assert job.error is not None and job.error["code"] == "JobTimedOut"
    assert job.cleaned_up_at is not None
    assert services.sandbox.session_status(sandbox) == "TERMINATED"
    # the rule may deliver again (and FAILED executions already ran their Cleanup step)
    assert jobs.cleanup(event)["status"] == JobStatus.FAILED
    assert services.store.get_job("timed-out").cleaned_up_at == job.cleaned_up_at
    gone = {**event, "detail": {**event["detail"], "name": "no-such-job"}}
    assert jobs.cleanup(gone) == {"job_id": "no-such-job", "status": "NOT_FOUND"}


def test_a_container_holds_its_sandbox_until_it_expires(services: Services, clock: Clock) -> None:
    """/v1/messages containers: the sandbox of a container nobody came back to is stopped
    once the container expired (its idle expiry), not before."""
    from code_exec.anthropic.containers import ContainerSession

    active = ContainerSession(services, owner="alice", lease="req-1")
    record = active.ensure()  # creates the record, then the session named for it
    session = record.sandbox_session_id
    assert session is not None
    [summary] = [s for s in services.sessions.list_sessions() if s.session_id == session]
    assert parse_owner(summary.name) == Owner("container", record.container_id)
    active.close()
    other = _start(services, Owner("container", "container_gone"))  # no such container

    report = Sweeper(services, grace_seconds=0).sweep()
    assert report.stopped == [other] and session in report.held
    clock.offset = services.config.container_idle_seconds + 1  # the container has expired
    report = Sweeper(services, grace_seconds=0).sweep()
    assert report.stopped == [session]


def test_a_container_in_use_is_held_past_its_idle_expiry(services: Services, clock: Clock) -> None:
    """A streamed turn holds its container's lease for the whole invocation (up to 15
    minutes) and renews the idle expiry only when it ends: while the lease holds, the sandbox
    is kept even past that expiry; once the lease has run out with the container expired, it
    is stopped."""
    from code_exec.anthropic.containers import ContainerSession

    idle = services.config.container_idle_seconds
    streaming = ContainerSession(services, owner="alice", lease="req-1", lease_seconds=900 + 60)
    session = streaming.ensure().sandbox_session_id
    assert session is not None
    clock.offset = idle + 1  # past the idle expiry, the turn still running
    assert session in Sweeper(services, grace_seconds=0).sweep().held
    clock.offset = 900 + 60 + 1  # the invocation is long over, its lease too
    assert Sweeper(services, grace_seconds=0).sweep().stopped == [session]


def test_an_owner_that_cannot_be_read_is_left_alone_and_the_sweep_goes_on(
    services: Services,
) -> None:
    """DynamoDB refuses one owner's read (throttled, injected on the real client): that
    session is reported unchecked and left for the next sweep; every other session is still
    decided (leaked ones stopped, held ones kept)."""
    flaky = _start(services, session_owner("flaky"))
    orphan = _start(services, session_owner("deleted"))  # no record: leaked
    unknown_job = _start(services, job_owner("never-was"))  # leaked
    held = _start(services, session_owner("held"))
    record = services.store.acquire_session("held", "req-1", 60)
    record.sandbox_session_id = held
    services.store.save_session(record, "req-1")
    services.store.release_session("held", "req-1")

    def throttle(params: dict[str, Any], **_: Any) -> Any:
        body = params["body"]
        if b"flaky" not in (body if isinstance(body, bytes) else str(body).encode()):
            return None
        error = {"Code": "ProvisionedThroughputExceededException", "Message": "Rate exceeded"}
        parsed = {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}
        return AWSResponse(params["url"], 400, {}, None), parsed

    events = services.dynamodb.meta.events
    events.register("before-call.dynamodb.GetItem", throttle)
    try:
        report = Sweeper(services, grace_seconds=0).sweep()
    finally:
        events.unregister("before-call.dynamodb.GetItem", throttle)
    assert set(report.stopped) == {orphan, unknown_job}
    assert report.unchecked == [flaky] and held in report.held
    assert report.as_dict()["unchecked"] == [flaky]
    assert _ready(services) == {flaky, held}
    # the table answers again: the next sweep decides it
    assert Sweeper(services, grace_seconds=0).sweep().stopped == [flaky]


def test_the_grace_period_is_the_configured_setting(services: Services, clock: Clock) -> None:
    """``SWEEP_GRACE_SECONDS`` (read by :class:`RuntimeConfig`) is the default grace."""
    assert RuntimeConfig.from_env({"SWEEP_GRACE_SECONDS": "120"}).sweep_grace_seconds == 120
    assert RuntimeConfig.from_env({}).sweep_grace_seconds == 300
    for bad in ("ten", "30"):
        with pytest.raises(ValueError, match="SWEEP_GRACE_SECONDS"):
            RuntimeConfig.from_env({"SWEEP_GRACE_SECONDS": bad})
    orphan = _start(services, session_owner("deleted"))
    services.override(config=replace(services.config, sweep_grace_seconds=120))
    clock.offset = 100
    assert orphan in Sweeper(services).sweep().young
    clock.offset = 121
    assert Sweeper(services).sweep().stopped == [orphan]
