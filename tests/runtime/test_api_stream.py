"""``POST /invoke/stream`` over HTTP, through the streaming function's own runtime loop.

The path is the deployed one: an HTTP client -> the local front (API Gateway's part) -> the
Runtime API double -> ``code_exec.streaming.runtime`` (threads of this process, so moto and
the Bedrock replay apply) -> ``stream_handler`` -> the agent loop, model streamed from a
recording, code run in the emulator. Times are checked as orderings where possible; the one
latency asserted (model frame written -> event read by the client) is measured across the
whole pipeline.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from code_exec.api.streamed import StreamSettings

from devtools.bedrock_replay import BedrockReplay, load_fixture, stream_frames
from devtools.local_server import LocalApi

from .conftest import INTERPRETER_ID, MODEL_ID, replay_bedrock_client

pytestmark = [pytest.mark.sandbox, pytest.mark.slow(seconds=50, waits=True)]

SLOW = "converse_stream_slow_turn"  # the model pauses 31 s after its first words
PROMPT = load_fixture(SLOW)["calls"][0]["prompt"]


@dataclass
class Event:
    at: float  # time.monotonic() when the client had read it
    name: str
    data: dict[str, Any]


class SseClient:
    """A plain HTTP/1.1 client reading server-sent events as they arrive (``curl -N``)."""

    def __init__(self, url: str, body: dict[str, Any]) -> None:
        self.conn = http.client.HTTPConnection(url.split("//", 1)[1], timeout=120)
        self.conn.request("POST", "/invoke/stream", body=json.dumps(body).encode())
        self.response = self.conn.getresponse()
        self.events: list[Event] = []

    def __iter__(self) -> Iterator[Event]:
        buffer = b""
        while True:
            data = self.response.read1(65536)
            if not data:
                return
            buffer += data
            while b"\n\n" in buffer:
                raw, buffer = buffer.split(b"\n\n", 1)
                fields = dict(line.split(": ", 1) for line in raw.decode().split("\n"))
                event = Event(time.monotonic(), fields["event"], json.loads(fields["data"]))
                assert event.data["type"] == event.name
                self.events.append(event)
                yield event

    def close(self) -> None:
        self.conn.sock.close()  # type: ignore[union-attr]  # the client goes away mid-stream
        self.conn.close()

    def names(self) -> list[str]:
        return [e.name for e in self.events]


@pytest.fixture(scope="module")
def streamed(sandbox_env: str, handler: Any) -> Iterator[Any]:
    """The streaming function's module, on the emulator, with a replayed model; the buffered
    API function shares the same replay client."""
    from code_exec.api import streamed as module

    module.services.reset()
    bedrock = replay_bedrock_client()
    module.services.override(bedrock=bedrock)
    handler.services.reset()
    handler.services.override(bedrock=bedrock)
    saved = module.routes.settings
    module.routes.settings = StreamSettings(ping_seconds=5.0, grace_seconds=10.0)
    try:
        yield module, bedrock
    finally:
        module.routes.settings = saved
        module.services.reset()
        handler.services.reset()


@pytest.fixture(scope="module")
def local(streamed: Any, handler: Any) -> Iterator[LocalApi]:
    with LocalApi(handler.api_handler, workers=2) as api:
        yield api


def _ready_sessions(agentcore_client: Any) -> set[str]:
    return set(_ready_names(agentcore_client))


def _ready_names(agentcore_client: Any) -> dict[str, str]:
    """READY session id -> the name it was started with."""
    page = agentcore_client.list_code_interpreter_sessions(
        codeInterpreterIdentifier=INTERPRETER_ID, status="READY", maxResults=100
    )
    return {s["sessionId"]: s.get("name", "") for s in page["items"]}


def _until(check: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return bool(check())


def _comparable(result: dict[str, Any]) -> dict[str, Any]:
    """A result without what differs between two runs of one recording (timings, file URLs)."""
    out = {k: v for k, v in result.items() if k not in ("duration_ms", "files")}
    out["code_runs"] = [
        {k: v for k, v in r.items() if k != "duration_ms"} for r in out["code_runs"]
    ]
    out["files"] = [(f["name"], f["size"], f["media_type"]) for f in result["files"]]
    return out


def _post(url: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection(url.split("//", 1)[1], timeout=120)
    conn.request("POST", path, body=json.dumps(body).encode())
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def test_bad_requests_answer_json_4xx_naming_the_field_before_any_stream(local: LocalApi) -> None:
    for body, status, field in (
        ({}, 400, "prompt"),
        ({"prompt": "hi", "model_id": "anthropic.not-allowed"}, 400, "model_id"),
        ({"prompt": "hi", "limits": {"max_turns": 0}}, 400, "limits.max_turns"),
        ({"prompt": "hi", "tools": ["no_such_tool"]}, 400, "tools"),
    ):
        got, error = _post(local.url, "/invoke/stream", body)
        assert (got, error["error"]["field"]) == (status, field), error
    conn = http.client.HTTPConnection(local.url.split("//", 1)[1], timeout=30)
    conn.request("POST", "/invoke/stream", body=b"{not json")
    response = conn.getresponse()
    assert response.status == 400 and response.getheader("content-type") == "application/json"
    assert json.loads(response.read())["error"]["field"] == "body"


def test_a_turn_longer_than_30_s_streams_its_first_words_at_once_and_ends_like_invoke(
    local: LocalApi, streamed: Any
) -> None:
    """The recorded model pauses 31 s after its first words. Its first text reaches the client
    while the model is still in that pause (before the model's next frame is sent); pings
    keep the stream alive meanwhile; the turn runs past API Gateway's 29 s buffered limit and
    ends with the result a buffered ``POST /invoke`` gives for the same recording."""
    _, bedrock = streamed
    with BedrockReplay(SLOW, stream=True).attach(bedrock) as replay:
        client = SseClient(local.url, {"prompt": PROMPT, "loop": "converse"})
        assert client.response.status == 200
        assert client.response.getheader("content-type") == "text/event-stream; charset=utf-8"
        first_text = None
        for event in client:
            if event.name == "text" and first_text is None:
                first_text = event
                model = replay.streams[0]
                # The client holds the words while the model is still in its 31 s pause: the
                # frames after them have not been sent (an order, not a time, so load-proof).
                assert model.sent < len(model.frames), "the model had already finished"
        streamed_at = time.monotonic()
    names = client.names()
    assert names[0] == "start" and names[-1] == "result"
    assert names.count("ping") >= 4  # every 5 s of the 31 s pause
    order = [names.index(n) for n in ("start", "text", "tool_use", "tool_input", "model_call")]
    order += [names.index(n) for n in ("code_start", "code_end", "files", "result")]
    assert order == sorted(order)
    final = client.events[-1].data
    assert final["status"] == "finished" and final["continuation"] is None
    result = final["result"]
    assert result["stop_reason"] == "end_turn"
    assert result["duration_ms"] > 30_000  # past the buffered limit, still one request
    assert first_text is not None and streamed_at - first_text.at > 30
    assert client.events[names.index("files")].data["files"][0]["name"] == "squares.svg"

    with BedrockReplay(SLOW, stream=False).attach(bedrock):
        status, buffered = _post(local.url, "/invoke", {"prompt": PROMPT, "loop": "converse"})
    assert status == 200, buffered
    assert _comparable(result) == _comparable(buffered)


def test_a_turn_near_the_function_deadline_pauses_cleanly_and_continues_on_invoke(
    streamed: Any, handler: Any
) -> None:
    """A 14 s function: the turn may start model calls for 6 s, is asked to stop at 9 s (a
    slow model reply is dropped at its next chunk), saves its session and ends with a
    ``paused`` result before the deadline; ``POST /invoke`` with the session goes on."""
    module, bedrock = streamed
    saved = module.routes.settings
    module.routes.settings = StreamSettings(
        ping_seconds=1.0,
        turn_margin_seconds=8.0,
        stop_margin_seconds=5.0,
        abandon_margin_seconds=2.0,
        grace_seconds=5.0,
    )
    chart = load_fixture("converse_session_chart")
    slow = json.loads(json.dumps(chart))
    slow["turns"] = slow["turns"][:2]
    second = slow["turns"][1]["response"]
    frames = stream_frames("ConverseStream", second["body"])
    second["stream"] = [x for f in frames for x in (f, {"sleep": 1.0})]  # ~16 s to answer
    try:
        with LocalApi(handler.api_handler, workers=1, function_timeout=14) as api:
            with BedrockReplay(slow, stream=True).attach(bedrock):
                request = {"prompt": PROMPT, "loop": "converse", "session_id": "near-deadline"}
                client = SseClient(api.url, request)
                events = list(client)
                [pending] = api.runtime_api._pending.values()
            assert not pending.result.timed_out and not pending.result.failed
            final = events[-1].data
            assert events[-1].name == "result" and final["status"] == "paused"
            assert final["result"]["stop_reason"] == "interrupted"
            assert final["continuation"]["session_id"] == "near-deadline"
            assert [e.name for e in events].count("code_end") == 1
            goes_on = {
                **load_fixture("converse_plain_answer"),
                "turns": [
                    {
                        **load_fixture("converse_plain_answer")["turns"][0],
                        "expect": {"operation": "Converse", "last_contains": ["Continue."]},
                    }
                ],
            }
            with BedrockReplay(goes_on, stream=False).attach(bedrock):
                status, body = _post(
                    api.url,
                    "/invoke",
                    {"prompt": "Continue.", "loop": "converse", "session_id": "near-deadline"},
                )
            assert status == 200, body
            assert body["stop_reason"] == "end_turn"
            handler.operations.delete_session("near-deadline")
    finally:
        module.routes.settings = saved


def _slow_chart() -> dict[str, Any]:
    chart = load_fixture("converse_session_chart")
    fixture = {**chart, "turns": json.loads(json.dumps(chart["turns"][:2]))}
    first = fixture["turns"][0]["response"]
    frames = stream_frames("ConverseStream", first["body"])
    first["stream"] = [x for f in frames for x in (f, {"sleep": 0.2})]  # ~25 s to write
    return fixture


@pytest.mark.parametrize("session_id", [None, "left-mid-turn"])
def test_a_client_that_leaves_mid_turn_stops_it_and_leaves_nothing_running(
    local: LocalApi, streamed: Any, handler: Any, agentcore_client: Any, session_id: str | None
) -> None:
    """The client closes the connection after the first words. The turn stops at its next
    safe point (the model stream is dropped), the invocation ends, and the session rules
    apply: a one-shot sandbox is stopped (no new READY session once the grace period has
    passed); a named session keeps its sandbox and is free for the next request."""
    module, bedrock = streamed
    grace = module.routes.settings.grace_seconds
    before = _ready_sessions(agentcore_client)
    replay = BedrockReplay(_slow_chart(), stream=True).attach(bedrock)
    try:
        request = {"prompt": PROMPT, "loop": "converse", "session_id": session_id}
        client = SseClient(local.url, {k: v for k, v in request.items() if v})
        for event in client:
            if event.name == "text":
                names = [n for i, n in _ready_names(agentcore_client).items() if i not in before]
                client.close()
                break
        # the sweeper holds a one-shot streamed turn's sandbox by its name (up to 15 minutes)
        owner = f"bcx-session-{session_id}" if session_id else "bcx-stream-"
        assert len(names) == 1 and names[0].startswith(owner), names
        model = replay.streams[0]
        assert _until(lambda: model.closed, grace + 5), "the model stream was not dropped"
        assert model.sent < len(model.frames)
        if session_id is None:
            assert _until(lambda: _ready_sessions(agentcore_client) <= before, grace + 5)
        else:
            kept = _ready_sessions(agentcore_client) - before
            assert len(kept) == 1  # the session's sandbox, kept by the session rules
            # its lease is released once the turn has saved the session (within the grace)
            answers: list[tuple[int, dict[str, Any]]] = []

            def execute() -> bool:
                answers.append(_post(local.url, f"/sessions/{session_id}/execute", {"code": "1"}))
                return answers[-1][0] == 200

            assert _until(execute, grace + 5), answers[-1]
            assert {status for status, _ in answers} <= {200, 409}, answers  # busy, then free
            handler.operations.delete_session(session_id)
            assert _ready_sessions(agentcore_client) <= before
        assert replay.served == 1  # no model call after the client left
    finally:
        replay.detach()


def test_a_model_stream_failing_mid_turn_ends_with_an_error_event(
    local: LocalApi, streamed: Any, agentcore_client: Any
) -> None:
    _, bedrock = streamed
    fixture = load_fixture("converse_session_chart")
    fixture = {**fixture, "turns": json.loads(json.dumps(fixture["turns"][:2]))}
    fixture["turns"][1]["response"]["stream"] = [
        {"event": "messageStart", "payload": {"role": "assistant"}},
        {"exception": "throttlingException", "payload": {"message": "slow down"}},
    ]
    before = _ready_sessions(agentcore_client)
    with BedrockReplay(fixture, stream=True).attach(bedrock):
        client = SseClient(local.url, {"prompt": PROMPT, "loop": "converse"})
        events = list(client)
    assert events[-1].name == "error"
    error = events[-1].data
    assert (error["status"], error["error"]["code"]) == (429, "ModelThrottled")
    assert "code_end" in client.names()  # the first model call and its cell went through
    assert _ready_sessions(agentcore_client) <= before  # the one-shot sandbox was stopped
    assert MODEL_ID in json.dumps(client.events[0].data)


def test_a_turn_stuck_past_every_safe_point_is_abandoned_before_the_deadline(
    streamed: Any, handler: Any, agentcore_client: Any
) -> None:
    """An 8 s function whose model goes silent mid-reply (no chunk, so no safe point): at
    5 s the stream stops waiting, stops the one-shot sandbox itself and ends with a
    ``TurnTimeout`` error, before Lambda would cut it."""
    module, bedrock = streamed
    saved = module.routes.settings
    module.routes.settings = StreamSettings(
        ping_seconds=1.0,
        turn_margin_seconds=6.0,
        stop_margin_seconds=5.0,
        abandon_margin_seconds=3.0,
        grace_seconds=2.0,
    )
    fixture = load_fixture("converse_plain_answer")
    frames = stream_frames("ConverseStream", fixture["turns"][0]["response"]["body"])
    fixture["turns"][0]["response"]["stream"] = [frames[0], {"sleep": 8}, *frames[1:]]
    before = _ready_sessions(agentcore_client)
    try:
        with LocalApi(handler.api_handler, workers=1, function_timeout=8) as api:
            replay = BedrockReplay(fixture, stream=True).attach(bedrock)
            try:
                client = SseClient(api.url, {"prompt": "What is 6 x 7?", "loop": "converse"})
                events = list(client)
                [pending] = api.runtime_api._pending.values()
                assert not pending.result.timed_out and not pending.result.failed
                assert events[-1].name == "error"
                assert events[-1].data["error"]["code"] == "TurnTimeout"
                assert "sandbox session was stopped" in events[-1].data["error"]["message"]
                assert _ready_sessions(agentcore_client) <= before
            finally:
                replay.streams[0].close()  # let the silent model go
                replay.detach()
    finally:
        module.routes.settings = saved
