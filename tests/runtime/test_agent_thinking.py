"""Claude thinks, calls execute_code, thinks again and answers — in every loop, end to end.

The model's turns are recorded in Bedrock's wire shapes (``invoke_thinking_tool_loop`` for
the InvokeModel Anthropic body, ``converse_thinking_tool_loop`` for Converse, which also
serves Strands): a signed thinking block, a redacted one, text and a tool call. The code
runs for real in the emulator. Every later request must carry every earlier thinking block
exactly as received (the recordings' ``replays_thinking_of`` expectations); for ``strands``
this is Strands' own doing, which the same recording proves.
"""

from __future__ import annotations

import copy
import json

import pytest
from code_exec.loops import messages as messages_loop
from code_exec.sandbox.client import SandboxClient

from devtools.bedrock_replay import (
    LOOPS,
    Played,
    ReplayMismatch,
    bedrock_client,
    fixture_name,
    load_fixture,
    play,
)

from .conftest import ApiClient, replay_bedrock_client

pytestmark = pytest.mark.sandbox

SCENARIO = "thinking_tool_loop"


def _play_and_stop(fixture: str | dict, *, loop: str, sandbox: SandboxClient, **kw) -> Played:
    played = play(fixture, loop=loop, sandbox=sandbox, bedrock=bedrock_client(), **kw)
    sandbox.stop_session(played.session_id)
    return played


def _thinking(block_list: list[dict]) -> list[dict]:
    return [
        b
        for b in block_list
        if b.get("type") in ("thinking", "redacted_thinking") or "reasoningContent" in b
    ]


@pytest.mark.parametrize("loop", LOOPS)
def test_thinking_goes_back_unchanged_through_a_tool_call_and_the_next_turn(loop, sandbox):
    name = fixture_name(loop, SCENARIO)
    played = _play_and_stop(name, loop=loop, sandbox=sandbox)  # every expectation held
    first, second = (run.result for run in played.runs)

    assert first.stop_reason == second.stop_reason == "end_turn"
    assert first.model_id == "global.anthropic.claude-sonnet-5"
    assert first.code_runs[0].stdout == "last prime: 113\nsum: 1593\n"
    assert second.code_runs[0].stdout == "31st prime: 127\nsum: 1720\n"  # state kept
    assert first.text.endswith("is **1593**.") and second.text.endswith("**1720**.")
    assert len(first.usage) == len(second.usage) == 2

    # the second request sends the first response's thinking back byte for byte, in order
    x1, x2 = played.replay.exchanges[:2]
    if loop == "messages":
        received = x1.response["content"]
    else:
        received = x1.response["output"]["message"]["content"]
    [sent] = [m for m in x2.request["messages"] if m["role"] == "assistant"]
    assert _thinking(sent["content"]) == _thinking(received) and len(_thinking(received)) == 2
    for block in _thinking(received):
        assert _signature(block).encode() in x2.body  # the bytes on the wire, unchanged

    # the stored history is JSON (redacted thinking as base64 text) and keeps every block
    history = played.runs[1].history
    stored = json.dumps(history)  # no default=: nothing JSON cannot hold
    for block in _thinking(received):
        assert _signature(block) in stored


def _signature(block: dict) -> str:
    if "signature" in block:
        return block["signature"]
    if "data" in block:
        return block["data"]
    reasoning = block["reasoningContent"]
    return reasoning.get("redactedContent") or reasoning["reasoningText"]["signature"]


@pytest.mark.parametrize("loop", LOOPS)
def test_a_thinking_setting_goes_with_every_request_of_the_turn(loop, sandbox):
    fixture = copy.deepcopy(load_fixture(fixture_name(loop, SCENARIO)))
    fixture["calls"] = fixture["calls"][:1]
    fixture["turns"] = fixture["turns"][:2]
    adaptive = {"type": "adaptive"}
    fixture["calls"][0]["thinking"] = adaptive
    for turn in fixture["turns"]:
        turn["expect"]["thinking"] = adaptive
    played = _play_and_stop(fixture, loop=loop, sandbox=sandbox)
    assert played.runs[0].result.code_runs[0].stdout.endswith("sum: 1593\n")


def test_the_replay_fails_a_loop_that_drops_thinking(sandbox, monkeypatch):
    """If the messages loop lost the thinking blocks, the recording would fail the test."""
    original = messages_loop._reply

    def forgetful(response, model_id):
        reply = original(response, model_id)
        reply.message["content"] = [
            b for b in reply.message["content"] if b.get("type") != "thinking"
        ]
        return reply

    monkeypatch.setattr(messages_loop, "_reply", forgetful)
    with pytest.raises(ReplayMismatch, match="turn 1's thinking was dropped or altered: 1 of 2"):
        _play_and_stop(fixture_name("messages", SCENARIO), loop="messages", sandbox=sandbox)


@pytest.mark.parametrize("loop", LOOPS)
def test_a_session_keeps_thinking_through_the_api_and_its_store(
    sandbox_api: ApiClient, loop: str
) -> None:
    """POST /invoke twice in one session: the history goes through DynamoDB/S3 as JSON and
    the second request still carries every thinking block as received."""
    from devtools.bedrock_replay import BedrockReplay

    services = sandbox_api.handler.services
    bedrock = replay_bedrock_client()
    services.override(bedrock=bedrock)
    name = fixture_name(loop, SCENARIO)
    first_call, second_call = (
        {k: v for k, v in c.items() if k != "turns"} for c in load_fixture(name)["calls"]
    )
    session = f"thinking-{loop}"
    model = load_fixture(name)["model_id"]
    try:
        with BedrockReplay(name).attach(bedrock):
            first = sandbox_api.invoke(**first_call, loop=loop, model_id=model, session_id=session)
            assert first.status == 200, first.body
            second = sandbox_api.invoke(
                **second_call, loop=loop, model_id=model, session_id=session
            )
            assert second.status == 200, second.body
        assert second.body["code_runs"][0]["stdout"].endswith("sum: 1720\n")
        assert all(u["thinking_tokens"] is None for u in second.body["usage"])
    finally:
        sandbox_api.delete(session)
        services.reset()


def test_a_bedrock_400_for_dropped_thinking_is_a_model_error_response(
    sandbox_api: ApiClient,
) -> None:
    """Through the real handler: Bedrock's ValidationException is a 502 JSON error, not 200."""
    from devtools.bedrock_replay import BedrockReplay

    services = sandbox_api.handler.services
    bedrock = replay_bedrock_client()
    services.override(bedrock=bedrock)
    fixture = copy.deepcopy(load_fixture("thinking_dropped"))
    fixture["turns"][0]["expect"] = {"messages": 1}
    try:
        with BedrockReplay(fixture).attach(bedrock):
            resp = sandbox_api.invoke(prompt="Carry on.", loop="converse")
    finally:
        services.reset()
    assert resp.status == 502, resp.body
    assert resp.error["code"] == "ModelError"
    assert "ValidationException" in resp.error["message"]
    assert "thinking" not in resp.error["message"]  # Bedrock's own text is not echoed
