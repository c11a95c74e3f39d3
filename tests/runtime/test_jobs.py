"""POST /jobs -> the REAL job state machine (from the synthesized AgentStack) running in moto ->
job and cleanup Lambdas (our handlers, in-process via ``LambdaAdapter``) -> GET /jobs/{id}.

A job that fails or times out still gets its sandbox session stopped by the cleanup step.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from code_exec.agent import AgentRun
from code_exec.models import AgentResult

from devtools.bedrock_replay import BedrockReplay, load_fixture
from devtools.lambda_adapter import LambdaAdapter

from .conftest import ApiClient, create_job_machine, replay_bedrock_client

pytestmark = [pytest.mark.sandbox, pytest.mark.slow(seconds=15)]


@pytest.fixture(scope="module")
def jobs(sandbox_api: ApiClient, agent_template: dict[str, Any]) -> Iterator[LambdaAdapter]:
    create_job_machine(agent_template)
    with LambdaAdapter(agent_template) as adapter:
        yield adapter


@pytest.fixture
def recording(sandbox_api: ApiClient) -> Iterator[Any]:
    from .test_api_invoke import RecordingSandbox

    services = sandbox_api.handler.services
    sandbox = RecordingSandbox(services.config.code_interpreter_id, client=services.agentcore)
    services.override(sandbox=sandbox)
    try:
        yield sandbox
    finally:
        services.reset()


def _wait(api: ApiClient, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        body = api.get_job(job_id).body
        if body["status"] in ("SUCCEEDED", "FAILED"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {body}")


def _replaying(api: ApiClient, fixture: str | dict[str, Any]) -> BedrockReplay:
    """The recording, attached to a new bedrock-runtime client the API's services now use."""
    bedrock = replay_bedrock_client()
    api.handler.services.override(bedrock=bedrock)
    return BedrockReplay(fixture).attach(bedrock)


def _throttled(prompt: str) -> dict[str, Any]:
    """Bedrock's 429, answering a Converse call that carries ``prompt``."""
    fixture = load_fixture("throttled")
    fixture["turns"][0]["expect"] = {"operation": "Converse", "last_contains": [prompt]}
    return fixture


def _execution_status(api: ApiClient, job_id: str) -> str:
    deadline = time.time() + 30
    sfn = api.handler.services.stepfunctions
    arn = api.handler.services.store.get_job(job_id).execution_arn
    while time.time() < deadline:
        status = sfn.describe_execution(executionArn=arn)["status"]
        if status != "RUNNING":
            return status
        time.sleep(0.2)
    return "RUNNING"


def test_job_runs_through_the_state_machine_and_returns_its_result(
    sandbox_api: ApiClient, jobs: LambdaAdapter, recording: Any
) -> None:
    with _replaying(sandbox_api, "converse_plain_answer"):
        accepted = sandbox_api.submit_job(prompt="What is 6 x 7?", loop="converse")
        assert accepted.status == 202, accepted.body
        job_id = accepted.body["job_id"]
        assert accepted.headers.get("Location") == f"/jobs/{job_id}"
        done = _wait(sandbox_api, job_id)
    assert done["status"] == "SUCCEEDED", done
    assert done["result"]["text"] == "6 x 7 = 42."
    assert done["result"]["loop"] == "converse"
    assert _execution_status(sandbox_api, job_id) == "SUCCEEDED"
    handlers = [h for h, event in jobs.invocations if event.get("job_id") == job_id]
    assert handlers == [
        "code_exec.functions.job_function.job_handler",
        "code_exec.functions.cleanup_function.cleanup_handler",
    ]
    # one-shot session: started for the job, stopped (by the job, and again by cleanup)
    [session] = recording.started
    assert session in recording.stopped
    assert recording.session_status(session) == "TERMINATED"


def test_failing_job_is_marked_failed_and_its_session_stopped(
    sandbox_api: ApiClient, jobs: LambdaAdapter, recording: Any
) -> None:
    with _replaying(sandbox_api, _throttled("What is 6 x 7?")):
        accepted = sandbox_api.submit_job(prompt="What is 6 x 7?", loop="converse")
        done = _wait(sandbox_api, accepted.body["job_id"])
    assert done["status"] == "FAILED"
    assert done["error"]["code"] == "ModelThrottled"
    assert _execution_status(sandbox_api, accepted.body["job_id"]) == "FAILED"
    [session] = recording.started
    assert recording.session_status(session) == "TERMINATED"


