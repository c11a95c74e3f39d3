"""`make local` (scripts/local_api.py) serves the real handlers on 127.0.0.1, no AWS account:
the buffered routes each in a worker process of their own, ``/invoke/stream`` and
``/v1/messages`` through the streaming function's runtime started by its exec wrapper in
worker processes, ``/v1/*`` behind the authorizer."""

from __future__ import annotations

import http.client
import json
import os
import re
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench.load.plan import LoadSettings, expected_counts
from bench.load.report import render, verdict
from bench.load.runner import emulator_health, run_locust, sweep
from devtools.bedrock_replay import BedrockReplay, ConversationReplay, load_fixture, stream_frames
from devtools.bedrock_server import BedrockServer
from emulators.code_interpreter.spawn import agentcore_client, read_first_line
from tests.conftest import EMULATOR_RPS_PER_ACCOUNT, EMULATOR_RPS_PER_SESSION
from tests.runtime.local_process import drain, local_api_process

from .conftest import MODEL_ID

ROOT = Path(__file__).resolve().parents[2]
INTERPRETER = "aws.codeinterpreter.v1"
KEY = "sk-bcx-local-test-key"

pytestmark = [pytest.mark.sandbox, pytest.mark.cdk]


def _post(url: str, body: dict, method: str = "POST") -> tuple[int, dict]:
    # no Content-Type on purpose: curl -d sends form-encoded and the API must still read JSON
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@dataclass
class Local:
    """The running ``make local``: its URL, its API key, its Bedrock recording, its emulator's
    URL."""

    url: str
    key: str
    bedrock: BedrockServer
    emulator: str

    def assert_emulator_conforms(self, at_least: int) -> None:
        """Its own emulator checked every response it sent against the service model."""
        conformance = f"{self.emulator}/_emulator/conformance"
        with urllib.request.urlopen(conformance, timeout=10) as resp:
            report = json.loads(resp.read())
        assert report["enabled"] and report["checked"] >= at_least, report
        assert report["mismatches"] == []


@pytest.fixture(scope="module")
def local() -> Iterator[Local]:
    """``make local``'s script in a subprocess, its Bedrock endpoint a recording served here
    (each test sets the recording on the server). Its emulator checks its responses against
    the service model, like the suite's."""
    with BedrockServer(BedrockReplay({"name": "none", "turns": []})) as bedrock:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
        for name in ("MODEL_ALIASES", "ALLOWED_MODEL_IDS"):  # from cdk.json, as deployed
            env.pop(name, None)
        env.update(
            PORT="0",
            LOCAL_API_KEY=KEY,
            STREAM_WORKERS="1",
            DEFAULT_MODEL_ID=MODEL_ID,
            AWS_ENDPOINT_URL_BEDROCK_RUNTIME=bedrock.url,
            LOCAL_TOOL_PLACEMENT="bridged",
            CODE_INTERPRETER_ID=INTERPRETER,  # not whatever an earlier test left in os.environ
            CODE_INTERPRETER_EMULATOR_CHECK_RESPONSES="1",
            CODE_INTERPRETER_EMULATOR_MAX_RPS_PER_SESSION=str(EMULATOR_RPS_PER_SESSION),
            CODE_INTERPRETER_EMULATOR_MAX_RPS_PER_ACCOUNT=str(EMULATOR_RPS_PER_ACCOUNT),
        )
        with local_api_process(env) as (proc, url):
            banner = read_first_line(proc, 10)  # "API ready at ... (code interpreter emulator: URL"
            emulator = re.search(r"code interpreter emulator: (http://[^,\s]+)", banner)
            assert emulator, banner
            assert "tools: bridged" in banner, banner
            drain(proc)
            yield Local(url, KEY, bedrock, emulator.group(1))


def test_local_api_runs_code_in_the_emulator(local: Local) -> None:
    url = local.url
    status, body = _post(f"{url}/sessions/demo/execute", {"code": "print(6*7)"})
    assert status == 200, body
    assert body["stdout"] == "42\n"

    status, body = _post(
        f"{url}/sessions/demo/execute",
        {"code": "_ = open('outputs/answer.txt', 'w').write(str(6*7))"},
    )
    assert status == 200, body
    [out] = body["files"]
    with urllib.request.urlopen(out["url"], timeout=10) as resp:  # presigned, moto S3
        assert resp.read() == b"42"

    status, body = _post(f"{url}/sessions/demo/execute", {"code": 42})
    assert (status, body["error"]["field"]) == (400, "code")

    status, body = _post(f"{url}/sessions/demo", {}, method="DELETE")
    assert (status, body["stopped"]) == (200, True)
    local.assert_emulator_conforms(at_least=5)


