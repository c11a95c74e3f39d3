"""Every path of the deployment that calls AWS, driven end to end for ``test_least_privilege``.

:data:`STEPS` runs in order against one :class:`Run`: the API function through recorded API
Gateway events, the job and cleanup functions through the real state machine in moto (its
``RunJob``/``Cleanup`` tasks invoke them through :class:`LambdaAdapter`), the code-interpreter
emulator as the sandbox, and recorded model turns. Together they cover every loop (messages,
converse, strands, claude_code), PTC with preloaded and with bridged tools, direct mode,
direct code execution (and its ``Idempotency-Key`` records), files in (inline and from S3)
and out (presigned URLs), sessions and their reuse, DELETE, jobs that succeed, fail, and
fail in a session whose stop the sandbox refuses once, ``POST /invoke/stream`` through the
streaming function's own runtime loop, Anthropic's /v1 (the API-key authorizer, a code-running
turn, files) and the sweeper. A new function or role is one more step here
(``test_least_privilege`` fails while nothing exercises it).

Each step asserts what it drove did happen, so a step that silently stops exercising a path
fails here, not as a misleading least-privilege finding.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import requests
from code_exec.claude_code.runner import CLAUDE_CODE_VERSION
from code_exec.exceptions import SandboxInternalError
from code_exec.sandbox import SandboxClient
from code_exec.store import ApiKeyStore, Store, new_key
from code_exec.streaming.runtime import serve
from code_exec.streaming.runtime_api import RuntimeApi

from devtools import local_aws
from devtools.bedrock_replay import EXPENSE_TABLE, FIXTURES, BedrockReplay, load_fixture
from devtools.call_recorder import CallRecorder
from devtools.deployment import Deployment
from devtools.expense import expense_registry
from devtools.function_harness import Function
from devtools.lambda_adapter import LambdaContext
from devtools.runtime_api import FakeRuntimeApi

from .conftest import ApiClient, load_event

__all__ = ["STEPS", "TEST_ACTOR", "Run", "provision"]

TEST_ACTOR = "test"  # the test's own calls (fixtures, uploads, waits): never checked
_PREFIX = ".bcx/claude-code"
# Stand-in for the claude CLI (there is no network here): it reports the environment it was
# started with (the configuration Claude Code would call Bedrock with) on stderr, copies the
# input to outputs/ and prints a recorded ``--output-format json`` result.
_CLAUDE = """#!/usr/bin/env bash
[ "$1" = "-p" ] || { echo "expected -p <options> -- <prompt>" >&2; exit 2; }
env | grep -E '^(CLAUDE_CODE_[A-Z_]+|ANTHROPIC_[A-Z_]+|AWS_REGION|AWS_DEFAULT_REGION)=' \\
  | sed 's/^/BCX_ENV /' >&2
mkdir -p outputs && cp inputs/numbers.csv outputs/numbers-copy.csv
cat "$(dirname "$0")/../result.json"
"""


@dataclass
class Run:
    """What the steps drive, and what they learn on the way."""

    deployment: Deployment
    recorder: CallRecorder
    functions: dict[str, Function]
    emulator_url: str
    claude_code_env: dict[str, str] = field(default_factory=dict)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def function(self, handler: str) -> Function:
        """The function whose handler is ``...<handler>``."""
        [fn] = [f for f in self.functions.values() if f.resource.props["Handler"].endswith(handler)]
        return fn

    @property
    def api(self) -> ApiClient:
        return ApiClient(SimpleNamespace(api_handler=self.function(".api_handler").handler))

    def client(self, service: str) -> Any:
        """A client for the test's own calls."""
        import boto3

        if service not in self._clients:
            with self.recorder.acting_as(TEST_ACTOR):
                self._clients[service] = boto3.client(service, region_name=self.deployment.region)
        return self._clients[service]

    @contextmanager
    def replay(
        self, fixture: str | dict[str, Any], *handlers: str, stream: bool | None = None
    ) -> Iterator[BedrockReplay]:
        """Serve recorded model turns to the model clients of these functions (``stream``:
        see :class:`BedrockReplay`)."""
        replay = BedrockReplay(fixture, stream=stream)
        for handler in handlers:
            replay.attach(self.function(handler).services.bedrock)
        with replay:
            yield replay

    def bucket(self) -> str:
        return self.function(".api_handler").environment["FILES_BUCKET"]

    def upload(self, key: str, data: bytes) -> None:
        self.client("s3").put_object(Bucket=self.bucket(), Key=key, Body=data)

    def wait_job(self, job_id: str) -> dict[str, Any]:
        """GET /jobs/{id} until the job is final, then until its execution (cleanup) ended."""
        deadline = time.monotonic() + 60
        while (body := self.api.get_job(job_id).body)["status"] not in ("SUCCEEDED", "FAILED"):
            assert time.monotonic() < deadline, f"job {job_id} did not finish: {body}"
            time.sleep(0.2)
        machine = self.function(".api_handler").environment["JOB_STATE_MACHINE_ARN"]
        execution = f"{machine.replace(':stateMachine:', ':execution:')}:{job_id}"
        sfn = self.client("stepfunctions")
        while sfn.describe_execution(executionArn=execution)["status"] == "RUNNING":
            assert time.monotonic() < deadline, f"the execution of job {job_id} did not end"
            time.sleep(0.1)
        return dict(body)