def test_timed_out_job_is_failed_and_cleanup_stops_the_session(
    sandbox_api: ApiClient, agent_template: dict[str, Any], jobs: LambdaAdapter, recording: Any
) -> None:
    """The job Lambda hits its timeout while its cell is still running: Lambda's
    ``Sandbox.Timedout`` is caught and the cleanup step stops the session while the
    abandoned job is still inside it."""
    release = threading.Event()
    entered = threading.Event()
    time_is_up = threading.Event()

    def stuck_agent(request: Any, *, deps: Any) -> AgentRun:
        entered.set()
        release.wait(30)  # a cell that never finishes in time
        result = AgentResult(
            text="too late", loop=request.loop, model_id=request.model_id, stop_reason="end_turn"
        )
        return AgentRun(result=result, history=[])

    services = sandbox_api.handler.services
    services.override(run_agent=stuck_agent)
    job_fn = LambdaAdapter(agent_template).by_role("job_handler")
    try:
        with LambdaAdapter(agent_template, timeouts={job_fn: time_is_up}) as adapter:
            accepted = sandbox_api.submit_job(prompt="loop forever", loop="converse")
            job_id = accepted.body["job_id"]
            assert entered.wait(30)  # the job's session is started and its cell is running
            time_is_up.set()
            done = _wait(sandbox_api, job_id)
            assert done["status"] == "FAILED"
            assert done["error"]["code"] == "JobTimedOut"
            assert "Sandbox.Timedout" in done["error"]["message"]
            # stopped by the cleanup step while the job's own code was still running
            [session] = recording.started
            assert recording.stopped == [session]
            assert recording.session_status(session) == "TERMINATED"
            assert _execution_status(sandbox_api, job_id) == "FAILED"
        release.set()
        [abandoned] = [t for t in adapter.threads if t.name == f"lambda-{job_fn}"]
        abandoned.join(30)
        assert not abandoned.is_alive()
        # the abandoned job, now finished, did not overwrite the FAILED status
        assert sandbox_api.get_job(job_id).body["status"] == "FAILED"
    finally:
        release.set()


def test_job_with_a_session_keeps_it_on_success(
    sandbox_api: ApiClient, jobs: LambdaAdapter, recording: Any
) -> None:
    with _replaying(sandbox_api, "converse_plain_answer"):
        accepted = sandbox_api.submit_job(
            prompt="What is 6 x 7?", loop="converse", session_id="job-session"
        )
        done = _wait(sandbox_api, accepted.body["job_id"])
    assert done["status"] == "SUCCEEDED", done
    assert done["session_id"] == "job-session"
    [session] = recording.started
    assert recording.session_status(session) == "READY"  # a named session outlives the job
    assert sandbox_api.delete("job-session").body["stopped"] is True


def test_a_model_throttle_keeps_the_named_session_and_its_state(
    sandbox_api: ApiClient, jobs: LambdaAdapter, recording: Any
) -> None:
    """The turn failed between cells (Bedrock throttled it): the caller keeps the session,
    its sandbox and its Python state; only the job is FAILED."""
    assert sandbox_api.execute("job-throttled", code="kept = 41").status == 200
    with _replaying(sandbox_api, _throttled("What is 6 x 7?")):
        accepted = sandbox_api.submit_job(
            prompt="What is 6 x 7?", loop="converse", session_id="job-throttled"
        )
        done = _wait(sandbox_api, accepted.body["job_id"])
    assert (done["status"], done["error"]["code"]) == ("FAILED", "ModelThrottled")
    assert _execution_status(sandbox_api, accepted.body["job_id"]) == "FAILED"
    [session] = recording.started
    assert recording.stopped == []
    assert recording.session_status(session) == "READY"
    later = sandbox_api.execute("job-throttled", code="print(kept + 1)")
    assert (later.status, later.body["stdout"]) == (200, "42\n")
    assert sandbox_api.delete("job-throttled").body["stopped"] is True


