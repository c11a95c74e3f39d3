"""Anthropic's SSE framing, unit-tested against the documented event sequence and the SDK.

The reference is Anthropic's "Streaming Messages" documentation (event names and order, one
``event:`` and one ``data:`` line per frame, ``data.type`` equal to the event name, ``ping``
anywhere, ``error`` after a 200) and its code-execution streaming example (a server tool's
input as ``input_json_delta`` on a block opened with ``"input": {}``, its result block whole in
one ``content_block_start``); and the SDK's own accumulator (``accumulate_event``), which must
rebuild from our frames exactly the message a non-streamed response carries.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator
from typing import Any

from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message, RawMessageStreamEvent
from code_exec.anthropic.errors import AnthropicError
from code_exec.anthropic.sampling import BlockDelta, BlockStart, BlockStop, ModelStart
from code_exec.anthropic.stream import collect, error_event, message, sse
from code_exec.anthropic.turn import TurnEnd
from code_exec.anthropic.usage import Usage
from code_exec.streaming.sse import PING
from pydantic import TypeAdapter

CONTAINER = {"id": "container_abc", "expires_at": "2026-01-01T00:00:00Z"}
RESULT = {
    "type": "bash_code_execution_tool_result",
    "tool_use_id": "srvtoolu_xyz789",
    "content": {
        "type": "bash_code_execution_result",
        "stdout": "   A  B  C\n0  1  2  3",
        "stderr": "",
        "return_code": 0,
        "content": [],
    },
}

# Anthropic's documented sequence for a one-block text reply ("Streaming Messages", basic
# request): the event names in order, and the keys each event's data carries.
DOCUMENTED_TEXT = [
    ("message_start", {"type", "message"}),
    ("content_block_start", {"type", "index", "content_block"}),
    ("content_block_delta", {"type", "index", "delta"}),
    ("content_block_delta", {"type", "index", "delta"}),
    ("content_block_stop", {"type", "index"}),
    ("message_delta", {"type", "delta", "usage"}),
    ("message_stop", {"type"}),
]
MESSAGE_KEYS = {"id", "type", "role", "content", "model", "stop_reason", "stop_sequence", "usage"}


def _usage(input_tokens: int, output_tokens: int, executions: int = 0) -> Usage:
    usage = Usage()
    usage.add({"input_tokens": input_tokens, "output_tokens": output_tokens})
    usage.code_execution_requests = executions
    return usage


def _turn(items: list[Any], end: TurnEnd) -> Generator[Any, None, TurnEnd]:
    yield from items
    return end


def _frames(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Each frame: exactly ``event: <name>`` then ``data: <JSON>`` then a blank line."""
    assert text.endswith("\n\n")
    frames = []
    for raw in text[:-2].split("\n\n"):
        event_line, data_line = raw.split("\n")
        assert event_line.startswith("event: ") and data_line.startswith("data: "), raw
        name, data = event_line[len("event: ") :], json.loads(data_line[len("data: ") :])
        assert data["type"] == name
        frames.append((name, data))
    return frames


def _text_reply() -> list[Any]:
    return [
        ModelStart({"input_tokens": 25, "output_tokens": 1}),
        BlockStart({"type": "text", "text": ""}),
        BlockDelta({"type": "text_delta", "text": "Hello"}),
        BlockDelta({"type": "text_delta", "text": "!"}),
        BlockStop({"type": "text", "text": "Hello!"}),
    ]


def _sse(items: list[Any], end: TurnEnd, container: Any = None) -> str:
    return "".join(
        sse(_turn(items, end), message_id="msg_1", model="claude-x", container=lambda: container)
    )


