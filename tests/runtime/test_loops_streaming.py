"""Every loop streamed: ``InvokeModelWithResponseStream`` / ``ConverseStream`` replayed in
Bedrock's event-stream wire shape through the real boto3 client, deltas forwarded through the
one event interface, and the same result and history as the buffered turn.

The streamed replies are the recorded turns split the way Bedrock streams them (text and tool
input in small deltas, thinking then its signature), so a streamed turn must add up to the
buffered one exactly; the replay also checks every later request carries each thinking block
byte for byte, as in the buffered tests.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from typing import Any

import pytest
from code_exec.agent import AgentDeps, run_agent
from code_exec.config import RuntimeConfig
from code_exec.exceptions import ModelError
from code_exec.loops.events import TurnStream
from code_exec.loops.toolbox import CodeTool
from code_exec.models import AgentRequest
from code_exec.sandbox import ExecutionResult

from devtools.bedrock_replay import (
    LOOPS,
    BedrockReplay,
    bedrock_client,
    fixture_name,
    load_fixture,
    play,
    stream_frames,
)
from devtools.expense import expense_registry

MODEL_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
CASES = [(loop, "thinking_tool_loop") for loop in LOOPS]
CASES += [(loop, "expense_audit_direct") for loop in LOOPS]
CASES += [("messages", "expense_audit_ptc"), ("messages", "stream_thinking_tool_loop")]


@pytest.fixture(scope="module")
def registry() -> Any:
    return expense_registry("preloaded")


def _comparable(run: Any) -> dict[str, Any]:
    result = run.result.model_dump(exclude={"duration_ms"})
    for code_run in result["code_runs"]:
        code_run.pop("duration_ms")
    # Strands stamps its own ids and timings on each message; the conversation is the rest.
    history = [
        {k: v for k, v in m.items() if k not in ("tracking_id", "metadata")} for m in run.history
    ]
    return {"result": result, "history": history}


def _blocks(history: list[dict[str, Any]], loop: str) -> dict[str, Any]:
    """What the assistant turns hold: text, thinking text, tool inputs by id."""
    text, thinking, inputs = [], [], {}
    for message in history:
        if message["role"] != "assistant":
            continue
        for b in message["content"]:
            if loop == "messages":
                kind = b.get("type")
                if kind == "text":
                    text.append(b["text"])
                elif kind == "thinking":
                    thinking.append(b["thinking"])
                elif kind == "tool_use":
                    inputs[b["id"]] = b["input"]
            elif "text" in b:
                text.append(b["text"])
            elif "reasoningText" in b.get("reasoningContent", {}):
                thinking.append(b["reasoningContent"]["reasoningText"]["text"])
            elif "toolUse" in b:
                inputs[b["toolUse"]["toolUseId"]] = b["toolUse"]["input"]
    return {"text": "".join(text), "thinking": "".join(thinking), "inputs": inputs}


@pytest.mark.sandbox
@pytest.mark.parametrize(("loop", "scenario"), CASES)
def test_a_streamed_turn_equals_the_buffered_one_and_reports_every_delta(
    loop: str, scenario: str, sandbox: Any, registry: Any
) -> None:
    played = {}
    for stream in (False, True):
        played[stream] = play(
            fixture_name(loop, scenario),
            loop=loop,
            sandbox=sandbox,
            bedrock=bedrock_client(),
            registry=registry,
            stream=stream,
        )
        sandbox.stop_session(played[stream].session_id)
    buffered, streamed = played[False], played[True]
    assert {x.operation for x in streamed.replay.exchanges} <= {
        "InvokeModelWithResponseStream",
        "ConverseStream",
    }
    assert [_comparable(r) for r in streamed.runs] == [_comparable(r) for r in buffered.runs]

    history: list[dict[str, Any]] = []
    for run, events in zip(streamed.runs, streamed.events, strict=True):
        new = run.history[len(history) :]
        history = run.history
        kinds = [e.kind for e in events]
        expected = _blocks(new, loop)
        assert "".join(e.text for e in events if e.kind == "text") == expected["text"]
        assert "".join(e.thinking for e in events if e.kind == "thinking") == expected["thinking"]
        pieces: dict[str, list[str]] = defaultdict(list)
        for e in events:
            if e.kind == "tool_input":
                pieces[e.id].append(e.partial_json)
        assert {i: json.loads("".join(p)) for i, p in pieces.items()} == expected["inputs"]
        # a tool call is announced before its input, and reported with every model call
        for tool_id in expected["inputs"]:
            starts = [n for n, e in enumerate(events) if e.kind == "tool_use" and e.id == tool_id]
            first_input = next(
                n for n, e in enumerate(events) if e.kind == "tool_input" and e.id == tool_id
            )
            assert starts and starts[0] < first_input
        assert [e.usage for e in events if e.kind == "model_call"] == run.result.usage
        # every code run: started, then finished with what the result reports
        assert [e.code for e in events if e.kind == "code_start"] == [
            r.code for r in run.result.code_runs
        ]
        assert [e.run for e in events if e.kind == "code_end"] == run.result.code_runs
        if scenario == "expense_audit_direct":
            calls = [e for e in events if e.kind in ("tool_call", "tool_result")]
            assert calls and [e.kind for e in calls[:2]] == ["tool_call", "tool_result"]
            tools = {"get_team_members", "get_expenses", "get_custom_budget"}
            assert all(e.name in tools for e in calls)
        assert kinds[-1] == "model_call"  # the turn's last model call ends its events


def _turn(
    loop: str,
    fixture: str | dict[str, Any],
    sandbox: Any,
    stream: TurnStream,
    **replay: Any,
) -> tuple[Any, BedrockReplay]:
    fx = fixture if isinstance(fixture, dict) else load_fixture(fixture)
    bedrock = bedrock_client()
    double = BedrockReplay(fx, stream=True, **replay).attach(bedrock)
    session = sandbox.start_session()
    try:
        request = AgentRequest(loop=loop, model_id=MODEL_ID, prompt=fx["calls"][0]["prompt"])
        config = RuntimeConfig(default_model_id=MODEL_ID, allowed_model_ids=(MODEL_ID,))
        deps = AgentDeps(
            sandbox=sandbox,
            sandbox_session_id=session,
            bedrock=bedrock,
            config=config,
            stream=stream,
        )
        return run_agent(request, deps=deps), double
    finally:
        double.detach()
        sandbox.stop_session(session)


def _open_tool_calls(history: list[dict[str, Any]]) -> set[str]:
    """Tool calls with no result after them (Bedrock rejects such a history)."""
    open_ids: set[str] = set()
    for m in history:
        for b in m["content"]:
            if b.get("type") == "tool_use" or "toolUse" in b:
                open_ids.add(b.get("id") or b["toolUse"]["toolUseId"])
            if b.get("type") == "tool_result" or "toolResult" in b:
                open_ids.discard(b.get("tool_use_id") or b["toolResult"]["toolUseId"])
    return open_ids


@pytest.mark.sandbox
@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("when", ["text", "code_end"])
def test_a_stopped_turn_ends_at_a_safe_point_with_a_history_that_can_go_on(
    loop: str, when: str, sandbox: Any
) -> None:
    """Stopped while the model writes, or after a cell: the turn ends ``interrupted``, makes
    no further model call, and leaves no tool call without its result."""
    cancel = threading.Event()

    def emit(event: Any) -> None:
        if event.kind == when:
            cancel.set()

    # latency: the model writes over time, so a stop lands between its chunks (as on Bedrock)
    run, replay = _turn(
        loop,
        fixture_name(loop, "session_chart"),
        sandbox,
        TurnStream(emit, cancel=cancel),
        latency=0.02 if when == "text" else 0.0,
    )
    assert run.result.stop_reason == "interrupted"
    assert replay.served == 1  # no model call after the stop
    assert run.history[-1]["role"] == "user"
    assert _open_tool_calls(run.history) == set()
    if when == "text":
        assert len(run.history) == 1  # the reply cut mid-stream is dropped whole
    if when == "code_end":
        assert len(run.result.code_runs) == 1


@pytest.mark.sandbox
@pytest.mark.parametrize("loop", LOOPS)
def test_an_exception_in_the_model_stream_is_a_model_error(loop: str, sandbox: Any) -> None:
    fixture = load_fixture(fixture_name(loop, "session_chart"))
    first = {"messageStart": {"role": "assistant"}}
    frame = (
        {"event": "chunk", "payload": {"bytes": ""}}
        if loop == "messages"
        else {"event": "messageStart", "payload": first["messageStart"]}
    )
    failure = {
        "exception": "modelStreamErrorException",
        "payload": {"message": "the model stopped", "originalStatusCode": 500},
    }
    turn = {**fixture["turns"][0], "response": {"status": 200, "stream": [frame, failure]}}
    fixture = {**fixture, "turns": [turn]}
    if loop == "messages":
        fixture["turns"][0]["response"]["stream"] = [failure]
    with pytest.raises(ModelError, match="ModelStreamErrorException"):
        _turn(loop, fixture, sandbox, TurnStream(lambda e: None))


@pytest.mark.sandbox
@pytest.mark.parametrize("loop", ["messages", "converse"])
def test_a_model_stream_cut_before_its_last_event_is_a_model_error(loop: str, sandbox: Any) -> None:
    """Not a short reply: a reply whose stream never said it was complete."""
    fixture = json.loads(json.dumps(load_fixture(fixture_name(loop, "session_chart"))))
    turn = fixture["turns"][0]
    operation = "InvokeModelWithResponseStream" if loop == "messages" else "ConverseStream"
    turn["response"]["stream"] = stream_frames(operation, turn["response"]["body"])[:-3]
    fixture["turns"] = [turn]
    with pytest.raises(ModelError, match="ended before the reply was complete"):
        _turn(loop, fixture, sandbox, TurnStream(lambda e: None))


class _Cells:
    def __init__(self) -> None:
        self.timeouts: list[float | None] = []

    def run_cell(self, code: str, *, timeout_seconds: float | None = None) -> ExecutionResult:
        self.timeouts.append(timeout_seconds)
        return ExecutionResult(stdout="ok\n")


def test_a_cell_in_a_streamed_turn_is_cut_off_at_the_stream_deadline() -> None:
    now = [100.0]
    events: list[Any] = []
    cells = _Cells()
    stream = TurnStream(events.append, deadline=130.0, clock=lambda: now[0])
    tool = CodeTool(cells, cell_timeout_seconds=60, stream=stream, clock=lambda: now[0])
    assert not tool.run("execute_code", {"code": "print('ok')"}).is_error
    assert cells.timeouts == [30.0]  # 30 s left before the deadline, less than the cell limit
    assert [e.kind for e in events] == ["code_start", "code_end"]
    now[0] = 131.0
    outcome = tool.run("execute_code", {"code": "print('late')"})
    assert outcome.is_error and "Not run" in outcome.text
    stream.cancel.set()
    now[0] = 100.0
    assert "Not run" in tool.run("execute_code", {"code": "print('stopped')"}).text
    assert len(cells.timeouts) == 1 and len(tool.code_runs) == 1