def test_a_sandbox_failure_stops_the_named_session(
    sandbox_api: ApiClient, jobs: LambdaAdapter, recording: Any
) -> None:
    """A named session is not stopped by the request's ``finally``: the cleanup step stops
    it when the job failed in the sandbox (its state is in doubt), and the id answers 410."""
    from code_exec.exceptions import SandboxInternalError

    def sandbox_fails(request: Any, *, deps: Any) -> AgentRun:
        raise SandboxInternalError("the kernel died mid-cell")

    sandbox_api.handler.services.override(run_agent=sandbox_fails)
    accepted = sandbox_api.submit_job(
        prompt="What is 6 x 7?", loop="converse", session_id="job-sandbox-fails"
    )
    done = _wait(sandbox_api, accepted.body["job_id"])
    assert (done["status"], done["error"]["code"]) == ("FAILED", "SandboxInternalError")
    # the job is FAILED before the cleanup step runs: wait for the execution to end
    assert _execution_status(sandbox_api, accepted.body["job_id"]) == "FAILED"
    [session] = recording.started
    assert recording.stopped == [session]
    assert recording.session_status(session) == "TERMINATED"
    later = sandbox_api.execute("job-sandbox-fails", code="print(1)")
    assert (later.status, later.error["code"]) == (410, "SessionExpired")


def test_one_shot_session_is_stopped_when_recording_it_fails(
    sandbox_api: ApiClient, recording: Any
) -> None:
    """The job records its sandbox session as soon as it starts; if that write fails, the
    session (not yet known to the cleanup step) must not be left running."""
    from code_exec.models import AgentRequest

    def unrecordable(sandbox_session_id: str) -> None:
        raise RuntimeError("DynamoDB is having a bad day")

    request = AgentRequest(prompt="hi", loop="converse")
    with pytest.raises(RuntimeError, match="DynamoDB is having a bad day"):
        sandbox_api.handler.operations.invoke(request, on_started=unrecordable)
    [session] = recording.started
    assert recording.stopped == [session]


def test_new_named_session_is_stopped_when_saving_it_fails(
    sandbox_api: ApiClient, recording: Any
) -> None:
    services = sandbox_api.handler.services
    store = services.store

    class FailingSave:
        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

        def save_session(self, record: Any) -> None:
            raise RuntimeError("DynamoDB is having a bad day")

    services.override(store=FailingSave())
    failed = sandbox_api.execute("unsaved", code="print(1)")
    assert failed.status == 500
    [session] = recording.started
    assert recording.stopped == [session]  # nobody else knows this session: it is stopped
    services.override(store=store)
    again = sandbox_api.execute("unsaved", code="print(2)")  # lease released, a fresh start
    assert (again.status, again.body["stdout"]) == (200, "2\n")


def test_aborted_execution_still_stops_the_jobs_session_when_the_job_is_read(
    sandbox_api: ApiClient, recording: Any
) -> None:
    """An execution aborted (or timed out as a whole) never reaches its cleanup step:
    GET /jobs/{id} finds it ended and does the cleanup then.

    moto runs each execution in its own thread, and both ends of StopExecution are
    asynchronous there: stopping before that thread has built its program fails, and
    DescribeExecution reads RUNNING until the thread has recorded the abort. The test waits
    for each of those states before it acts, so it reads the job only once the execution
    has really ended.
    """
    import json as _json

    from code_exec.store import JobRecord, JobStatus

    services = sandbox_api.handler.services
    sfn = services.stepfunctions
    machine = sfn.create_state_machine(
        name="AbortedJobs",
        definition=_json.dumps(
            {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 60, "End": True}}}
        ),
        roleArn="arn:aws:iam::123456789012:role/JobsStateMachineRole",
    )["stateMachineArn"]
    job_id = "aborted-job"
    services.store.create_job(
        JobRecord(job_id=job_id, status=JobStatus.QUEUED, request={"prompt": "hi"})
    )
    arn = sfn.start_execution(stateMachineArn=machine, name=job_id)["executionArn"]
    session = recording.start_session()
    services.store.update_job(
        job_id, status=JobStatus.RUNNING, execution_arn=arn, sandbox_session_id=session
    )
    _wait_for_history(sfn, arn, "WaitStateEntered")
    # still running: the read changes nothing
    assert sandbox_api.get_job(job_id).body["status"] == "RUNNING"
    assert recording.stopped == []

    sfn.stop_execution(executionArn=arn, error="Aborted", cause="stopped by an operator")
    assert _execution_status(sandbox_api, job_id) == "ABORTED"

    done = sandbox_api.get_job(job_id).body
    assert done["status"] == "FAILED"
    assert done["error"]["code"] == "JobFailed"
    assert recording.stopped == [session]
    assert recording.session_status(session) == "TERMINATED"


