"""ConversationReplay: many conversations at once, each answered by its place in its
recording, whatever order their requests come in (``make local`` with recorded turns)."""

from __future__ import annotations

import json
import threading
from typing import Any

import boto3
import pytest
from botocore.config import Config

from devtools.bedrock_replay import ConversationReplay, ReplayMismatch, load_fixture
from devtools.bedrock_server import BedrockServer

RECORDING = load_fixture("converse_expense_audit_ptc")
PROMPT = RECORDING["calls"][0]["prompt"]
TURNS = RECORDING["turns"]
MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
URL = f"http://bedrock.local/model/{MODEL}/converse"
# What the recording's first turn expects of the request besides its messages.
SYSTEM = [
    {"text": "Tools: await get_expenses(...). Save files under outputs/."},
    {"cachePoint": {"type": "default"}},
]
TOOLS = {
    "tools": [
        {"toolSpec": {"name": "execute_code", "inputSchema": {"json": {"type": "object"}}}},
        {"cachePoint": {"type": "default"}},
    ]
}


def _prompt(text: str = PROMPT) -> dict[str, Any]:
    return {"role": "user", "content": [{"text": text}]}


def _results(turn: int) -> dict[str, Any]:
    """The cell output that recorded turn ``turn`` (0-based) expects to be sent."""
    [want] = TURNS[turn]["expect"]["tool_results"]
    asked = TURNS[turn - 1]["response"]["body"]["output"]["message"]["content"]
    tool_use = next(b["toolUse"] for b in asked if "toolUse" in b)
    result = {
        "toolUseId": tool_use["toolUseId"],
        "status": "error" if want["is_error"] else "success",
        "content": [{"text": "\n".join(want["contains"])}],
    }
    return {"role": "user", "content": [{"toolResult": result}]}


def _call(turn: int, history: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The messages of the request for recorded turn ``turn`` (0-based) of one call."""
    messages = [*(history or []), _prompt()]
    for j in range(turn):
        messages.append(TURNS[j]["response"]["body"]["output"]["message"])
        messages.append(_results(j + 1))
    return messages


def _body(messages: list[dict[str, Any]]) -> bytes:
    return json.dumps({"system": SYSTEM, "toolConfig": TOOLS, "messages": messages}).encode()


def _answer(replay: ConversationReplay, messages: list[dict[str, Any]]) -> dict[str, Any]:
    return dict(json.loads(replay.respond(URL, _body(messages)).content))


def test_interleaved_conversations_each_get_their_own_turns() -> None:
    replay = ConversationReplay(["converse_expense_audit_ptc"])
    order = [(0, 0), (1, 0), (1, 1), (0, 1), (0, 2), (1, 2), (1, 3), (0, 3)]  # (who, turn)
    for _, turn in order:
        got = _answer(replay, _call(turn))
        assert got == TURNS[turn]["response"]["body"]
    replay.assert_done()
    assert replay.answered == {
        f"converse_expense_audit_ptc call 1 turn {t}": 2 for t in (1, 2, 3, 4)
    }


def test_a_later_call_of_a_session_is_checked_from_its_prompt() -> None:
    """A named session's second call carries the first call's messages; the recording's
    first turn (which expects 1 message) still answers it."""
    replay = ConversationReplay(["converse_expense_audit_ptc"])
    earlier = [*_call(3), TURNS[3]["response"]["body"]["output"]["message"]]
    for turn in range(4):
        assert _answer(replay, _call(turn, history=earlier)) == TURNS[turn]["response"]["body"]
    replay.assert_done()


def test_a_request_the_recording_does_not_answer_fails_naming_its_place() -> None:
    replay = ConversationReplay(["converse_expense_audit_ptc"])
    messages = _call(1)
    messages[-1]["content"][0]["toolResult"]["status"] = "success"  # the cell did not fail
    with pytest.raises(ReplayMismatch, match="call 1 turn 2: tool result 0: error=False"):
        _answer(replay, messages)
    with pytest.raises(ReplayMismatch, match="no recorded call has the prompt"):
        _answer(replay, [_prompt("Something else entirely")])
    too_far = [*_call(3), TURNS[3]["response"]["body"]["output"]["message"], _results(3)]
    with pytest.raises(ReplayMismatch, match="turn 5: the recording has only 4 turns"):
        _answer(replay, too_far)
    with pytest.raises(ReplayMismatch):
        replay.assert_done()  # every failure is kept for the end


def test_many_threads_at_once() -> None:
    replay = ConversationReplay(["converse_expense_audit_ptc"])
    wrong: list[int] = []

    def conversation() -> None:
        for turn in range(4):
            if _answer(replay, _call(turn)) != TURNS[turn]["response"]["body"]:
                wrong.append(turn)

    threads = [threading.Thread(target=conversation) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []
    assert len(replay.exchanges) == 64
    replay.assert_done()


def test_served_over_http_to_the_real_client() -> None:
    """What ``make local`` does with ``LOCAL_BEDROCK_FIXTURES``: the replay behind
    BedrockServer, called by boto3's bedrock-runtime client (buffered and streamed)."""
    with BedrockServer(ConversationReplay(["converse_expense_audit_ptc"])) as server:
        client = boto3.client(
            "bedrock-runtime",
            endpoint_url=server.url,
            region_name="us-east-1",
            config=Config(retries={"total_max_attempts": 1}),
        )
        kwargs = {"modelId": MODEL, "system": SYSTEM, "toolConfig": TOOLS}
        first = client.converse(messages=_call(0), **kwargs)
        assert first["stopReason"] == "tool_use"
        assert first["output"] == TURNS[0]["response"]["body"]["output"]
        stream = client.converse_stream(messages=_call(3), **kwargs)["stream"]
        text = "".join(
            e["contentBlockDelta"]["delta"].get("text", "")
            for e in stream
            if "contentBlockDelta" in e
        )
        assert "Alice Chen | $5,000.00 | $9,876.54 | +$4,876.54" in text
        assert server.errors == []