def _paused_chart() -> dict[str, Any]:
    """The chart turn, its model pausing 3 s after its first words."""
    chart = load_fixture("converse_session_chart")
    fixture = {**chart, "turns": json.loads(json.dumps(chart["turns"][:2]))}
    first = fixture["turns"][0]["response"]
    frames = stream_frames("ConverseStream", first["body"])
    text = next(i for i, f in enumerate(frames) if "text" in json.dumps(f))
    first["stream"] = [*frames[: text + 1], {"sleep": 3}, *frames[text + 1 :]]
    return fixture


def test_local_api_streams_invoke_stream_as_it_is_written(local: Local) -> None:
    """What ``curl -N localhost:8000/invoke/stream`` sees: the first words arrive while the
    model is still pausing, then the tool call, the cell's output, the files and the result.
    The model is a recording served over HTTP (``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``); the
    streaming worker's sandbox calls go to the same checked emulator."""
    url, bedrock = local.url, local.bedrock
    fixture = _paused_chart()
    bedrock.replay = BedrockReplay(fixture, stream=True)
    conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=120)
    body = {"prompt": fixture["calls"][0]["prompt"], "loop": "converse"}
    conn.request("POST", "/invoke/stream", body=json.dumps(body).encode())
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Transfer-Encoding") == "chunked"
    names, buffer, early = [], b"", None
    while data := response.read1(65536):
        buffer += data
        while b"\n\n" in buffer:
            raw, buffer = buffer.split(b"\n\n", 1)
            name = raw.split(b"\n", 1)[0].decode().removeprefix("event: ")
            names.append(name)
            if name == "text" and early is None:  # is the model still writing?
                model = bedrock.replay.streams[0]
                early = model.sent < len(model.frames)
            last = json.loads(raw.split(b"\ndata: ", 1)[1])
    bedrock.replay.assert_done()
    assert not bedrock.errors
    assert early is True, "the first words arrived only after the model had finished"
    assert names[0] == "start" and names[-1] == "result"
    for name in ("text", "tool_use", "code_start", "code_end", "files", "model_call"):
        assert name in names, names
    assert last["status"] == "finished"
    assert "mean_sq = 38.5" in last["result"]["code_runs"][0]["stdout"]
    local.assert_emulator_conforms(at_least=3)


def test_make_local_bridges_the_tools_and_make_load_runs_headless(
    local: Local, tmp_path: Path
) -> None:
    """``make load`` in small: locust, in its own process, runs the load scenario (2 named
    sessions: code runs, the expense audit in PTC mode, a concurrent pair that must give one
    409, then DELETE) against ``make local`` answering from the recorded turns with its
    tools bridged and its emulator rate-limited; locust's CSV is read back and judged, and
    one sweep (``POST /_local/sweep``) leaves no session READY."""
    recording = load_fixture("converse_expense_audit_ptc")
    call = recording["calls"][0]
    local.bedrock.replay = ConversationReplay([recording])
    request = {"prompt": call["prompt"], "loop": "converse", "tools": call["tools"]}
    status, body = _post(f"{local.url}/invoke", {**request, "session_id": "placed"})
    assert status == 200 and body["stop_reason"] == "end_turn", body
    client = agentcore_client(local.emulator)
    [placed] = [
        s["sessionId"]
        for s in client.list_code_interpreter_sessions(
            codeInterpreterIdentifier="aws.codeinterpreter.v1", status="READY"
        )["items"]
        if s.get("name") == "bcx-session-placed"
    ]
    with urllib.request.urlopen(f"{local.emulator}/_emulator/sessions/{placed}/calls") as resp:
        tools = json.loads(resp.read())["tools"]
    assert tools.get("startCommandExecution") == 1, tools  # the bridged runner, not preloaded
    assert _post(f"{local.url}/sessions/placed", {}, method="DELETE")[0] == 200

    settings = LoadSettings(sessions=2, requests=4, time_limit=90)
    results = run_locust(local.url, settings, tmp_path)
    ready = emulator_health(local.emulator)["sessions"]
    report = sweep(local.url)
    results.extra.update(ready_after_run=ready, ready_after_sweep=report["ready_after"])
    assert verdict(results, expected_counts(settings)) == [], render(results, [])
    assert results.conflicts == 1
    assert report["ready"] == 0 and report["stopped"] == []
    assert local.bedrock.errors == []
    local.bedrock.replay.assert_done()
    status, body = _post(f"{local.url}/_local/sweep?grace_seconds=soon", {})
    assert (status, body["error"]["field"]) == (400, "grace_seconds")