def _wait_for_history(sfn: Any, arn: str, event_type: str, timeout: float = 30) -> None:
    """Until the execution's history has an event of ``event_type`` (its thread got there)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = sfn.get_execution_history(executionArn=arn)["events"]
        if any(e["type"] == event_type for e in events):
            return
        time.sleep(0.02)
    raise AssertionError(f"no {event_type} in the history of {arn}: {events}")


class _StopRecorder:
    """A sandbox stand-in for the cleanup step: records what it is asked to stop."""

    def __init__(self) -> None:
        self.stopped: list[str] = []

    def stop_session(self, session_id: str) -> None:
        self.stopped.append(session_id)


def test_cleanup_never_tombstones_a_session_recreated_since(api: ApiClient) -> None:
    """The job's named session was deleted and re-created while the job ran: cleanup stops the
    job's own sandbox session, and the new session (another sandbox) keeps working."""
    from code_exec.store import JobRecord, JobStatus

    services = api.handler.services
    sandbox = _StopRecorder()
    services.override(sandbox=sandbox)
    store = services.store
    try:
        record = store.acquire_session("recreated", "the-job", 600)
        record.sandbox_session_id = "OLDSANDBOX"
        store.save_session(record, "the-job")
        store.create_job(
            JobRecord(
                job_id="job-recreated",
                status=JobStatus.QUEUED,
                request={"prompt": "hi"},
                session_id="recreated",
            )
        )
        store.update_job("job-recreated", status=JobStatus.RUNNING, sandbox_session_id="OLDSANDBOX")
        store.delete_session("recreated")  # DELETE /sessions/recreated while the job ran
        fresh = store.acquire_session("recreated", "next-request", 60)
        fresh.sandbox_session_id = "NEWSANDBOX"
        store.save_session(fresh, "next-request")
        store.release_session("recreated", "next-request")

        caught = {"Error": "Sandbox.Timedout", "Cause": "Task timed out after 900.00 seconds"}
        from code_exec.functions import cleanup_function  # on the API's services (conftest)

        cleanup_function.cleanup.cleanup_job({"job_id": "job-recreated", "error": caught})

        assert sandbox.stopped == ["OLDSANDBOX"]
        after = store.get_session("recreated")
        assert after is not None
        assert (after.status, after.sandbox_session_id) == ("ACTIVE", "NEWSANDBOX")
    finally:
        services.reset()


def test_submit_job_fails_the_job_when_step_functions_is_unreachable(api: ApiClient) -> None:
    """A transport error (no HTTP answer at all) must not leave the job QUEUED forever."""
    from botocore.exceptions import EndpointConnectionError
    from code_exec.store import JobStatus

    class Unreachable:
        def start_execution(self, **_: Any) -> dict[str, Any]:
            raise EndpointConnectionError(endpoint_url="https://states.us-east-1.amazonaws.com")

    services = api.handler.services
    services.override(stepfunctions=Unreachable())
    new_id = services.new_id
    services.new_id = lambda: "unreachable-sfn-job"
    try:
        resp = api.submit_job(prompt="hi", loop="converse")
        # the failure contract: a dependency that never answered is 503 with Retry-After
        assert (resp.status, resp.error["code"]) == (503, "DependencyUnavailable"), resp.body
        assert resp.headers.get("Retry-After"), resp.headers
        job = services.store.get_job("unreachable-sfn-job")
        assert job.status == JobStatus.FAILED
        assert job.error is not None and job.error["code"] == "DependencyUnavailable"
    finally:
        services.new_id = new_id
        services.reset()


def test_a_jobs_input_file_from_the_bucket_is_downloaded_once(
    sandbox_api: ApiClient, jobs: LambdaAdapter, recording: Any
) -> None:
    """Checked at submit time (it exists), read once when the job runs."""
    from .test_api_invoke import _count_object_reads

    services = sandbox_api.handler.services
    key = "files/uploads/job-once.csv"
    services.s3.put_object(Bucket=services.config.files_bucket, Key=key, Body=b"a,b\n1,2\n")
    reads = _count_object_reads(services.s3, key)
    with _replaying(sandbox_api, "converse_plain_answer"):
        accepted = sandbox_api.submit_job(
            prompt="What is 6 x 7?",
            loop="converse",
            files=[{"name": "job-once.csv", "s3_key": key}],
        )
        assert accepted.status == 202, accepted.body
        assert reads == []  # POST /jobs only checks that the object is there
        done = _wait(sandbox_api, accepted.body["job_id"])
    assert done["status"] == "SUCCEEDED", done
    assert len(reads) == 1
    missing = sandbox_api.submit_job(
        prompt="hi", loop="converse", files=[{"name": "x.csv", "s3_key": "files/uploads/none"}]
    )
    assert (missing.status, missing.error["field"]) == (400, "files.0.s3_key")


