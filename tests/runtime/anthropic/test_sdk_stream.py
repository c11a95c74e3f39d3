"""``stream: true``: Anthropic's exact SSE sequence, read by the SDK's own stream helpers."""

from __future__ import annotations

import json

import anthropic
import pytest
from anthropic import types

from .conftest import MODEL, Server

pytestmark = [pytest.mark.sandbox, pytest.mark.filterwarnings("ignore:The model")]

CE = {"type": "code_execution_20250825", "name": "code_execution"}
PROMPT = (
    "Use the code execution tool to calculate the mean and standard deviation of "
    "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"
)
KNOWN_DELTAS = {"text_delta", "input_json_delta", "thinking_delta", "signature_delta"}


def _create(server: Server) -> types.Message:
    with server.replay("anthropic_bash_stats"):
        return server.client().messages.create(
            model=MODEL, max_tokens=4096, tools=[CE], messages=[{"role": "user", "content": PROMPT}]
        )


def test_ga_stream_events_and_final_message(server: Server) -> None:
    reference = _create(server)
    with (
        server.replay("anthropic_bash_stats"),
        server.client().messages.stream(
            model=MODEL, max_tokens=4096, tools=[CE], messages=[{"role": "user", "content": PROMPT}]
        ) as stream,
    ):
        events = list(stream)
        final = stream.get_final_message()
    wire = ("message_start", "content_block_start", "content_block_delta", "content_block_stop")
    raw = [e for e in events if e.type in (*wire, "message_delta", "message_stop")]
    kinds = [e.type for e in raw]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    starts = {e.index: e.content_block for e in raw if e.type == "content_block_start"}
    deltas: dict[int, list] = {}
    for e in raw:
        if e.type == "content_block_delta":
            assert e.delta.type in KNOWN_DELTAS
            deltas.setdefault(e.index, []).append(e.delta)
    for index, block in starts.items():
        if block.type == "server_tool_use":
            assert block.input == {}
            partial = "".join(d.partial_json for d in deltas[index])
            assert json.loads(partial) == final.content[index].input
        if block.type == "bash_code_execution_tool_result":
            assert index not in deltas  # arrives whole in its start event
            assert block.content.stdout == final.content[index].content.stdout
    assert [b.type for b in final.content] == [b.type for b in reference.content]
    assert final.stop_reason == "end_turn" and final.container is not None
    assert final.usage.output_tokens == reference.usage.output_tokens
    with (
        server.replay("anthropic_bash_stats"),
        server.client().messages.stream(
            model=MODEL, max_tokens=4096, tools=[CE], messages=[{"role": "user", "content": PROMPT}]
        ) as stream,
    ):
        text = "".join(stream.text_stream)
    assert text.endswith("about 3.0277.")


def test_beta_stream_keeps_the_container_and_raw_events_carry_it(server: Server) -> None:
    with (
        server.replay("anthropic_bash_stats"),
        server.client().beta.messages.stream(
            model=MODEL, max_tokens=4096, tools=[CE], messages=[{"role": "user", "content": PROMPT}]
        ) as stream,
    ):
        final = stream.get_final_message()
    assert final.container is not None and final.container.id.startswith("container_")
    with server.replay("anthropic_bash_stats"):
        raw = server.client().messages.create(
            model=MODEL,
            max_tokens=4096,
            tools=[CE],
            messages=[{"role": "user", "content": PROMPT}],
            stream=True,
        )
        events = list(raw)
    [delta] = [e for e in events if e.type == "message_delta"]
    assert delta.delta.container is not None
    assert delta.delta.stop_reason == "end_turn"
    assert delta.usage.server_tool_use is not None
    [start] = [e for e in events if e.type == "message_start"]
    assert start.message.stop_reason is None and start.message.content == []


def test_a_failure_mid_stream_is_an_error_event(server: Server) -> None:
    seen = []
    stream = server.client().messages.stream(
        model=MODEL,
        max_tokens=1024,
        tools=[CE],
        messages=[{"role": "user", "content": "Print hello from bash."}],
    )
    with (
        server.replay("anthropic_midstream_unavailable"),
        pytest.raises(anthropic.APIStatusError) as err,
        stream as events,
    ):
        seen.extend(e.type for e in events)
    assert err.value.response.status_code == 200  # the stream had started
    assert "message_start" in seen and "content_block_start" in seen
    assert err.value.body["error"]["type"] == "overloaded_error"
    assert err.value.type == "overloaded_error"


def test_a_failure_before_the_stream_starts_is_an_http_error(server: Server) -> None:
    stream = server.client().messages.stream(
        model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    )
    with (
        server.replay("anthropic_error_unavailable"),
        pytest.raises(anthropic.OverloadedError),
        stream as events,
    ):
        events.get_final_message()


def test_a_ptc_pause_streams_the_code_then_the_calls(server: Server) -> None:
    """Anthropic documents no SSE sample for a PTC pause; ours: message_start, text, the
    server_tool_use (input_json_delta), one tool_use per call with its caller (input whole in
    one input_json_delta), message_delta (tool_use, container), message_stop."""
    weather = {
        "name": "get_weather",
        "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}},
        "allowed_callers": ["code_execution_20260120"],
    }
    with server.replay("anthropic_ptc_weather", slice(0, 1)):
        events = list(
            server.client().messages.create(
                model=MODEL,
                max_tokens=1024,
                tools=[weather],
                messages=[{"role": "user", "content": "Weather in SF, NY and London?"}],
                stream=True,
            )
        )
    starts = [e.content_block for e in events if e.type == "content_block_start"]
    assert [b.type for b in starts] == [
        "text",
        "server_tool_use",
        "tool_use",
        "tool_use",
        "tool_use",
    ]
    code_id = starts[1].id
    assert all(b.caller.tool_id == code_id for b in starts[2:])
    [delta] = [e for e in events if e.type == "message_delta"]
    assert delta.delta.stop_reason == "tool_use" and delta.delta.container is not None
    assert events[-1].type == "message_stop"
