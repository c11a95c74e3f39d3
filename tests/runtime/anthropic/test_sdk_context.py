"""Claude Code's request shape, context editing and ``thinking.display: "omitted"`` through the
real ``anthropic`` SDK (strict response validation) over HTTP.

Context edits are applied here before the history reaches the model
(``code_exec.anthropic.context_edits``): each test reads the Bedrock request the replayed model
turn answered, and the SDK's own ``BetaContextManagementResponse`` in the response.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import pytest
from anthropic.types import beta as beta_types
from code_exec.anthropic.context_edits import PLACEHOLDER

from .conftest import MODEL, Server, fixture, model_turn, text

pytestmark = [pytest.mark.sandbox, pytest.mark.filterwarnings("ignore:The model")]

CLAUDE_CODE_BETAS = [
    "claude-code-20250219",
    "interleaved-thinking-2025-05-14",
    "context-management-2025-06-27",
    "thinking-token-count-2026-05-13",
    "advanced-tool-use-2025-11-20",
]
SIGNATURE = "EqQBCgIYAhIMc2lnbmF0dXJlLW9mLXRoaW5raW5n"
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
CITIES = ["Paris", "Lima", "Oslo", "Cairo"]
CAPTURED = (
    Path(__file__).resolve().parents[2] / "fixtures" / "claude_code" / "first_request_2.1.328.json"
)


def _claude_code_request(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The fields Claude Code 2.1.328 sends on every request (issue 15's capture)."""
    return {
        "model": MODEL,
        "max_tokens": 32000,
        "betas": CLAUDE_CODE_BETAS,
        "thinking": {"type": "enabled", "budget_tokens": 31999, "display": "omitted"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "metadata": {"user_id": "user_0123_account__session_4567"},
        "system": [
            {
                "type": "text",
                "text": "You are Claude Code.",
                "cache_control": {"type": "ephemeral"},
            }
        ],
        "tools": [
            {**WEATHER, "name": "Bash"},
            {**WEATHER, "name": "WebFetch", "defer_loading": True},
        ],
        "messages": messages,
    }


def test_claude_codes_request_streams_with_thinking_omitted(server: Server) -> None:
    first = model_turn(
        {"type": "thinking", "thinking": "A greeting is enough.", "signature": SIGNATURE},
        text("Hello!"),
    )
    second = model_turn(text("Still here."))
    user = [{"type": "text", "text": "Say hello", "cache_control": {"type": "ephemeral"}}]
    environment = [
        {"type": "text", "text": "# Environment", "cache_control": {"type": "ephemeral"}}
    ]
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": user},
        {"role": "system", "content": environment},  # a mid-conversation system message
    ]
    with server.replay(fixture(first, second)) as replay:
        with server.client().beta.messages.stream(**_claude_code_request(messages)) as stream:
            kinds = [e.type for e in stream]
            final = stream.get_final_message()
            headers = stream.response.headers
        assert headers["anthropic-beta-dropped"] == (
            "claude-code-20250219,thinking-token-count-2026-05-13"
        )
        [thinking, answer] = final.content
        assert isinstance(thinking, beta_types.BetaThinkingBlock)
        assert (thinking.thinking, thinking.signature) == ("", SIGNATURE)
        assert isinstance(answer, beta_types.BetaTextBlock) and answer.text == "Hello!"
        assert final.context_management == beta_types.BetaContextManagementResponse(
            applied_edits=[]
        )
        assert "message_delta" in kinds
        # The history sent back carries the empty thinking block; the model gets it as sent.
        messages += [
            {"role": "assistant", "content": [b.model_dump() for b in final.content]},
            {"role": "user", "content": "Again"},
        ]
        with server.client().beta.messages.stream(**_claude_code_request(messages)) as stream:
            again = stream.get_final_message()
    assert again.content[0].type == "text"
    sent = replay.exchanges[0].request
    assert sent["anthropic_beta"] == [
        "interleaved-thinking-2025-05-14",
        "context-management-2025-06-27",
    ]
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 31999}
    assert [t["name"] for t in sent["tools"]] == ["Bash"]  # WebFetch is deferred
    assert all("defer_loading" not in t for t in sent["tools"])
    for key in ("metadata", "context_management", "betas"):
        assert key not in sent
    [first_user] = sent["messages"]  # the system message is user text at its place
    assert [b["text"] for b in first_user["content"]] == ["Say hello", "# Environment"]
    replayed = replay.exchanges[1].request["messages"][1]["content"][0]  # the thinking sent back
    assert replayed == {"type": "thinking", "thinking": "", "signature": SIGNATURE}