def test_a_900_kb_job_request_is_accepted_and_runs(
    sandbox_api: ApiClient, jobs: LambdaAdapter
) -> None:
    """A request within the API's own limits but over DynamoDB's 400 KB item limit: the job's
    request goes to the files bucket (under ``state/jobs/``), the job step reads it back, and
    the inline input file reaches the job's sandbox whole."""
    data = bytes(range(256)) * (675 * 1024 // 256)  # 675 KiB -> 900 KiB of base64
    blob = base64.b64encode(data).decode()
    assert len(blob) >= 900 * 1024
    assert sandbox_api.execute("big-job", code="ready = True").status == 200
    with _replaying(sandbox_api, "converse_plain_answer"):
        accepted = sandbox_api.submit_job(
            prompt="What is 6 x 7?",
            loop="converse",
            session_id="big-job",
            files=[{"name": "big.bin", "content_base64": blob}],
        )
        assert accepted.status == 202, accepted.body
        done = _wait(sandbox_api, accepted.body["job_id"])
    assert done["status"] == "SUCCEEDED", done
    check = "import hashlib; print(hashlib.sha256(open('inputs/big.bin', 'rb').read()).hexdigest())"
    resp = sandbox_api.execute("big-job", code=check)
    assert resp.body["stdout"].strip() == hashlib.sha256(data).hexdigest()
    assert sandbox_api.delete("big-job").body["stopped"] is True


def test_post_jobs_with_the_same_key_twice_starts_one_job(
    sandbox_api: ApiClient, jobs: LambdaAdapter, emulator_url: str
) -> None:
    """A retried POST /jobs gets the first job back (202, same id and Location, marked
    replayed): one execution, one model turn (the recording has one), the code run once."""
    from emulators.code_interpreter.admin import session_calls

    assert sandbox_api.execute("idem-job", code="started = True").status == 200
    record = sandbox_api.handler.services.store.get_session("idem-job")
    assert record is not None and record.sandbox_session_id
    sb = record.sandbox_session_id

    def cells() -> int:
        return int(session_calls(emulator_url, sb)["tools"]["executeCode"])

    before = cells()
    sfn = sandbox_api.handler.services.stepfunctions
    machine = sandbox_api.handler.services.config.job_state_machine_arn
    executions = len(sfn.list_executions(stateMachineArn=machine)["executions"])
    prompt, fixture = _chart_call()
    body = {"prompt": prompt, "loop": "converse", "session_id": "idem-job"}
    key = {"Idempotency-Key": "job-retry-1"}
    with _replaying(sandbox_api, fixture):
        first = sandbox_api.call("jobs_post", body=body, headers=key)
        assert first.status == 202, first.body
        again = sandbox_api.call("jobs_post", body=body, headers=key)
        done = _wait(sandbox_api, first.body["job_id"])
    assert done["status"] == "SUCCEEDED", done
    assert (again.status, again.body) == (202, first.body)
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == executions + 1
    ran = cells() - before
    assert ran >= 1
    # after the job: the same key is still answered from the record, nothing runs
    late = sandbox_api.call("jobs_post", body=body, headers=key)
    assert (late.status, late.body["job_id"]) == (202, first.body["job_id"])
    assert (
        session_calls(emulator_url, record.sandbox_session_id)["tools"]["executeCode"] - before
        == ran
    )
    assert sandbox_api.delete("idem-job").body["stopped"] is True


def _chart_call() -> tuple[str, dict[str, Any]]:
    """The first call of the recorded chart session (it runs code): its prompt and turns."""
    fixture = load_fixture("converse_session_chart")
    first = fixture["calls"][0]
    return first["prompt"], {**fixture, "turns": fixture["turns"][: first["turns"]]}
