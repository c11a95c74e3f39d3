"""The expense audit through ``/v1/messages`` with the client's own tools, as an Anthropic SDK
user runs it: direct tool calling (the model calls each tool, one round trip per model turn)
vs programmatic tool calling (the model writes one cell; the cell's calls come back to the
client as ``tool_use`` blocks with a ``caller``; only what the cell prints reaches the model).

The client runs the tools itself (``sandbox_assets/expense_tools.py``, called with the input
the ``tool_use`` block carries). Measured per mode: HTTP round trips, Bedrock calls, and the
tokens sent to the model (Claude's tokenizer over the request bodies, see
:mod:`devtools.tokens`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from code_exec.ptc.assets import load_asset_module

from devtools.expense import expense_registry
from devtools.tokens import EXPECTED_ROWS, count_tokens

__all__ = ["PROMPT", "AuditRun", "audit_tools", "run_audit"]

PROMPT = (
    "Which engineering team members exceeded their Q3 travel budget? The standard quarterly "
    "travel budget is $5,000, but some employees have custom limits. Only approved expenses "
    "count. List each person with their budget, actual approved travel spend, and how much "
    "they are over."
)
PTC_CALLER = "code_execution_20260120"


@dataclass
class AuditRun:
    mode: str
    round_trips: int
    model_calls: int
    request_bytes: int
    request_tokens: int
    tool_calls: int
    answer: str
    exact: bool


def audit_tools(mode: str) -> list[dict[str, Any]]:
    """The audit's tools as the client declares them (callable from code in PTC mode)."""
    tools: list[dict[str, Any]] = []
    if mode == "ptc":
        tools.append({"type": "code_execution_20260120", "name": "code_execution"})
    for tool in expense_registry():
        entry: dict[str, Any] = {
            "name": tool.name,
            "description": tool.description,
            "input_schema": tool.parameters,
        }
        if mode == "ptc":
            entry["allowed_callers"] = [PTC_CALLER]
        tools.append(entry)
    return tools


def _run_tool(name: str, tool_input: dict[str, Any]) -> str:
    module = load_asset_module("expense_tools")
    value = getattr(module, name)(**tool_input)
    return value if isinstance(value, str) else json.dumps(value)


def run_audit(client: Any, replay: Any, mode: str, *, model: str) -> AuditRun:
    """Run the audit to the model's answer; ``replay`` serves (and records) the model calls."""
    tools = audit_tools(mode)
    messages: list[dict[str, Any]] = [{"role": "user", "content": PROMPT}]
    r = client.messages.create(model=model, max_tokens=4096, tools=tools, messages=messages)
    round_trips, tool_calls = 1, 0
    while r.stop_reason == "tool_use":
        results = []
        for block in r.content:
            if block.type == "tool_use":
                tool_calls += 1
                results.append(
                    {
                        "type": "tool_result",
                        "tool_use_id": block.id,
                        "content": _run_tool(block.name, dict(block.input)),
                    }
                )
        messages += [
            {"role": "assistant", "content": r.content},
            {"role": "user", "content": results},
        ]
        extra = {"container": r.container.id} if r.container else {}
        r = client.messages.create(
            model=model, max_tokens=4096, tools=tools, messages=messages, **extra
        )
        round_trips += 1
    if mode == "ptc":
        answer = "\n".join(
            b.content.stdout for b in r.content if b.type == "code_execution_tool_result"
        )
    else:
        answer = "".join(b.text for b in r.content if b.type == "text")
    return AuditRun(
        mode=mode,
        round_trips=round_trips,
        model_calls=replay.served,
        request_bytes=replay.bytes_sent,
        request_tokens=sum(count_tokens(x.body.decode()) for x in replay.exchanges),
        tool_calls=tool_calls,
        answer=answer,
        exact=all(row in answer for row in EXPECTED_ROWS),
    )