def provision(deployment: Deployment, recorder: CallRecorder) -> None:
    """Create the deployment's tables, buckets and state machines in moto, as the test."""
    import boto3

    local_aws.one_dynamodb_request_at_a_time()
    with recorder.acting_as(TEST_ACTOR):
        ddb = boto3.client("dynamodb", region_name=deployment.region)
        s3 = boto3.client("s3", region_name=deployment.region)
        sfn = boto3.client("stepfunctions", region_name=deployment.region)
    for table in deployment.resources("AWS::DynamoDB::Table"):
        p = table.props
        name = deployment.name(table)
        ddb.create_table(
            TableName=name,
            KeySchema=p["KeySchema"],
            AttributeDefinitions=p["AttributeDefinitions"],
            BillingMode=p.get("BillingMode", "PAY_PER_REQUEST"),
        )
        if "TimeToLiveSpecification" in p:
            ttl = p["TimeToLiveSpecification"]
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    for bucket in deployment.resources("AWS::S3::Bucket"):
        s3.create_bucket(Bucket=deployment.name(bucket))
    for machine in deployment.resources("AWS::StepFunctions::StateMachine"):
        role = deployment.role_of(machine)
        assert role is not None, machine.logical_id
        arn = sfn.create_state_machine(
            name=deployment.name(machine),
            definition=deployment.resolve(machine.props["DefinitionString"], machine.stack),
            roleArn=deployment.arn(role),
            type=machine.props.get("StateMachineType", "STANDARD"),
        )["stateMachineArn"]
        assert arn == deployment.arn(machine)


# --- the steps ------------------------------------------------------------------------------


def execute_with_files(run: Run) -> None:
    """POST /sessions/{id}/execute: new session, inline input, an output file (presigned URL);
    then the same session again (status read) with an input from the files bucket; DELETE."""
    api = run.api
    blob = base64.b64encode(b"\x00\x01binary").decode()
    resp = api.execute(
        "lp-files",
        code="import shutil; _ = shutil.copy('inputs/in.bin', 'outputs/out.bin')",
        files=[{"name": "in.bin", "content_base64": blob}],
    )
    assert resp.status == 200, resp.body
    [out] = resp.body["files"]
    assert requests.get(out["url"], timeout=10).content == b"\x00\x01binary"
    run.upload("files/uploads/lp.txt", b"hello")
    resp = api.execute(
        "lp-files",
        command="cat inputs/lp.txt",
        files=[{"name": "lp.txt", "s3_key": "files/uploads/lp.txt"}],
    )
    assert resp.status == 200 and resp.body["stdout"] == "hello", resp.body
    assert api.delete("lp-files").body["stopped"] is True


