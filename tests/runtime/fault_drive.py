"""The public entry points each row of the fault matrix is driven through (``test_fault_matrix``).

Every drive runs against :class:`World`: the API served over HTTP on 127.0.0.1 as API Gateway
routes it (:class:`devtools.local_server.LocalApi`: buffered routes to ``api_handler``, streamed
ones through the streaming function's own runtime loop, ``/v1`` behind the authorizer), jobs on
the real state machine in moto (:class:`devtools.lambda_adapter.LambdaAdapter`), the sweeper's
handler, and an emulator of the module's own (its READY count is this module's alone).

A drive does its preparation with the fault off, switches it on for the one request the row is
about (``with on(injector)``), and returns what the client saw (:class:`Seen`) and the cleanup a
user would do afterwards (DELETE of the named session it created).
"""

from __future__ import annotations

import base64
import copy
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests

from devtools.bedrock_replay import FIXTURES, BedrockReplay, load_fixture
from devtools.fault_injection import FaultInjector
from devtools.lambda_adapter import LambdaContext

__all__ = ["DRIVES", "SHARED", "SHARED_DRIVES", "UPLOADED", "Seen", "World", "on"]

JSON = {"Content-Type": "application/json"}


@dataclass
class Seen:
    """What the client saw: status (the streamed error event's, once a stream started),
    error code (``error.code``, or Anthropic's ``error.type`` on /v1), ``Retry-After``."""

    status: int
    code: str | None
    retry_after: bool
    detail: str = ""

    def seen(self) -> tuple[int, str | None, bool]:
        return self.status, self.code, self.retry_after


@dataclass
class World:
    url: str
    handler: Any  # code_exec.api.handler
    streamed: Any  # code_exec.api.streamed
    bedrock: Any  # the model client both functions share (a replay answers it when healthy)
    s3: Any  # the test's own client
    bucket: str
    api_key: str
    stepfunctions: Any  # the test's own client (no fault is injected into it)
    state_machine_arn: str
    cleanups: list[Callable[[], None]] = field(default_factory=list)
    kept: set[str] = field(default_factory=set)  # named sessions kept running across cells
    counter: int = 0

    def name(self, prefix: str) -> str:
        self.counter += 1
        return f"fm-{prefix}-{self.counter}"

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
        return requests.post(
            self.url + path, data=json.dumps(body), headers={**JSON, **(headers or {})}, timeout=120
        )

    def execute(self, session: str, **body: Any) -> Any:
        return self.post(f"/sessions/{session}/execute", body)

    def delete(self, session: str) -> Any:
        return requests.delete(f"{self.url}/sessions/{session}", timeout=60)

    def named(self, session: str) -> str:
        """A named session the user deletes once the cell is over."""
        self.cleanups.append(lambda: _deleted(self, session))
        return session

    def replay(self, fixture: str | dict[str, Any], *, stream: bool | None = None) -> BedrockReplay:
        return BedrockReplay(fixture, stream=stream).attach(self.bedrock)


def _deleted(world: World, session: str) -> None:
    resp = world.delete(session)
    assert resp.status_code == 200, resp.text


@contextmanager
def on(injector: FaultInjector) -> Iterator[None]:
    injector.on = True
    try:
        yield
    finally:
        injector.on = False


def _is_json(resp: Any) -> bool:
    return "json" in resp.headers.get("content-type", "") and resp.text.startswith("{")


def seen_http(resp: Any) -> Seen:
    """A buffered answer (or a stream refused before its first byte)."""
    if resp.status_code < 400:
        # a failure after the code ran is reported in the answer, not as an error status
        reported = resp.json().get("after_run_errors") if _is_json(resp) else None
        code = reported[0]["code"] if reported else None
        return Seen(resp.status_code, code, "retry-after" in resp.headers, resp.text[:300])
    error = resp.json()["error"]
    code = error.get("code") or error.get("type")
    return Seen(resp.status_code, code, "retry-after" in resp.headers, error.get("message", ""))