def test_omitted_thinking_sends_no_thinking_delta(server: Server) -> None:
    turn = model_turn(
        {"type": "thinking", "thinking": "Private reasoning.", "signature": SIGNATURE},
        text("Done."),
    )
    request = _claude_code_request([{"role": "user", "content": "Go"}])
    with server.replay(fixture(turn)), server.client().beta.messages.stream(**request) as stream:
        deltas = [e.delta.type for e in stream if e.type == "content_block_delta"]
    assert "thinking_delta" not in deltas
    assert "signature_delta" in deltas and "text_delta" in deltas


def _weather_history() -> list[dict[str, Any]]:
    """Four answered get_weather calls, the last result in the last user message."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather in four cities?"}]
    for i, city in enumerate(CITIES):
        call_id = f"toolu_01weather{i}{'x' * 14}"
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": call_id,
                        "name": "get_weather",
                        "input": {"city": city},
                    }
                ],
            }
        )
        result = f"{city}: sunny, 21 degrees, light wind from the west, humidity 40 percent."
        messages.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call_id, "content": result}],
            }
        )
    return messages


def _text_of(body: dict[str, Any]) -> str:
    return json.dumps(body["messages"])


def test_clear_tool_uses_clears_all_but_the_kept_results_before_the_model(
    server: Server,
) -> None:
    edit = {
        "type": "clear_tool_uses_20250919",
        "trigger": {"type": "tool_uses", "value": 2},
        "keep": {"type": "tool_uses", "value": 1},
        "clear_tool_inputs": True,
    }
    with server.replay(fixture(model_turn(text("All sunny.")))) as replay:
        r = server.client().beta.messages.create(
            model=MODEL,
            max_tokens=256,
            betas=["context-management-2025-06-27"],
            tools=[WEATHER],
            context_management={"edits": [edit]},
            messages=_weather_history(),
        )
    sent = replay.exchanges[0].request
    assert _text_of(sent).count(PLACEHOLDER) == 3
    assert "Cairo: sunny" in _text_of(sent)  # the kept (latest) result
    for city in CITIES[:3]:
        assert f"{city}: sunny" not in _text_of(sent) and city not in _text_of(sent)
    uses = [b for m in sent["messages"] for b in m["content"] if b.get("type") == "tool_use"]
    assert [u["input"] for u in uses] == [{}, {}, {}, {"city": "Cairo"}]
    assert r.context_management is not None
    [applied] = r.context_management.applied_edits
    assert isinstance(applied, beta_types.BetaClearToolUses20250919EditResponse)
    assert applied.cleared_tool_uses == 3 and applied.cleared_input_tokens > 0


def test_clear_tool_uses_respects_trigger_exclusions_and_clear_at_least(server: Server) -> None:
    edits = [
        {  # under its trigger: nothing
            "type": "clear_tool_uses_20250919",
            "trigger": {"type": "tool_uses", "value": 4},
        },
    ]
    excluded = {
        "type": "clear_tool_uses_20250919",
        "trigger": {"type": "tool_uses", "value": 1},
        "keep": {"type": "tool_uses", "value": 0},
        "clear_at_least": {"type": "input_tokens", "value": 1_000_000},
    }
    turns = fixture(model_turn(text("One.")), model_turn(text("Two.")))
    with server.replay(turns) as replay:
        for config in (edits, [excluded]):
            r = server.client().beta.messages.create(
                model=MODEL,
                max_tokens=256,
                tools=[WEATHER],
                context_management={"edits": config},
                messages=_weather_history(),
            )
            assert r.context_management is not None
            assert r.context_management.applied_edits == []
    for x in replay.exchanges:
        assert PLACEHOLDER not in _text_of(x.request)


def test_clear_thinking_keeps_the_last_turns_thinking(server: Server) -> None:
    def thought(n: int) -> dict[str, Any]:
        return {"type": "thinking", "thinking": f"thought {n}", "signature": f"{SIGNATURE}{n}"}

    messages = [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": [thought(1), {"type": "text", "text": "first"}]},
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": [thought(2), {"type": "text", "text": "second"}]},
        {"role": "user", "content": "three"},
    ]
    edit = {"type": "clear_thinking_20251015", "keep": {"type": "thinking_turns", "value": 1}}
    with server.replay(fixture(model_turn(text("third")))) as replay:
        r = server.client().beta.messages.create(
            model=MODEL,
            max_tokens=4096,
            thinking={"type": "enabled", "budget_tokens": 1024},
            context_management={"edits": [edit]},
            messages=messages,
        )
    sent = _text_of(replay.exchanges[0].request)
    assert "thought 1" not in sent and "thought 2" in sent and '"first"' in sent
    assert r.context_management is not None
    [applied] = r.context_management.applied_edits
    assert isinstance(applied, beta_types.BetaClearThinking20251015EditResponse)
    assert applied.cleared_thinking_turns == 1 and applied.cleared_input_tokens > 0


@pytest.mark.parametrize(
    ("edits", "field"),
    [
        ([{"type": "compact_20260112"}], "context_management.edits.0.type"),
        (
            [{"type": "clear_tool_uses_20250919"}, {"type": "clear_thinking_20251015"}],
            "context_management.edits.1.type",
        ),
        (
            [{"type": "clear_tool_uses_20250919", "keep": {"type": "tool_uses", "value": -1}}],
            "context_management.edits.0.clear_tool_uses_20250919.keep.value",
        ),
        ([{"type": "clear_everything"}], "context_management.edits.0"),
    ],
)
def test_bad_context_management_is_a_400_naming_the_field(
    server: Server, edits: list[dict[str, Any]], field: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as e:
        server.client().beta.messages.create(
            model=MODEL,
            max_tokens=256,
            context_management={"edits": edits},  # type: ignore[typeddict-item]
            messages=[{"role": "user", "content": "hi"}],
        )
    assert e.value.body["error"]["type"] == "invalid_request_error"
    assert field in e.value.body["error"]["message"]


def test_claude_codes_captured_first_request_is_answered(server: Server) -> None:
    """The request Claude Code 2.1.328 really sent (tests/fixtures/claude_code), byte for byte
    but for cut texts and its model (Claude Code asks for its own default model; a user points
    it at a deployment's model with ``ANTHROPIC_MODEL``)."""
    import httpx

    captured = json.loads(CAPTURED.read_text())
    body = {**captured["body"], "model": MODEL}
    headers = {**captured["headers"], "x-api-key": server.keys["alice"]}
    turn = model_turn(
        {"type": "thinking", "thinking": "Greet back.", "signature": SIGNATURE}, text("Hello!")
    )
    with server.replay(fixture(turn)) as replay:
        response = httpx.post(
            server.url.rstrip("/") + captured["path"], json=body, headers=headers, timeout=60
        )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [
        json.loads(line[len("data: ") :])
        for line in response.text.splitlines()
        if line.startswith("data: ")
    ]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    deltas = [e["delta"]["type"] for e in events if e["type"] == "content_block_delta"]
    assert "thinking_delta" not in deltas and "text_delta" in deltas
    [delta] = [e for e in events if e["type"] == "message_delta"]
    assert delta["context_management"] == {"applied_edits": []}
    assert response.headers["anthropic-beta-dropped"].split(",") == [
        "claude-code-20250219",
        "per-turn-control-2026-07-01",
        "mid-conversation-tool-changes-2026-07-01",
        "thinking-token-count-2026-05-13",
        "effort-2025-11-24",
    ]
    sent = replay.exchanges[0].request
    assert sent["thinking"] == {"type": "adaptive"}
    assert sent["output_config"] == {"effort": "medium"}
    assert [m["role"] for m in sent["messages"]] == ["user"]
    assert all("defer_loading" not in t for t in sent["tools"])
    # every tool but the deferred one (Claude Code's own ToolSearch returns tool_reference
    # blocks that load it: tool_search.py)
    deferred = [t["name"] for t in body["tools"] if t.get("defer_loading")]
    assert deferred == ["DeferredToolPlaceholder"]
    assert [t["name"] for t in sent["tools"]] == [
        t["name"] for t in body["tools"] if not t.get("defer_loading")
    ]