def test_a_text_reply_is_the_documented_sequence() -> None:
    end = TurnEnd("end_turn", None, _usage(25, 15), None)
    frames = _frames(_sse(_text_reply(), end))
    assert [(n, set(d)) for n, d in frames] == DOCUMENTED_TEXT
    start = frames[0][1]["message"]
    assert set(start) == MESSAGE_KEYS  # no container yet: none was known
    assert (start["content"], start["stop_reason"], start["stop_sequence"]) == ([], None, None)
    assert start["usage"]["input_tokens"] == 25  # the first model call's, as Anthropic's
    assert frames[1][1]["content_block"] == {"type": "text", "text": ""}
    assert [d["delta"] for n, d in frames if n == "content_block_delta"] == [
        {"type": "text_delta", "text": "Hello"},
        {"type": "text_delta", "text": "!"},
    ]
    assert {d["index"] for n, d in frames if "index" in d} == {0}
    delta = frames[-2][1]
    assert delta["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert delta["usage"]["output_tokens"] == 15


def test_code_execution_streams_as_documented() -> None:
    """The tool input as ``input_json_delta`` pieces on a block opened with ``input: {}``; the
    result whole in its start event; indexes count the turn's blocks; ``container`` in
    ``message_start`` (when known) and always in ``message_delta``."""
    use = {"type": "server_tool_use", "id": "srvtoolu_xyz789", "name": "bash_code_execution"}
    items = [
        *_text_reply(),
        BlockStart({**use, "input": {}}),
        BlockDelta({"type": "input_json_delta", "partial_json": '{"command": "python'}),
        BlockDelta({"type": "input_json_delta", "partial_json": ' analyze.py"}'}),
        BlockStop({**use, "input": {"command": "python analyze.py"}}),
        RESULT,
        ModelStart({"input_tokens": 40, "output_tokens": 1}),  # the next model call
        BlockStart({"type": "text", "text": ""}),
        BlockDelta({"type": "text_delta", "text": "Done."}),
        BlockStop({"type": "text", "text": "Done."}),
    ]
    end = TurnEnd("end_turn", None, _usage(65, 30, executions=1), CONTAINER)
    frames = _frames(_sse(items, end, container=CONTAINER))
    names = [n for n, _ in frames]
    assert names[:1] == ["message_start"] and names[-2:] == ["message_delta", "message_stop"]
    assert names.count("message_start") == 1  # one per response, not per model call
    assert frames[0][1]["message"]["container"] == CONTAINER
    by_index: dict[int, list[tuple[str, dict[str, Any]]]] = {}
    for name, data in frames:
        if "index" in data:
            by_index.setdefault(data["index"], []).append((name, data))
    assert sorted(by_index) == [0, 1, 2, 3]
    tool = by_index[1]
    assert [n for n, _ in tool] == [
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
    ]
    assert tool[0][1]["content_block"] == {**use, "input": {}}
    partial = "".join(d["delta"]["partial_json"] for n, d in tool if n == "content_block_delta")
    assert json.loads(partial) == {"command": "python analyze.py"}
    result = by_index[2]
    assert [n for n, _ in result] == ["content_block_start", "content_block_stop"]
    assert result[0][1]["content_block"] == RESULT  # whole, no delta type for results
    delta = frames[-2][1]
    assert delta["delta"]["container"] == CONTAINER
    assert delta["usage"]["server_tool_use"]["code_execution_requests"] == 1
    assert delta["usage"]["input_tokens"] == 65  # cumulative over the model calls


def test_thinking_streams_its_text_then_its_signature() -> None:
    items = [
        ModelStart({"input_tokens": 10, "output_tokens": 1}),
        BlockStart({"type": "thinking", "thinking": "", "signature": ""}),
        BlockDelta({"type": "thinking_delta", "thinking": "Let me see"}),
        BlockDelta({"type": "signature_delta", "signature": "EqQBCgIYAhIM"}),
        BlockStop({"type": "thinking", "thinking": "Let me see", "signature": "EqQBCgIYAhIM"}),
    ]
    frames = _frames(_sse(items, TurnEnd("end_turn", None, _usage(10, 5), None)))
    deltas = [d["delta"]["type"] for n, d in frames if n == "content_block_delta"]
    assert deltas == ["thinking_delta", "signature_delta"]


def test_the_sdk_accumulates_our_frames_into_the_whole_message() -> None:
    """What ``messages.stream(...).get_final_message()`` builds from the frames equals the
    non-streamed message of the same turn (the SDK's own accumulator)."""
    use = {"type": "server_tool_use", "id": "srvtoolu_xyz789", "name": "bash_code_execution"}
    items = [
        *_text_reply(),
        BlockStart({**use, "input": {}}),
        BlockDelta({"type": "input_json_delta", "partial_json": '{"comm'}),
        BlockDelta({"type": "input_json_delta", "partial_json": 'and": "ls"}'}),
        BlockStop({**use, "input": {"command": "ls"}}),
        RESULT,
    ]
    end = TurnEnd("pause_turn", None, _usage(25, 15, executions=1), CONTAINER)
    blocks, got_end = collect(_turn(items, end))
    whole = message("msg_1", "claude-x", blocks, got_end)
    snapshot, buffers = None, {}  # type: ignore[var-annotated]
    adapter: TypeAdapter[RawMessageStreamEvent] = TypeAdapter(RawMessageStreamEvent)
    for _, data in _frames(_sse(items, end, container=CONTAINER)):
        raw = adapter.validate_python(data)
        snapshot = accumulate_event(event=raw, current_snapshot=snapshot, json_bufs=buffers)
    assert snapshot is not None
    expected = Message.model_validate(whole)
    # the accumulator sets stop_details from message_delta (null here, as in the message)
    assert snapshot.to_dict(mode="json") == {**expected.to_dict(mode="json"), "stop_details": None}


def test_a_turn_that_fails_raises_from_the_stream_after_the_frames_it_sent() -> None:
    """The route turns that into an ``error`` event (``on_error``); before the first frame
    it is still raised as is (an HTTP error)."""

    def failing() -> Iterator[Any]:
        yield ModelStart({"input_tokens": 1, "output_tokens": 1})
        raise RuntimeError("the model went away")

    frames = sse(failing(), message_id="m", model="x", container=lambda: None)  # type: ignore[arg-type]
    assert next(frames).startswith("event: message_start\n")
    try:
        next(frames)
    except RuntimeError as e:
        assert str(e) == "the model went away"
    else:
        raise AssertionError("the failure was swallowed")


def test_error_and_ping_frames_are_anthropics() -> None:
    error = AnthropicError(529, "overloaded_error", "Overloaded")
    [(name, data)] = _frames(error_event(error, "req_1"))
    assert name == "error"
    assert data == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
        "request_id": "req_1",
    }
    assert _frames(PING.decode()) == [("ping", {"type": "ping"})]
