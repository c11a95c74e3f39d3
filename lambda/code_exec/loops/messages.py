"""The ``messages`` loop: bedrock-runtime ``InvokeModel`` with the Anthropic Messages body.

History is kept in Anthropic's message format (``{"role", "content": [blocks]}``),
exactly as the model returned it plus our ``tool_result`` blocks.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from code_exec.loops.capabilities import capabilities
from code_exec.loops.common import (
    Budget,
    LoopInput,
    LoopOutput,
    StopReason,
    Tools,
    model_error,
)
from code_exec.models import ModelUsage

__all__ = ["ANTHROPIC_VERSION", "run"]

logger = logging.getLogger(__name__)

ANTHROPIC_VERSION = "bedrock-2023-05-31"
_EPHEMERAL = {"type": "ephemeral"}


def run(inp: LoopInput, *, client: Any) -> LoopOutput:
    """Run one agent turn. ``client`` is a boto3 ``bedrock-runtime`` client."""
    messages = _with_prompt(inp.history, inp.prompt)
    budget = Budget(inp.limits, inp.clock)
    usage: list[ModelUsage] = []
    while True:
        stop = budget.before_model_call()
        if stop:
            return _finish(messages, stop, usage)
        response = _call_model(client, _request_body(inp, messages), inp.model_id)
        budget.count_call()
        usage.append(_usage(response, inp.model_id))
        content = response.get("content") or []
        messages.append({"role": "assistant", "content": content})
        tool_uses = [b for b in content if b.get("type") == "tool_use"]
        if tool_uses:
            messages.append({"role": "user", "content": _run_tools(inp.tools, tool_uses, response)})
        stop = _decide(response.get("stop_reason"), tool_uses)
        if stop:
            return _finish(messages, stop, usage)


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


def _run_tools(
    tools: Tools, tool_uses: list[dict[str, Any]], response: dict[str, Any]
) -> list[dict[str, Any]]:
    """One tool_result per tool_use block, in order; failures are error results."""
    truncated = response.get("stop_reason") == "max_tokens"
    results = []
    for block in tool_uses:
        if truncated:
            text, is_error = "Not run: the response was cut off at max_tokens.", True
        else:
            outcome = tools.run(block["name"], block.get("input") or {})
            text, is_error = outcome.text, outcome.is_error
        result: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": block["id"],
            "content": [{"type": "text", "text": text or "(no output)"}],
        }
        if is_error:
            result["is_error"] = True
        results.append(result)
    return results


def _decide(stop_reason: str | None, tool_uses: list[dict[str, Any]]) -> str | None:
    """None to call the model again, else the stop reason of the turn."""
    if stop_reason == "tool_use" and tool_uses:
        return None
    if stop_reason == "max_tokens":
        return StopReason.MAX_TOKENS
    return stop_reason or StopReason.END_TURN


# --- helpers ---------------------------------------------------------------------------


def _usage(response: dict[str, Any], model_id: str) -> ModelUsage:
    u = response.get("usage") or {}
    return ModelUsage(
        model_id=model_id,
        input_tokens=u.get("input_tokens") or 0,
        output_tokens=u.get("output_tokens") or 0,
        cache_read_input_tokens=u.get("cache_read_input_tokens") or 0,
        cache_write_input_tokens=u.get("cache_creation_input_tokens") or 0,
    )


def _with_prompt(history: list[dict[str, Any]], prompt: str) -> list[dict[str, Any]]:
    """History plus the new user prompt; merged into a trailing user message (tool results)."""
    messages = [dict(m) for m in history]
    block = {"type": "text", "text": prompt}
    if messages and messages[-1]["role"] == "user":
        content = messages[-1]["content"]
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        messages[-1] = {"role": "user", "content": [*content, block]}
    else:
        messages.append({"role": "user", "content": [block]})
    return messages


def _final_text(messages: list[dict[str, Any]]) -> str:
    for m in reversed(messages):
        if m["role"] == "assistant":
            return "".join(b.get("text", "") for b in m["content"] if b.get("type") == "text")
    return ""


def _finish(messages: list[dict[str, Any]], stop: str, usage: list[ModelUsage]) -> LoopOutput:
    logger.info("messages loop stopped: reason=%s model_calls=%d", stop, len(usage))
    return LoopOutput(text=_final_text(messages), stop_reason=stop, usage=usage, history=messages)