def seen_sse(resp: Any) -> Seen:
    """A streamed answer: the HTTP error before the stream, else its ``error`` event."""
    if resp.status_code != 200 or "json" in resp.headers.get("content-type", ""):
        return seen_http(resp)
    for raw in resp.text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in raw.split("\n") if ": " in line)
        if fields.get("event") != "error":
            continue
        data = json.loads(fields["data"])
        error = data["error"]
        status = int(data.get("status") or _ANTHROPIC_STATUS.get(error.get("type"), 500))
        return Seen(status, error.get("code") or error.get("type"), False, error.get("message"))
    return Seen(200, None, False, resp.text[-300:])


_ANTHROPIC_STATUS = {
    "rate_limit_error": 429,
    "overloaded_error": 529,
    "api_error": 500,
    "timeout_error": 504,
    "permission_error": 403,
}

SHARED = "fm-shared"  # the module's running session (the user's recovery is checked on it)
SHARED_DRIVES = frozenset(
    {
        "execute",
        "execute_command",
        "execute_s3_input",
        "invoke_converse",
        "invoke_messages",
        "stream_converse",
    }
)
_ASK = {"prompt": "What is 6 x 7?", "session_id": SHARED}  # a turn in the running session
UPLOADED = "files/uploads/fm-input.txt"  # an object of the files bucket, uploaded by the user
_WRITE_OUTPUT = "open('outputs/out.txt', 'w').write(open('inputs/in.txt').read())"
_INPUT = [{"name": "in.txt", "content_base64": base64.b64encode(b"fault matrix").decode()}]


def execute(world: World, injector: FaultInjector) -> Seen:
    """An input file in, code run, an output file out, on the module's running session."""
    with on(injector):
        return seen_http(world.execute(SHARED, code=_WRITE_OUTPUT, files=_INPUT))


def execute_new(world: World, injector: FaultInjector) -> Seen:
    session = world.named(world.name("new"))
    with on(injector):
        return seen_http(world.execute(session, code="x = 1"))


def execute_command(world: World, injector: FaultInjector) -> Seen:
    with on(injector):
        return seen_http(world.execute(SHARED, command="echo hello"))


def execute_s3_input(world: World, injector: FaultInjector) -> Seen:
    files = [{"name": "in.txt", "s3_key": UPLOADED}]
    with on(injector):
        return seen_http(world.execute(SHARED, command="cat inputs/in.txt", files=files))


def delete(world: World, injector: FaultInjector) -> Seen:
    session = world.named(world.name("del"))
    assert world.execute(session, code="x = 1").status_code == 200
    with on(injector):
        return seen_http(world.delete(session))


def invoke_converse(world: World, injector: FaultInjector) -> Seen:
    with on(injector):
        return seen_http(world.post("/invoke", {**_ASK, "loop": "converse"}))


def invoke_messages(world: World, injector: FaultInjector) -> Seen:
    with on(injector):
        return seen_http(world.post("/invoke", {**_ASK, "loop": "messages"}))


def stream_converse(world: World, injector: FaultInjector) -> Seen:
    with on(injector):
        resp = world.post("/invoke/stream", {**_ASK, "loop": "converse"})
    return seen_sse(resp)


def stream_v1(world: World, injector: FaultInjector) -> Seen:
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "stream": True,
        "messages": [{"role": "user", "content": "What is 6 x 7?"}],
    }
    with on(injector):
        resp = world.post("/v1/messages", body, {"x-api-key": world.api_key})
    return seen_sse(resp)


def v1_files(world: World, injector: FaultInjector) -> Seen:
    with on(injector):
        resp = requests.get(
            f"{world.url}/v1/files", headers={"x-api-key": world.api_key}, timeout=60
        )
    return seen_http(resp)


def v1_count_tokens(world: World, injector: FaultInjector) -> Seen:
    body = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}
    with on(injector):
        resp = requests.post(
            f"{world.url}/v1/messages/count_tokens",
            json=body,
            headers={"x-api-key": world.api_key},
            timeout=60,
        )
    return seen_http(resp)


