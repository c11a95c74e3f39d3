"""The ``messages`` loop: bedrock-runtime ``InvokeModel`` with the Anthropic Messages body.

History is kept in Anthropic's message format (``{"role", "content": [blocks]}``),
exactly as the model returned it plus our ``tool_result`` blocks: ``thinking`` and
``redacted_thinking`` blocks go back in the assistant turn unchanged, signature included,
in the order the model wrote them (a thinking model rejects a tool-use turn without them).
The request carries ``thinking`` only when the caller set it, and never a ``tool_choice``:
the model's own defaults apply. A streamed turn (``LoopInput.stream``) calls
``InvokeModelWithResponseStream`` with the same body and rebuilds the same reply from the
stream (:func:`code_exec.loops.model_deltas.read_anthropic`).
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from code_exec.loops.capabilities import capabilities
from code_exec.loops.common import (
    ANTHROPIC_USAGE,
    LoopInput,
    LoopOutput,
    Reply,
    ToolCall,
    ToolOutcome,
    model_error,
    model_usage,
    run_loop,
    with_prompt,
)
from code_exec.loops.events import TurnStream
from code_exec.loops.model_deltas import anthropic_events, read_anthropic

__all__ = ["ANTHROPIC_VERSION", "run"]

ANTHROPIC_VERSION = "bedrock-2023-05-31"
_EPHEMERAL = {"type": "ephemeral"}


def run(inp: LoopInput, *, client: Any) -> LoopOutput:
    """Run one agent turn. ``client`` is a boto3 ``bedrock-runtime`` client."""

    def call_model(messages: list[dict[str, Any]]) -> Reply:
        body = _request_body(inp, messages)
        if inp.stream is not None:
            return _reply(_stream_model(client, body, inp.model_id, inp.stream), inp.model_id)
        return _reply(_call_model(client, body, inp.model_id), inp.model_id)

    return run_loop(
        inp,
        with_prompt(inp.history, inp.prompt, _text_block),
        call_model=call_model,
        tool_results=_tool_results,
        block_text=_block_text,
        name="messages",
    )


# --- phases ----------------------------------------------------------------------------


def _request_body(inp: LoopInput, messages: list[dict[str, Any]]) -> dict[str, Any]:
    caps = capabilities(inp.model_id)
    cache = inp.prompt_caching
    system: dict[str, Any] = {"type": "text", "text": inp.system}
    if cache and caps.cache_system:
        system["cache_control"] = _EPHEMERAL
    tools = [
        {"name": s.name, "description": s.description, "input_schema": s.input_schema}
        for s in inp.tools.specs
    ]
    if tools and cache and caps.cache_tools:
        tools[-1]["cache_control"] = _EPHEMERAL
    body: dict[str, Any] = {
        "anthropic_version": ANTHROPIC_VERSION,
        "max_tokens": inp.limits.max_tokens,
        "system": [system],
        "messages": messages,
    }
    if tools:
        body["tools"] = tools
    if inp.thinking is not None:
        body["thinking"] = inp.thinking
    return body


def _call_model(client: Any, body: dict[str, Any], model_id: str) -> dict[str, Any]:
    try:
        raw = client.invoke_model(
            modelId=model_id,
            body=json.dumps(body).encode("utf-8"),
            contentType="application/json",
            accept="application/json",
        )
        return json.loads(raw["body"].read())
    except (ClientError, BotoCoreError) as e:
        raise model_error(e, model_id) from e


def _stream_model(
    client: Any, body: dict[str, Any], model_id: str, stream: TurnStream
) -> dict[str, Any]:
    events = anthropic_events(client, model_id, body)
    try:
        return read_anthropic(events, stream, model_id)
    finally:
        events.close()  # also when interrupted: stop reading at this chunk


def _reply(response: dict[str, Any], model_id: str) -> Reply:
    content = response.get("content") or []
    calls = [
        ToolCall(b["id"], b["name"], b.get("input") or {})
        for b in content
        if b.get("type") == "tool_use"
    ]
    return Reply(
        message={"role": "assistant", "content": content},
        stop_reason=response.get("stop_reason"),
        usage=model_usage(response.get("usage") or {}, model_id, ANTHROPIC_USAGE),
        tool_calls=calls,
    )


def _tool_results(calls: list[ToolCall], outcomes: list[ToolOutcome]) -> dict[str, Any]:
    """The user message with one tool_result per tool_use block, in order."""
    results = []
    for call, outcome in zip(calls, outcomes, strict=True):
        result: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": call.id,
            "content": [{"type": "text", "text": outcome.text or "(no output)"}],
        }
        if outcome.is_error:
            result["is_error"] = True
        results.append(result)
    return {"role": "user", "content": results}


# --- Anthropic format ------------------------------------------------------------------


def _text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _block_text(block: dict[str, Any]) -> str:
    return block.get("text", "") if block.get("type") == "text" else ""
