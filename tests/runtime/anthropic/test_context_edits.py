"""Context edits on the history (``code_exec.anthropic.context_edits``), one rule at a time.

The SDK-level tests (``test_sdk_context.py``) check what reaches the model and the response
shape; these check each parameter's rule on the wire messages directly.
"""

from __future__ import annotations

from typing import Any

import pytest
from code_exec.anthropic import wire
from code_exec.anthropic.context_edits import PLACEHOLDER, apply_edits, estimate_tokens
from code_exec.exceptions import RequestValidationError


def _use(i: int, name: str, caller: dict[str, Any] | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "tool_use",
        "id": f"toolu_{i}",
        "name": name,
        "input": {"q": i},
    }
    if caller is not None:
        block["caller"] = caller
    return block


def _result(i: int) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": f"toolu_{i}", "content": f"result {i} " * 10}


def _request(names: list[str], edit: dict[str, Any], **fields: Any) -> wire.MessagesRequest:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "go"}]
    for i, name in enumerate(names):
        messages += [
            {"role": "assistant", "content": [_use(i, name)]},
            {"role": "user", "content": [_result(i)]},
        ]
    return wire.MessagesRequest.model_validate(
        {
            "model": "m",
            "max_tokens": 10,
            "messages": messages,
            "context_management": {"edits": [edit]},
            **fields,
        }
    )


def _results(messages: list[wire.Message]) -> list[Any]:
    return [b.content for m in messages for b in m.blocks() if isinstance(b, wire.ToolResultBlock)]


def _inputs(messages: list[wire.Message]) -> list[dict[str, Any]]:
    return [b.input for m in messages for b in m.blocks() if isinstance(b, wire.ToolUseBlock)]


def test_exclude_tools_are_never_cleared_and_inputs_only_of_listed_tools() -> None:
    edit = {
        "type": "clear_tool_uses_20250919",
        "trigger": {"type": "tool_uses", "value": 1},
        "keep": {"type": "tool_uses", "value": 1},
        "exclude_tools": ["memory"],
        "clear_tool_inputs": ["search"],
    }
    request = _request(["search", "memory", "fetch", "search"], edit)
    edited = apply_edits(request)
    results = _results(edited.messages)
    assert results[0] == PLACEHOLDER and results[2] == PLACEHOLDER
    assert results[1] == "result 1 " * 10  # excluded
    assert results[3] == "result 3 " * 10  # kept (the latest)
    assert _inputs(edited.messages) == [{}, {"q": 1}, {"q": 2}, {"q": 3}]
    [applied] = edited.applied
    assert applied["cleared_tool_uses"] == 2
    assert _results(request.messages)[0] == "result 0 " * 10  # the request is left as it came


def test_the_default_trigger_is_100k_input_tokens() -> None:
    edit = {"type": "clear_tool_uses_20250919", "keep": {"type": "tool_uses", "value": 0}}
    small = _request(["a", "b"], edit)
    assert apply_edits(small).applied == []
    big = _request(["a", "b"], edit, system="x" * 400_004)  # > 100,000 estimated tokens
    assert estimate_tokens("x" * 400_004) == 100_001
    assert [e["cleared_tool_uses"] for e in apply_edits(big).applied] == [2]


def test_calls_made_from_code_are_never_cleared() -> None:
    caller = {"type": "code_execution_20260120", "tool_id": "srvtoolu_1"}
    request = wire.MessagesRequest.model_validate(
        {
            "model": "m",
            "max_tokens": 10,
            "messages": [
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": [_use(0, "a", caller)]},
                {"role": "user", "content": [_result(0)]},
            ],
            "context_management": {
                "edits": [
                    {
                        "type": "clear_tool_uses_20250919",
                        "trigger": {"type": "tool_uses", "value": 0},
                        "keep": {"type": "tool_uses", "value": 0},
                    }
                ]
            },
        }
    )
    edited = apply_edits(request)
    assert edited.applied == [] and _results(edited.messages) == ["result 0 " * 10]


@pytest.mark.parametrize("keep", ["all", {"type": "all"}])
def test_clear_thinking_keep_all_clears_nothing(keep: Any) -> None:
    thinking = {"type": "thinking", "thinking": "t", "signature": "s"}
    request = wire.MessagesRequest.model_validate(
        {
            "model": "m",
            "max_tokens": 10,
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": [thinking, {"type": "text", "text": "b"}]},
                {"role": "user", "content": "c"},
            ],
            "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": keep}]},
        }
    )
    edited = apply_edits(request)
    assert edited.applied == []
    assert edited.messages[1].blocks()[0] == wire.ThinkingBlock.model_validate(thinking)


def test_a_listed_edit_twice_is_refused() -> None:
    edit = {"type": "clear_tool_uses_20250919"}
    request = _request(["a"], edit)
    request.context_management = {"edits": [edit, edit]}
    with pytest.raises(RequestValidationError) as e:
        apply_edits(request)
    assert e.value.field == "context_management.edits.1"