def execute_idempotent(run: Run) -> None:
    """POST /sessions/{id}/execute with an Idempotency-Key (Powertools' records in the table):
    the first run is stored (its answer in S3 under state/, the inline limit being lowered
    here), the repeat is answered from the record (the failed conditional put returns it), and
    a request that fails deletes its record."""
    api, path = run.api, {"session_id": "lp-idem"}
    key = {"Idempotency-Key": "lp-once"}
    body = {"code": "print(6 * 7)"}
    first = api.call("sessions_execute", body=body, path_params=path, headers=key)
    assert first.status == 200 and first.body["stdout"] == "42\n", first.body
    again = api.call("sessions_execute", body=body, path_params=path, headers=key)
    assert again.headers.get("Idempotent-Replayed") == "true", again.headers
    missing = {"code": "1", "files": [{"name": "x", "s3_key": "files/uploads/lp-missing"}]}
    failed = api.call(
        "sessions_execute", body=missing, path_params=path, headers={"Idempotency-Key": "lp-x"}
    )
    assert failed.status == 400, failed.body
    assert api.delete("lp-idem").body["stopped"] is True


def _audit(run: Run, fixture: str, loop: str) -> dict[str, Any]:
    """The expense audit as the recording asks for it (tools, mode), through POST /invoke."""
    [call] = [{k: v for k, v in c.items() if k != "turns"} for c in load_fixture(fixture)["calls"]]
    with run.replay(fixture, ".api_handler"):
        resp = run.api.invoke(**call, loop=loop)
    assert resp.status == 200, resp.body
    assert "+$4,876.54" in resp.body["text"], resp.body["text"]
    return dict(resp.body)


def messages_ptc_preloaded(run: Run) -> None:
    """``messages`` (InvokeModel), PTC, the deployment's tools preloaded into the sandbox."""
    result = _audit(run, "invoke_expense_audit_ptc", "messages")
    assert result["code_runs"][-1]["stdout"] == EXPENSE_TABLE


@contextmanager
def _registry(fn: Function, registry: Any) -> Iterator[None]:
    saved = vars(fn.services)["registry"]
    fn.services.override(registry=registry)
    try:
        yield
    finally:
        vars(fn.services)["registry"] = saved


def strands_ptc_bridged(run: Run) -> None:
    """``strands``, PTC with BRIDGED tools: the tool calls are relayed out of the sandbox and
    served by the function. Strands makes its model calls and runs its tool (the relay) on
    threads of its own; the tools run on bridge threads."""
    with _registry(run.function(".api_handler"), expense_registry("bridged")):
        result = _audit(run, "converse_expense_audit_ptc", "strands")
    assert result["code_runs"][-1]["stdout"] == EXPENSE_TABLE


def converse_direct(run: Run) -> None:
    """``converse``, direct mode: one model round trip per tool call, tools run here."""
    _audit(run, "converse_expense_audit_direct", "converse")


def _chart_call() -> tuple[str, dict[str, Any]]:
    """The first call of the recorded chart session: its prompt, and a fixture of its turns."""
    fixture = load_fixture("converse_session_chart")
    first = fixture["calls"][0]
    return first["prompt"], {**fixture, "turns": fixture["turns"][: first["turns"]]}


def converse_session_with_chart(run: Run) -> None:
    """``converse`` in a named session: history stored (S3 under state/), a chart returned."""
    prompt, fixture = _chart_call()
    with run.replay(fixture, ".api_handler"):
        resp = run.api.invoke(prompt=prompt, loop="converse", session_id="lp-chat")
    assert resp.status == 200, resp.body
    [chart] = resp.body["files"]
    assert requests.get(chart["url"], timeout=10).content.startswith(b"<svg")
    assert run.api.delete("lp-chat").body["stopped"] is True