def v1_skill_version_delete(world: World, injector: FaultInjector) -> Seen:
    key = {"x-api-key": world.api_key}
    skill_md = b"---\nname: fault-skill\ndescription: A skill to delete.\n---\n"
    made = requests.post(
        f"{world.url}/v1/skills",
        files=[("files[]", ("fault-skill/SKILL.md", skill_md, "text/markdown"))],
        headers=key,
        timeout=60,
    )
    assert made.status_code == 200, made.text
    skill = made.json()
    with on(injector):
        resp = requests.delete(
            f"{world.url}/v1/skills/{skill['id']}/versions/{skill['latest_version_id']}",
            headers=key,
            timeout=60,
        )
    return seen_http(resp)


def job_submit(world: World, injector: FaultInjector) -> Seen:
    replay = world.replay("converse_plain_answer")
    body = {"prompt": "What is 6 x 7?", "loop": "converse"}
    body["files"] = [{"name": "in.txt", "s3_key": UPLOADED}]
    try:
        with on(injector):
            resp = world.post("/jobs", body)
        if resp.status_code == 202:
            _job_ended(world, resp.json()["job_id"])
            replay.assert_done()
    finally:
        replay.detach()
    return seen_http(resp)


def job_status(world: World, injector: FaultInjector) -> Seen:
    entered, release = threading.Event(), threading.Event()
    services = world.handler.services
    saved = vars(services).get("run_agent")

    def held(request: Any, *, deps: Any) -> Any:
        entered.set()
        release.wait(60)
        raise RuntimeError("the test ends this job")

    services.override(run_agent=held)
    try:
        accepted = world.post("/jobs", {"prompt": "What is 6 x 7?", "loop": "converse"})
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["job_id"]
        assert entered.wait(30)
        with on(injector):
            resp = requests.get(f"{world.url}/jobs/{job_id}", timeout=60)
        release.set()
        _job_ended(world, job_id)
    finally:
        release.set()
        if saved is None:
            vars(services).pop("run_agent", None)
        else:
            services.override(run_agent=saved)
    return seen_http(resp)


def _job_ended(world: World, job_id: str) -> None:
    """Wait until the job's execution has ended, its cleanup step included, then check that
    ``GET /jobs/{id}`` reports it final. The execution is read with the test's own client (a
    call to moto, not a request through the API), and nothing of this cell's job runs on into
    the next cell (its cleanup step used to, once the job's record was final).
    """
    machine = world.state_machine_arn
    arn = f"{machine.replace(':stateMachine:', ':execution:')}:{job_id}"
    deadline = time.monotonic() + 60
    while world.stepfunctions.describe_execution(executionArn=arn)["status"] == "RUNNING":
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} did not end")
        time.sleep(0.1)
    body = requests.get(f"{world.url}/jobs/{job_id}", timeout=60).json()
    assert body.get("status") in ("SUCCEEDED", "FAILED"), body


def sweep(world: World, injector: FaultInjector) -> Seen:
    """The sweeper's handler with one leaked session (a job's, whose job is unknown); what
    its invoker sees is the typed error it raises, or its report."""
    from code_exec.exceptions import CodeExecError
    from code_exec.functions import sweeper_function  # on the API's services (conftest)

    sandbox = world.handler.services.sandbox
    leaked = sandbox.start_session(name=f"bcx-job-{world.name('gone')}")
    sweeper = sweeper_function.sweeper
    grace, sweeper.grace_seconds = sweeper.grace_seconds, 0.0
    try:
        with on(injector):
            report = sweeper_function.sweeper_handler({}, LambdaContext(function_name="sweeper"))
    except CodeExecError as e:  # the invocation fails (typed): EventBridge runs it again
        return Seen(e.status, e.code, e.retry_after is not None, e.message)
    finally:
        sweeper.grace_seconds = grace
    assert leaked in report["stopped"], report
    return Seen(200, None, False, json.dumps(report))


CLAUDE = "fm-claude"  # the session the stand-in Claude Code is installed in, once
_CLAUDE = """#!/usr/bin/env bash
mkdir -p outputs
cat "$(dirname "$0")/../result.json"
"""


