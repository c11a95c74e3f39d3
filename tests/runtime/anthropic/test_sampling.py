"""One streamed model call of a ``/v1/messages`` turn (:mod:`code_exec.anthropic.sampling`),
through the real boto3 client and a recorded Bedrock event stream."""

from __future__ import annotations

import threading
from collections.abc import Generator
from typing import Any

import pytest
from code_exec.anthropic.sampling import (
    BlockDelta,
    BlockStart,
    BlockStop,
    ModelStart,
    Reply,
    client_block,
    sample,
)
from code_exec.anthropic.tools import plan_tools
from code_exec.anthropic.wire import MessagesRequest
from code_exec.exceptions import ModelThrottledError

from devtools.bedrock_replay import BedrockReplay, load_fixture, stream_frames

from ..conftest import MODEL_ID, replay_bedrock_client

CE = {"type": "code_execution_20250825", "name": "code_execution"}


def _plan(**extra: Any) -> Any:
    body = {"model": "m", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
    return plan_tools(MessagesRequest.model_validate({**body, "tools": [CE], **extra}))


def _drain(gen: Generator[Any, None, Reply], on_item: Any = None) -> tuple[list[Any], Reply]:
    items = []
    while True:
        try:
            item = next(gen)
        except StopIteration as stop:
            return items, stop.value
        items.append(item)
        if on_item:
            on_item(item)


def test_blocks_open_in_the_clients_view() -> None:
    plan = _plan()
    use = {"type": "tool_use", "id": "toolu_bdrk_01A", "name": "bash_code_execution", "input": {}}
    assert client_block(use, plan) == {
        "type": "server_tool_use",
        "id": "srvtoolu_bdrk_01A",
        "name": "bash_code_execution",
        "input": {},
    }
    assert client_block({"type": "text"}, plan) == {"type": "text", "text": ""}
    assert client_block({"type": "thinking", "thinking": ""}, plan) == {
        "type": "thinking",
        "thinking": "",
        "signature": "",
    }
    weather = {
        "name": "get_weather",
        "input_schema": {"type": "object"},
        "allowed_callers": ["direct", "code_execution_20250825"],
    }
    ptc = _plan(tools=[CE, weather])
    call = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "x"}}
    assert client_block(call, ptc)["caller"] == {"type": "direct"}


def test_a_reply_is_forwarded_as_it_streams_and_adds_up_to_the_recorded_one(aws: None) -> None:
    recorded = load_fixture("anthropic_bash_stats")["turns"][0]["response"]["body"]
    client = replay_bedrock_client()
    with BedrockReplay({"name": "one", "turns": [{"response": {"body": recorded}}]}).attach(client):
        items, reply = _drain(sample(client, MODEL_ID, {"messages": []}, _plan()))
    assert isinstance(items[0], ModelStart)
    kinds = [type(i).__name__ for i in items]
    assert kinds.count("BlockStart") == kinds.count("BlockStop") == len(recorded["content"])
    assert kinds.count("BlockDelta") > len(recorded["content"])  # pieces, as they came
    text = "".join(i.delta.get("text", "") for i in items if isinstance(i, BlockDelta))
    assert text == recorded["content"][0]["text"]
    whole = [i.block for i in items if isinstance(i, BlockStop)]
    assert (
        whole[1]["type"] == "server_tool_use"
        and whole[1]["input"] == recorded["content"][1]["input"]
    )
    assert reply.message == {"role": "assistant", "content": recorded["content"]}
    assert (reply.stop_reason, reply.cut, [u.id for u in reply.uses]) == (
        "tool_use",
        False,
        [whole[1]["id"]],
    )
    assert reply.usage == recorded["usage"]


def test_cancel_cuts_the_reply_where_the_next_block_would_start(aws: None) -> None:
    """Asked to stop after the first block: the model stream is closed before the tool call
    opens; every block the client got is whole, and the reply is what came."""
    recorded = load_fixture("anthropic_bash_stats")["turns"][0]["response"]["body"]
    client = replay_bedrock_client()
    cancel = threading.Event()

    def stop_after_first_block(item: Any) -> None:
        if isinstance(item, BlockStop):
            cancel.set()

    replay = BedrockReplay({"name": "one", "turns": [{"response": {"body": recorded}}]})
    with replay.attach(client):
        gen = sample(client, MODEL_ID, {"messages": []}, _plan(), cancel=cancel)
        items, reply = _drain(gen, stop_after_first_block)
    assert [type(i) for i in items if not isinstance(i, BlockDelta)] == [
        ModelStart,
        BlockStart,
        BlockStop,
    ]
    assert reply.cut and reply.stop_reason is None and reply.uses == []
    assert reply.message["content"] == recorded["content"][:1]
    [model] = replay.streams
    assert model.closed and model.sent < len(model.frames)


def test_a_stream_failing_mid_reply_is_a_model_error(aws: None) -> None:
    recorded = load_fixture("anthropic_bash_stats")["turns"][0]["response"]["body"]
    frames = stream_frames("InvokeModelWithResponseStream", recorded)
    cut = [*frames[:4], {"exception": "throttlingException", "payload": {"message": "slow"}}]
    client = replay_bedrock_client()
    replay = BedrockReplay({"name": "cut", "turns": [{"response": {"body": {}, "stream": cut}}]})
    with replay.attach(client), pytest.raises(ModelThrottledError):
        _drain(sample(client, MODEL_ID, {"messages": []}, _plan()))
