"""The ``converse`` loop: bedrock-runtime ``Converse``, for Claude and non-Claude models.

History is kept in Converse's message format (``{"role", "content": [{"text"}|{"toolUse"}|
{"toolResult"}]}``). Cache points and the toolResult ``status`` field are added only
where :mod:`code_exec.loops.capabilities` says the model supports them.
"""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from code_exec.loops.capabilities import ModelCapabilities, capabilities
from code_exec.loops.common import (
    Budget,
    LoopInput,
    LoopOutput,
    StopReason,
    Tools,
    model_error,
)
from code_exec.models import ModelUsage

__all__ = ["run", "tool_config"]

logger = logging.getLogger(__name__)

_CACHE_POINT = {"cachePoint": {"type": "default"}}


def run(inp: LoopInput, *, client: Any) -> LoopOutput:
    """Run one agent turn. ``client`` is a boto3 ``bedrock-runtime`` client."""
    caps = capabilities(inp.model_id)
    messages = _with_prompt(inp.history, inp.prompt)
    budget = Budget(inp.limits, inp.clock)
    usage: list[ModelUsage] = []
    while True:
        stop = budget.before_model_call()
        if stop:
            return _finish(messages, stop, usage)
        response = _call_model(client, _request(inp, messages, caps), inp.model_id)
        budget.count_call()
        usage.append(_usage(response, inp.model_id))
        message = response.get("output", {}).get("message") or {"role": "assistant", "content": []}
        messages.append({"role": "assistant", "content": message.get("content") or []})
        tool_uses = [b["toolUse"] for b in messages[-1]["content"] if "toolUse" in b]
        stop_reason = response.get("stopReason")
        if tool_uses:
            content = _run_tools(inp.tools, tool_uses, caps, truncated=stop_reason == "max_tokens")
            messages.append({"role": "user", "content": content})
        stop = _decide(stop_reason, tool_uses)
        if stop:
            return _finish(messages, stop, usage)


# --- phases ----------------------------------------------------------------------------


def tool_config(tools: Tools, caps: ModelCapabilities, cache: bool) -> dict[str, Any] | None:
    """The Converse ``toolConfig`` for these tools, or None when there are none."""
    specs: list[dict[str, Any]] = [
        {
            "toolSpec": {
                "name": s.name,
                "description": s.description,
                "inputSchema": {"json": s.input_schema},
            }
        }
        for s in tools.specs
    ]
    if not specs:
        return None
    if cache and caps.cache_tools:
        specs.append(dict(_CACHE_POINT))
    return {"tools": specs}


def _request(inp: LoopInput, messages: list[dict[str, Any]], caps: ModelCapabilities) -> dict:
    system: list[dict[str, Any]] = [{"text": inp.system}]
    if inp.prompt_caching and caps.cache_system:
        system.append(dict(_CACHE_POINT))
    request: dict[str, Any] = {
        "modelId": inp.model_id,
        "messages": messages,
        "system": system,
        "inferenceConfig": {"maxTokens": inp.limits.max_tokens},
    }
    config = tool_config(inp.tools, caps, inp.prompt_caching)
    if config:
        request["toolConfig"] = config
    return request


def _call_model(client: Any, request: dict[str, Any], model_id: str) -> dict[str, Any]:
    try:
        return client.converse(**request)
    except (ClientError, BotoCoreError) as e:
        raise model_error(e, model_id) from e


def _run_tools(
    tools: Tools, tool_uses: list[dict[str, Any]], caps: ModelCapabilities, *, truncated: bool
) -> list[dict[str, Any]]:
    """One toolResult per toolUse, in order; failures are error results."""
    results = []
    for use in tool_uses:
        if truncated:
            text, is_error = "Not run: the response was cut off at max_tokens.", True
        else:
            outcome = tools.run(use["name"], use.get("input") or {})
            text, is_error = outcome.text, outcome.is_error
        result: dict[str, Any] = {"toolUseId": use["toolUseId"]}
        if is_error and not caps.tool_result_status:
            text = f"Error: {text}"  # the model cannot see a status field: say it in words
        result["content"] = [{"text": text or "(no output)"}]
        if is_error and caps.tool_result_status:
            result["status"] = "error"
        results.append({"toolResult": result})
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
        input_tokens=u.get("inputTokens") or 0,
        output_tokens=u.get("outputTokens") or 0,
        cache_read_input_tokens=u.get("cacheReadInputTokens") or 0,
        cache_write_input_tokens=u.get("cacheWriteInputTokens") or 0,
    )


def _with_prompt(history: list[dict[str, Any]], prompt: str) -> list[dict[str, Any]]:
    """History plus the new user prompt; merged into a trailing user message (tool results)."""
    messages = [dict(m) for m in history]
    if messages and messages[-1]["role"] == "user":
        messages[-1] = {"role": "user", "content": [*messages[-1]["content"], {"text": prompt}]}
    else:
        messages.append({"role": "user", "content": [{"text": prompt}]})
    return messages


def _final_text(messages: list[dict[str, Any]]) -> str:
    for m in reversed(messages):
        if m["role"] == "assistant":
            return "".join(b["text"] for b in m["content"] if "text" in b)
    return ""


def _finish(messages: list[dict[str, Any]], stop: str, usage: list[ModelUsage]) -> LoopOutput:
    logger.info("converse loop stopped: reason=%s model_calls=%d", stop, len(usage))
    return LoopOutput(text=_final_text(messages), stop_reason=stop, usage=usage, history=messages)