def claude_code_in_session(run: Run) -> None:
    """``claude_code``: Claude Code (a stand-in, see ``_CLAUDE``) in the session's sandbox; the
    configuration it ran with is kept for the sandbox role's check."""
    files = {
        f"{_PREFIX}/.installed-{CLAUDE_CODE_VERSION}": b"",
        f"{_PREFIX}/bin/claude": _CLAUDE.encode(),
        f"{_PREFIX}/result.json": (FIXTURES / "claude_code_result.json").read_bytes(),
    }
    setup = "import os\n" + "\n".join(
        f"os.makedirs(os.path.dirname({p!r}), exist_ok=True); open({p!r}, 'wb').write({d!r})"
        for p, d in files.items()
    )
    setup += f"\nos.chmod({_PREFIX + '/bin/claude'!r}, 0o755)"
    assert run.api.execute("lp-cc", code=setup).status == 200
    data = base64.b64encode(b"n\n1\n2\n").decode()
    resp = run.api.invoke(
        prompt="Copy inputs/numbers.csv to outputs/.",
        loop="claude_code",
        session_id="lp-cc",
        files=[{"name": "numbers.csv", "content_base64": data}],
    )
    assert resp.status == 200, resp.body
    [out] = resp.body["files"]
    assert requests.get(out["url"], timeout=10).content == b"n\n1\n2\n"
    lines = resp.body["code_runs"][0]["stderr"].splitlines()
    env = dict(ln.removeprefix("BCX_ENV ").split("=", 1) for ln in lines if ln.startswith("BCX_"))
    run.claude_code_env.update(env)
    assert run.api.delete("lp-cc").body["stopped"] is True


def job_in_session(run: Run) -> None:
    """POST /jobs in an existing session, with an input from the bucket: the job function
    reads the session's status, runs the turn, returns a chart; cleanup reads the stored job."""
    assert run.api.execute("lp-job", code="started = True").status == 200
    run.upload("files/uploads/job.txt", b"job input")
    prompt, fixture = _chart_call()
    with run.replay(fixture, ".job_handler"):
        accepted = run.api.submit_job(
            prompt=prompt,
            loop="converse",
            session_id="lp-job",
            files=[{"name": "job.txt", "s3_key": "files/uploads/job.txt"}],
        )
        assert accepted.status == 202, accepted.body
        done = run.wait_job(accepted.body["job_id"])
    assert done["status"] == "SUCCEEDED", done
    [chart] = done["result"]["files"]
    assert requests.get(chart["url"], timeout=10).content.startswith(b"<svg")


def job_fails_one_shot(run: Run) -> None:
    """A job whose model call is refused: the job function and cleanup both stop its sandbox."""
    with run.replay("validation_error", ".job_handler"):
        accepted = run.api.submit_job(prompt="What is 6 x 7?", loop="converse")
        done = run.wait_job(accepted.body["job_id"])
    assert done["status"] == "FAILED" and done["error"]["code"] == "ModelError", done


def _sandbox_fails(request: Any, *, deps: Any) -> Any:
    """A turn whose sandbox fails mid-cell (a model error would keep the named session)."""
    raise SandboxInternalError("the kernel died mid-cell")


