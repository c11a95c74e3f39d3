"""The ``converse`` loop: bedrock-runtime ``Converse``, for Claude and non-Claude models.

History is kept in Converse's message format (``{"role", "content": [{"text"}|{"toolUse"}|
{"toolResult"}|{"reasoningContent"}]}``), the assistant turns exactly as Converse returned
them: ``reasoningContent`` blocks (``reasoningText`` with its ``signature``, or
``redactedContent``) go back unchanged and in order. Cache points and the toolResult
``status`` field are added only where :mod:`code_exec.loops.capabilities` says the model
supports them. ``thinking`` goes in ``additionalModelRequestFields`` only when the caller
set it; no ``toolChoice`` is sent (Converse's default is ``auto``).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from code_exec.loops.capabilities import ModelCapabilities, capabilities
from code_exec.loops.common import (
    CONVERSE_USAGE,
    LoopInput,
    LoopOutput,
    Reply,
    ToolCall,
    ToolOutcome,
    Tools,
    model_error,
    model_usage,
    run_loop,
    with_prompt,
)
from code_exec.loops.events import TurnStream
from code_exec.loops.model_deltas import read_converse

__all__ = ["block_text", "run", "system_blocks", "text_block", "tool_config"]

_CACHE_POINT = {"cachePoint": {"type": "default"}}


def run(inp: LoopInput, *, client: Any) -> LoopOutput:
    """Run one agent turn. ``client`` is a boto3 ``bedrock-runtime`` client."""
    caps = capabilities(inp.model_id)

    def call_model(messages: list[dict[str, Any]]) -> Reply:
        request = _request(inp, messages, caps)
        if inp.stream is not None:
            return _reply(_stream_model(client, request, inp.model_id, inp.stream), inp.model_id)
        return _reply(_call_model(client, request, inp.model_id), inp.model_id)

    return run_loop(
        inp,
        with_prompt(inp.history, inp.prompt, text_block),
        call_model=call_model,
        tool_results=lambda calls, outcomes: _tool_results(calls, outcomes, caps),
        block_text=block_text,
        name="converse",
    )


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
    request: dict[str, Any] = {
        "modelId": inp.model_id,
        "messages": messages,
        "system": system_blocks(inp, caps),
        "inferenceConfig": {"maxTokens": inp.limits.max_tokens},
    }
    config = tool_config(inp.tools, caps, inp.prompt_caching)
    if config:
        request["toolConfig"] = config
    if inp.thinking is not None:
        request["additionalModelRequestFields"] = {"thinking": inp.thinking}
    return request


def _call_model(client: Any, request: dict[str, Any], model_id: str) -> dict[str, Any]:
    try:
        return client.converse(**request)
    except (ClientError, BotoCoreError) as e:
        raise model_error(e, model_id) from e


def _stream_model(
    client: Any, request: dict[str, Any], model_id: str, stream: TurnStream
) -> dict[str, Any]:
    try:
        events = client.converse_stream(**request)["stream"]
        try:
            return read_converse(events, stream, model_id)
        finally:
            events.close()  # also when interrupted: stop reading at this event
    except (ClientError, BotoCoreError) as e:
        raise model_error(e, model_id) from e


def _reply(response: dict[str, Any], model_id: str) -> Reply:
    message = response.get("output", {}).get("message") or {"role": "assistant", "content": []}
    content = message.get("content") or []
    calls = [
        ToolCall(u["toolUseId"], u["name"], u.get("input") or {})
        for u in (b["toolUse"] for b in content if "toolUse" in b)
    ]
    return Reply(
        message={"role": "assistant", "content": content},
        stop_reason=response.get("stopReason"),
        usage=model_usage(response.get("usage") or {}, model_id, CONVERSE_USAGE),
        tool_calls=calls,
    )


def _tool_results(
    calls: list[ToolCall], outcomes: list[ToolOutcome], caps: ModelCapabilities
) -> dict[str, Any]:
    """The user message with one toolResult per toolUse, in order."""
    results = []
    for call, outcome in zip(calls, outcomes, strict=True):
        text = outcome.text
        result: dict[str, Any] = {"toolUseId": call.id}
        if outcome.is_error and not caps.tool_result_status:
            text = f"Error: {text}"  # the model cannot see a status field: say it in words
        result["content"] = [{"text": text or "(no output)"}]
        if outcome.is_error and caps.tool_result_status:
            result["status"] = "error"
        results.append({"toolResult": result})
    return {"role": "user", "content": results}


# --- Converse format (the strands loop keeps its history in it too) ---------------------


def text_block(text: str) -> dict[str, Any]:
    """A Converse text content block."""
    return {"text": text}


def block_text(block: dict[str, Any]) -> str:
    """The text of a Converse content block ("" for other blocks)."""
    return block.get("text", "")


def system_blocks(inp: LoopInput, caps: ModelCapabilities) -> list[dict[str, Any]]:
    """The system prompt, with a cache point after it where the model supports one."""
    system: list[dict[str, Any]] = [{"text": inp.system}]
    if inp.prompt_caching and caps.cache_system:
        system.append(dict(_CACHE_POINT))
    return system