def claude_code(world: World, injector: FaultInjector) -> Seen:
    """A Claude Code turn (a stand-in ``claude`` in the sandbox) in a session set up once."""
    if CLAUDE not in world.kept:
        assert world.execute(CLAUDE, code=_claude_setup()).status_code == 200
        world.kept.add(CLAUDE)
    body: dict[str, Any] = {"prompt": "Say hi.", "loop": "claude_code", "session_id": CLAUDE}
    with on(injector):
        return seen_http(world.post("/invoke", body))


def _claude_setup() -> str:
    from code_exec.claude_code.runner import CLAUDE_CODE_VERSION

    prefix = ".bcx/claude-code"
    files = {
        f"{prefix}/.installed-{CLAUDE_CODE_VERSION}": b"",
        f"{prefix}/bin/claude": _CLAUDE.encode(),
        f"{prefix}/result.json": (FIXTURES / "claude_code_result.json").read_bytes(),
    }
    setup = "import os\n" + "\n".join(
        f"os.makedirs(os.path.dirname({p!r}), exist_ok=True); open({p!r}, 'wb').write({d!r})"
        for p, d in files.items()
    )
    return setup + f"\nos.chmod({prefix + '/bin/claude'!r}, 0o755)"


def v1_bash(world: World, injector: FaultInjector) -> Seen:
    """A /v1 turn whose bash command outlives the request: the command is stopped in the
    sandbox at the request's end (``stopTask``), in the container the cells share."""
    from code_exec.anthropic.turn import TurnLimits

    fixture = copy.deepcopy(load_fixture("anthropic_bash_stats"))
    first = fixture["turns"][0]
    [call] = [b for b in first["response"]["body"]["content"] if b["type"] == "tool_use"]
    call["input"] = {"command": "sleep 3"}
    fixture["turns"] = [first]  # the request ends while the command runs: no second call
    body: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 256,
        "tools": [{"type": "code_execution_20250825", "name": "code_execution"}],
        "messages": [{"role": "user", "content": fixture["prompt"]}],
    }
    container = next((k for k in world.kept if k.startswith("container:")), None)
    if container:
        body["container"] = container.removeprefix("container:")
        first["expect"] = {}  # the container's files are listed to the model this time
    services = world.streamed.services
    saved = vars(services).get("turn_limits")
    services.override(turn_limits=TurnLimits(wall_time_seconds=1.0))
    replay = world.replay(fixture)
    try:
        with on(injector):
            resp = world.post("/v1/messages", body, {"x-api-key": world.api_key})
    finally:
        replay.detach()
        vars(services).pop("turn_limits", None)
        if saved is not None:
            services.override(turn_limits=saved)
    if resp.status_code == 200 and not container:
        world.kept.add(f"container:{resp.json()['container']['id']}")
    return seen_http(resp)


def web_search(world: World, injector: FaultInjector) -> Seen:
    """The search backend as a web_search tool calls it: a ``WebToolError`` is what the model
    sees (status 200: the turn goes on); a turn-ending error is rendered as the API would."""
    from code_exec.exceptions import CodeExecError
    from code_exec.web.types import SearchRequest, WebToolError

    with on(injector):
        try:
            hits = world.handler.services.web_search.search(SearchRequest("harbor city"))
        except WebToolError as e:
            return Seen(200, e.error_code, False, e.message)
        except CodeExecError as e:
            return Seen(e.status, e.code, e.retry_after is not None, e.message)
    return Seen(200, None, False, f"{len(hits)} hits")


DRIVES: dict[str, Callable[[World, FaultInjector], Seen]] = {
    fn.__name__: fn
    for fn in (
        execute,
        execute_new,
        execute_command,
        execute_s3_input,
        delete,
        invoke_converse,
        invoke_messages,
        stream_converse,
        stream_v1,
        v1_files,
        v1_count_tokens,
        v1_skill_version_delete,
        job_submit,
        job_status,
        sweep,
        claude_code,
        v1_bash,
        web_search,
    )
}