def _inject_fault(run: Run, fault: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"{run.emulator_url}/_emulator/faults", data=json.dumps(fault).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


def job_fails_in_session(run: Run) -> None:
    """A job failing in the sandbox, in the session: cleanup stops its sandbox, which answers
    conflict once (as while a cell still runs), so cleanup reads the session's status; then
    DELETE."""
    env = run.function(".api_handler").environment
    store = Store(
        run.client("dynamodb"),  # the test's own read of the session record
        env["TABLE_NAME"],
        ttl_seconds=3600,
        s3=run.client("s3"),
        bucket=env["FILES_BUCKET"],
    )
    record = store.get_session("lp-job")
    assert record is not None and record.sandbox_session_id, record
    _inject_fault(
        run,
        {
            "exception": "conflictException",
            "sessionId": record.sandbox_session_id,
            "mode": "http",
            "operation": "StopCodeInterpreterSession",
        },
    )
    before = len(run.recorder.calls)
    job_services = run.function(".job_handler").services
    saved = vars(job_services)["run_agent"]
    job_services.override(run_agent=_sandbox_fails)
    try:
        accepted = run.api.submit_job(prompt="What is 6 x 7?", loop="converse", session_id="lp-job")
        assert run.wait_job(accepted.body["job_id"])["status"] == "FAILED"
    finally:
        vars(job_services)["run_agent"] = saved
    cleanup = run.function(".cleanup_handler").logical_id
    read = [
        c
        for c in run.recorder.calls[before:]
        if c.actor == cleanup and c.operation == "GetCodeInterpreterSession"
    ]
    assert read, "cleanup did not read the status of the session it could not stop"
    assert run.api.delete("lp-job").body["stopped"] is True


def sweep_a_leaked_session(run: Run) -> None:
    """The sweeper, as its schedule runs it: a session whose job is gone is listed, its owner
    read, its stop refused once (conflict: the status is read), then stopped; a session a
    live record holds is left alone."""
    import boto3

    with run.recorder.acting_as(TEST_ACTOR):
        client = boto3.client(
            "bedrock-agentcore", region_name=run.deployment.region, endpoint_url=run.emulator_url
        )
    interpreter = run.function(".api_handler").environment["CODE_INTERPRETER_ID"]
    sandbox = SandboxClient(interpreter, client=client)
    leaked = sandbox.start_session(name="bcx-job-lp-gone")
    held = run.api.execute("lp-held", code="x = 1")
    assert held.status == 200, held.body
    _inject_fault(
        run,
        {
            "exception": "conflictException",
            "sessionId": leaked,
            "mode": "http",
            "operation": "StopCodeInterpreterSession",
        },
    )
    fn = run.function(".sweeper_handler")
    sweeper = fn.module.sweeper
    grace, sweeper.grace_seconds = sweeper.grace_seconds, 0.0
    try:  # the first stop is refused; the next sweep stops it
        reports = [fn.handler({}, LambdaContext(function_name=fn.logical_id)) for _ in range(2)]
    finally:
        sweeper.grace_seconds = grace
    assert leaked in reports[0]["failed"] and leaked in reports[1]["stopped"], reports
    assert sandbox.session_status(leaked) == "TERMINATED"
    assert run.api.delete("lp-held").body["stopped"] is True  # it was held, so still running


def every_allowed_model(run: Run) -> None:
    """Every model the deployment allows, called by the API function and by the job function
    (each through its own inference profile), so each model grant is proven needed."""
    for model_id in run.function(".api_handler").environment["ALLOWED_MODEL_IDS"].split(","):
        with run.replay("converse_plain_answer", ".api_handler"):
            resp = run.api.invoke(prompt="What is 6 x 7?", loop="converse", model_id=model_id)
        assert resp.status == 200 and resp.body["model_id"] == model_id, resp.body
        with run.replay("converse_plain_answer", ".job_handler"):
            accepted = run.api.submit_job(
                prompt="What is 6 x 7?", loop="converse", model_id=model_id
            )
            assert accepted.status == 202, accepted.body
            done = run.wait_job(accepted.body["job_id"])
        assert done["status"] == "SUCCEEDED" and done["result"]["model_id"] == model_id, done
        # POST /v1/messages/count_tokens counts with the model's foundation model
        count = {"model": model_id, "messages": [{"role": "user", "content": "hi"}]}
        event = _v1_event("/v1/messages/count_tokens", "POST", json.dumps(count).encode(), JSON)
        counted = {"name": "lp_count", "turns": [{"response": {"body": {"inputTokens": 9}}}]}
        with run.replay(counted, ".api_handler"):
            raw = run.function(".api_handler").handler(event, LambdaContext())
        assert raw["statusCode"] == 200 and json.loads(raw["body"])["input_tokens"] == 9, raw


def _stream_event(body: dict[str, Any]) -> dict[str, Any]:
    """The recorded ``POST /invoke`` event, sent to the streamed method instead."""
    event = load_event("invoke")
    event.update(resource="/invoke/stream", path="/invoke/stream", body=json.dumps(body))
    event["requestContext"].update(resourcePath="/invoke/stream", path="/prod/invoke/stream")
    return event


def _sse(body: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of each server-sent event in a streamed body."""
    events = []
    for raw in body.decode().strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in raw.split("\n"))
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def stream_in_session_and_one_shot(run: Run) -> None:
    """``POST /invoke/stream`` through the streaming function's own runtime loop, polling a
    Runtime API double as it polls Lambda's (the turn runs on the pump's thread). The chart
    conversation in a session the API function created: the first call with an input from the
    bucket and a chart out (its history offloaded to S3), the second continuing it (the
    history read back, the session's status read); then one-shot on every allowed model, each
    through its own inference profile (its sandbox stopped at the end); then DELETE."""
    fn = run.function(".stream_handler")
    assert run.api.execute("lp-stream", code="started = True").status == 200
    run.upload("files/uploads/stream.txt", b"stream input")
    chart = load_fixture("converse_session_chart")
    first, second = chart["calls"]
    in_session: dict[str, Any] = {"loop": "converse", "session_id": "lp-stream"}
    calls: list[tuple[Any, dict[str, Any]]] = [
        (
            {**chart, "turns": chart["turns"][: first["turns"]]},
            {
                **in_session,
                "prompt": first["prompt"],
                "files": [{"name": "stream.txt", "s3_key": "files/uploads/stream.txt"}],
            },
        ),
        (
            {**chart, "turns": chart["turns"][first["turns"] :]},
            {**in_session, "prompt": second["prompt"]},
        ),
    ]
    for model_id in fn.environment["ALLOWED_MODEL_IDS"].split(","):
        body = {"prompt": "What is 6 x 7?", "loop": "converse", "model_id": model_id}
        calls.append(("converse_plain_answer", body))
    with FakeRuntimeApi() as runtime_api:
        loop = threading.Thread(
            target=serve,
            args=(RuntimeApi(runtime_api.address), fn.handler),
            kwargs={"invocations": len(calls)},
            name="streaming-runtime",  # attribution never reads thread names
            daemon=True,
        )
        loop.start()
        results = []
        for fixture, body in calls:
            with run.replay(fixture, ".stream_handler", stream=True):
                reply = runtime_api.invoke(_stream_event(body)).reply(60)
                events = _sse(reply.body(60))
            assert reply.status_code == 200 and not reply.failed, (reply, events)
            name, last = events[-1]
            assert name == "result" and last["status"] == "finished", events
            results.append(last["result"])
        loop.join(30)
        assert not loop.is_alive(), "the streaming runtime did not end after its invocations"
    [chart_file] = results[0]["files"]
    assert requests.get(chart_file["url"], timeout=10).content.startswith(b"<svg")
    assert "6.2048" in results[1]["code_runs"][0]["stdout"], results[1]
    assert [r["model_id"] for r in results[2:]] == [b["model_id"] for _, b in calls[2:]]
    assert run.api.delete("lp-stream").body["stopped"] is True


def anthropic_api(run: Run) -> None:
    """Anthropic's /v1: the API-key authorizer (its own function, reading only the key's
    item); on the streaming function (through its own runtime loop), a streamed
    /v1/messages turn whose code draws a chart in a new container (the PNG kept as a file of
    the key's owner), then a whole (``stream: false``) one that continues in that container;
    on the API function, an upload, the owner's file list and the chart's download."""
    env = run.function(".api_handler").environment
    keys = ApiKeyStore(run.client("dynamodb"), env["TABLE_NAME"], ttl_seconds=0)
    key = new_key()
    keys.put_api_key(key, owner="alice", name="lp")  # as `make api-key` does
    event = _v1_event("/v1/messages", "POST", b"", "application/json")
    event["headers"]["x-api-key"] = key
    event["methodArn"] = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/POST/v1/x"
    allowed = run.function("authorizer.handler").handler(event, LambdaContext())
    assert allowed["context"]["owner"] == "alice", allowed
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 256,
        "tools": [{"type": "code_execution_20250825", "name": "code_execution"}],
        "messages": [{"role": "user", "content": "Chart five months of sales."}],
    }
    fn = run.function(".stream_handler")
    chart = load_fixture("anthropic_sales_chart")  # the code writes outputs/sales.png
    with FakeRuntimeApi() as runtime_api:
        loop = threading.Thread(
            target=serve,
            args=(RuntimeApi(runtime_api.address), fn.handler),
            kwargs={"invocations": 2},
            name="streaming-runtime",
            daemon=True,
        )
        loop.start()
        streamed = json.dumps({**body, "stream": True}).encode()
        with run.replay(chart, ".stream_handler", stream=True):
            reply = runtime_api.invoke(_v1_event("/v1/messages", "POST", streamed, JSON)).reply(60)
            events = _sse(reply.body(60))
        assert reply.status_code == 200 and not reply.failed, (reply, events)
        [(_, delta)] = [e for e in events if e[0] == "message_delta"]
        container = delta["delta"]["container"]["id"]
        [chart_file] = [
            item["file_id"]
            for name, data in events
            if name == "content_block_start"
            for item in (data["content_block"].get("content") or {}).get("content", [])
        ]
        again = {
            **body,
            "container": container,
            "messages": [
                *body["messages"],
                {"role": "assistant", "content": "Done."},
                {"role": "user", "content": "Thanks"},
            ],
        }
        plain = {**chart, "turns": [{**chart["turns"][-1], "expect": {}}]}
        with run.replay(plain, ".stream_handler", stream=True):
            event = _v1_event("/v1/messages", "POST", json.dumps(again).encode(), JSON)
            whole = runtime_api.invoke(event).reply(60)
            message = json.loads(whole.body(60))
        assert whole.status_code == 200 and message["container"]["id"] == container, message
        loop.join(30)
        assert not loop.is_alive(), "the streaming runtime did not end after its invocations"
    handler = run.function(".api_handler").handler
    form = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="lp.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\na,b\n1,2\n\r\n--b--\r\n"
    )
    upload = _v1_event("/v1/files", "POST", form, "multipart/form-data; boundary=b")
    raw = handler(upload, LambdaContext())
    assert raw["statusCode"] == 200, raw["body"]
    raw = handler(_v1_event("/v1/files", "GET", b"", "application/json"), LambdaContext())
    assert json.loads(raw["body"])["data"], raw["body"]
    download = _v1_event(f"/v1/files/{chart_file}/content", "GET", b"", JSON)
    download["resource"] = "/v1/files/{id}/content"
    download["pathParameters"] = {"file_id": chart_file}
    raw = handler(download, LambdaContext())
    assert raw["statusCode"] == 200 and base64.b64decode(raw["body"]).startswith(b"\x89PNG")


_SKILL_MD = (
    b"---\nname: house-greeting\ndescription: Greets people in the house style. Use when "
    b"asked to greet someone.\n---\n\n# Greeting\n\nRun `python3 "
    b"skills/house-greeting/scripts/greet.py NAME` and answer with its output.\n"
)
_GREET = b"import sys\nprint(f'Ahoy, {sys.argv[1]}! (house style v1)')\n"


def _skill_form() -> bytes:
    parts = [("house-greeting/SKILL.md", _SKILL_MD), ("house-greeting/scripts/greet.py", _GREET)]
    form = b""
    for name, data in parts:
        form += (
            b'--b\r\nContent-Disposition: form-data; name="files[]"; filename="'
            + name.encode()
            + b'"\r\nContent-Type: text/plain\r\n\r\n'
            + data
            + b"\r\n"
        )
    return form + b"--b--\r\n"


def _v1(handler: Any, path: str, method: str, body: bytes = b"", **params: str) -> Any:
    multipart = "multipart/form-data; boundary=b"
    event = _v1_event(path, method, body, multipart if body else JSON)
    if params:
        event["pathParameters"] = params
    raw = handler(event, LambdaContext())
    assert raw["statusCode"] == 200, raw["body"]
    return raw["body"] if path.endswith("/content") else json.loads(raw["body"])


def anthropic_skills(run: Run) -> None:
    """Agent Skills: on the API function, a skill created, listed, given a second version,
    downloaded; used in a /v1/messages turn on the streaming function (container.skills: the
    skill's zip placed in the container), in an /invoke turn and in a job; then its versions
    and the skill deleted, as Anthropic's API asks."""
    handler = run.function(".api_handler").handler
    skill = _v1(handler, "/v1/skills", "POST", _skill_form())
    one = f"/v1/skills/{skill['id']}"
    assert skill["id"] in {s["id"] for s in _v1(handler, "/v1/skills", "GET")["data"]}
    v2 = _v1(handler, f"{one}/versions", "POST", _skill_form(), skill_id=skill["id"])
    zipped = _v1(
        handler, f"{one}/versions/{v2['id']}/content", "GET", skill_id=skill["id"], version=v2["id"]
    )
    assert base64.b64decode(zipped).startswith(b"PK")
    refs = [{"type": "custom", "skill_id": skill["id"], "version": "latest"}]
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "container": {"skills": refs},
        "tools": [{"type": "code_execution_20250825", "name": "code_execution"}],
        "messages": [{"role": "user", "content": "Greet Ada in the house style."}],
    }
    fn = run.function(".stream_handler")
    with FakeRuntimeApi() as runtime_api:
        loop = threading.Thread(
            target=serve,
            args=(RuntimeApi(runtime_api.address), fn.handler),
            kwargs={"invocations": 1},
            name="streaming-runtime",
            daemon=True,
        )
        loop.start()
        with run.replay("anthropic_skill_greeting", ".stream_handler", stream=True):
            event = _v1_event("/v1/messages", "POST", json.dumps(body).encode(), JSON)
            whole = runtime_api.invoke(event).reply(60)
            message = json.loads(whole.body(60))
        assert whole.status_code == 200 and message["container"]["skills"], message
        loop.join(30)
    with run.replay("invoke_skill_greeting", ".api_handler"):
        resp = run.api.invoke(
            prompt="Greet Ada in the house style.", skills=refs, skills_owner="alice"
        )
    assert resp.status == 200 and "Ahoy, Ada!" in resp.body["text"], resp.body
    with run.replay("invoke_skill_greeting", ".job_handler"):
        accepted = run.api.submit_job(
            prompt="Greet Ada in the house style.", skills=refs, skills_owner="alice"
        )
        assert accepted.status == 202, accepted.body
        done = run.wait_job(accepted.body["job_id"])
    assert done["status"] == "SUCCEEDED", done
    for v in _v1(handler, f"{one}/versions", "GET", skill_id=skill["id"])["data"]:
        _v1(handler, f"{one}/versions/{v['id']}", "DELETE", skill_id=skill["id"], version=v["id"])
    assert _v1(handler, one, "DELETE", skill_id=skill["id"])["type"] == "skill_deleted"


JSON = "application/json"


def _v1_event(path: str, method: str, body: bytes, content_type: str) -> dict[str, Any]:
    """The recorded /v1/messages event (API key, authorizer context) for another request."""
    event = load_event("messages")
    event["path"] = event["resource"] = event["requestContext"]["resourcePath"] = path
    event["httpMethod"] = event["requestContext"]["httpMethod"] = method
    event["headers"] = {**event["headers"], "Content-Type": content_type}
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    event["body"] = base64.b64encode(body).decode() if body else None
    event["isBase64Encoded"] = bool(body)
    return event


def web_search_from_every_worker(run: Run) -> None:
    """``InvokeWebSearch`` (issue 17's web_search server tool and built-in) from each function
    that runs model turns: the API, the streaming and the job function, through their own
    ``services.web_search`` (the emulator searches its corpus fixture)."""
    from code_exec.web.types import SearchRequest

    for handler in (".api_handler", ".stream_handler", ".job_handler"):
        hits = run.function(handler).services.web_search.search(SearchRequest("harbor city"))
        assert hits and hits[0].url.startswith("https://"), (handler, hits)


STEPS: list[Callable[[Run], None]] = [
    execute_with_files,
    execute_idempotent,
    messages_ptc_preloaded,
    strands_ptc_bridged,
    converse_direct,
    converse_session_with_chart,
    claude_code_in_session,
    job_in_session,
    job_fails_one_shot,
    job_fails_in_session,
    every_allowed_model,
    stream_in_session_and_one_shot,
    anthropic_api,
    anthropic_skills,
    sweep_a_leaked_session,
    web_search_from_every_worker,
]