def test_local_api_serves_anthropic_through_the_authorizer(local: Local) -> None:
    """Anthropic's API, through the authorizer, with the key the server minted; model names
    as the stack derives them from cdk.json."""
    import anthropic

    from stacks.settings import Settings

    c = anthropic.Anthropic(base_url=local.url, api_key=local.key, max_retries=0)
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    derived = Settings.from_context(context.get).anthropic_models  # what the stack sets
    assert {m.id for m in c.models.list().data} == set(derived) != set()
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=local.url, api_key="sk-bcx-nope", max_retries=0).models.list()
    # a buffered /v1 route in an API worker process, with the owner the authorizer passed on
    uploaded = c.beta.files.upload(file=("data.csv", b"a,b\n1,2\n", "text/csv"))
    assert uploaded.size_bytes == 8 and uploaded.id in {f.id for f in c.beta.files.list().data}


@pytest.mark.filterwarnings("ignore:The model")
def test_local_api_streams_v1_messages_through_the_streaming_runtime(local: Local) -> None:
    """``client.messages.stream`` against ``make local``: ``/v1/messages`` runs in a worker
    process started through the exec wrapper, its model calls streamed from a recording
    served over HTTP; the first words reach the SDK while the model is still pausing, and the
    bash run and the answer follow in the same request."""
    import anthropic

    stats = json.loads(json.dumps(load_fixture("anthropic_bash_stats")))
    first = stats["turns"][0]["response"]
    frames = stream_frames("InvokeModelWithResponseStream", first["body"])
    text = next(i for i, f in enumerate(frames) if "text_delta" in _chunk(f))
    first["stream"] = [*frames[: text + 1], {"sleep": 3}, *frames[text + 1 :]]
    local.bedrock.replay = BedrockReplay(stats, stream=True)
    client = anthropic.Anthropic(
        base_url=local.url, api_key=local.key, max_retries=0, _strict_response_validation=True
    )
    early = None
    with client.messages.stream(
        model="claude-sonnet-4-5",
        max_tokens=4096,
        tools=[{"type": "code_execution_20250825", "name": "code_execution"}],
        messages=[{"role": "user", "content": "Mean and stdev of 1..10?"}],
    ) as stream:
        for event in stream:
            if event.type == "text" and early is None:
                model = local.bedrock.replay.streams[0]
                early = model.sent < len(model.frames)
        final = stream.get_final_message()
    local.bedrock.replay.assert_done()
    assert not local.bedrock.errors
    assert early is True, "the first words arrived only after the model had finished"
    assert final.stop_reason == "end_turn" and final.container is not None
    assert "5.5" in final.content[2].content.stdout  # type: ignore[union-attr]


@pytest.mark.filterwarnings("ignore:The model")
def test_local_api_answers_v1_messages_unstreamed_from_the_streaming_runtime(local: Local) -> None:
    """``stream: false`` goes to the streaming function too (API Gateway picks the function
    per method, not per body; the buffered function has no such route) and comes back as
    one JSON message."""
    import anthropic

    local.bedrock.replay = BedrockReplay(load_fixture("anthropic_bash_stats"), stream=True)
    client = anthropic.Anthropic(
        base_url=local.url, api_key=local.key, max_retries=0, _strict_response_validation=True
    )
    raw = client.messages.with_raw_response.create(
        model="claude-sonnet-4-5",
        max_tokens=4096,
        tools=[{"type": "code_execution_20250825", "name": "code_execution"}],
        messages=[{"role": "user", "content": "Mean and stdev of 1..10?"}],
    )
    assert raw.headers["content-type"].startswith("application/json"), raw.headers
    message = raw.parse()
    local.bedrock.replay.assert_done()
    assert not local.bedrock.errors
    assert message.stop_reason == "end_turn" and message.container is not None
    assert "5.5" in message.content[2].content.stdout  # type: ignore[union-attr]


def _chunk(frame: dict[str, Any]) -> str:
    import base64

    return base64.b64decode(frame["payload"]["bytes"]).decode() if "payload" in frame else ""


def _bash_turn(command: str, tool_id: str) -> dict[str, Any]:
    """A recorded model turn (Bedrock's InvokeModel body) asking for one bash command."""
    return _turn(
        [
            {"type": "text", "text": "Let me run that."},
            {
                "type": "tool_use",
                "id": f"toolu_bdrk_01{tool_id:x<22}",
                "name": "bash_code_execution",
                "input": {"command": command},
            },
        ],
        "tool_use",
    )


def _turn(content: list[dict[str, Any]], stop: str) -> dict[str, Any]:
    return {
        "expect": {"operation": "InvokeModel"},
        "response": {
            "status": 200,
            "headers": {"Content-Type": "application/json"},
            "body": {
                "id": "msg_bdrk_01" + "y" * 22,
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5-20250929",
                "content": content,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": {"input_tokens": 100, "output_tokens": 20},
            },
        },
    }


def _sandbox_processes(local: Local, container_id: str) -> list[list[str]]:
    """The processes of the container's sandbox (its session is named for the container)."""
    from code_exec.owners import container_owner

    from emulators.code_interpreter.admin import session_processes

    client = agentcore_client(local.emulator)
    name = container_owner(container_id).name
    sessions = client.list_code_interpreter_sessions(
        codeInterpreterIdentifier=INTERPRETER, status="READY"
    )["items"]
    [session] = [s["sessionId"] for s in sessions if s.get("name") == name]
    return session_processes(local.emulator, session)


@pytest.mark.filterwarnings("ignore:The model")
def test_a_client_that_leaves_during_a_long_bash_command_frees_its_container(
    local: Local, capsys: pytest.CaptureFixture[str]
) -> None:
    """The acceptance of issue 14: a client disconnects while ``sleep 300`` runs in a ``/v1``
    bash call. The command is stopped in the sandbox (its process is gone from the
    emulator's view of the sandbox) and the same container serves a new request within 30 s
    (bounded waits; the measured time is printed)."""
    import anthropic

    marker = "300.0431"
    local.bedrock.replay = BedrockReplay(
        {
            "name": "disconnect",
            "turns": [
                _bash_turn("echo ready", "Ready"),
                _turn([{"type": "text", "text": "Ready."}], "end_turn"),
                _bash_turn(f"sleep {marker}", "Sleep"),
                _turn([{"type": "text", "text": "Back."}], "end_turn"),
            ],
        },
        stream=True,
    )
    client = anthropic.Anthropic(base_url=local.url, api_key=local.key, max_retries=0)
    tools = [{"type": "code_execution_20250825", "name": "code_execution"}]
    first = client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=1024,
        tools=tools,
        messages=[{"role": "user", "content": "Get ready."}],
    )
    assert first.stop_reason == "end_turn" and first.container is not None
    container = first.container.id
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "tools": tools,
        "container": container,
        "stream": True,
        "messages": [{"role": "user", "content": "Now sleep."}],
    }
    conn = http.client.HTTPConnection(local.url.removeprefix("http://"), timeout=60)
    headers = {"x-api-key": local.key, "content-type": "application/json"}
    conn.request("POST", "/v1/messages", body=json.dumps(body).encode(), headers=headers)
    response = conn.getresponse()
    assert response.status == 200
    sleeping = False
    for _ in range(300):  # until the command runs in the sandbox (bounded: 30 s)
        sleeping = any(marker in argv for argv in _sandbox_processes(local, container))
        if sleeping:
            break
        time.sleep(0.1)
    assert sleeping, "the command never started"
    conn.sock.close()  # type: ignore[union-attr]  # the client goes away mid-command
    conn.close()
    left = time.monotonic()

    served, freed_after = None, None
    while served is None:  # bounded: every try must be answered within the 30 s window
        window = 30.0 - (time.monotonic() - left)
        assert window > 0, "the container was still busy 30 s after the client left"
        try:
            served = client.with_options(timeout=window).messages.create(
                model="claude-sonnet-4-5",
                max_tokens=1024,
                tools=tools,
                container=container,
                messages=[{"role": "user", "content": "Still there?"}],
            )
            freed_after = time.monotonic() - left
        except anthropic.ConflictError:  # still held by the request that lost its client
            time.sleep(0.25)
    assert served.stop_reason == "end_turn" and served.container.id == container  # type: ignore[union-attr]
    gone = not any(marker in argv for argv in _sandbox_processes(local, container))
    assert gone, "the sleep still runs in the sandbox"
    with capsys.disabled():
        print(f"\n[measure] container free {freed_after:.2f} s after the client left")
    local.bedrock.replay.assert_done()
