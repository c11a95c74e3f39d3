"""One model call as it went over the (replaced) wire, and views of its request.

Bedrock's model calls are told apart by their URL (``/model/{id}/invoke``, ``/converse``,
and the streamed ``invoke-with-response-stream`` and ``converse-stream``). A streamed call
carries the same request body as its buffered twin (:data:`BUFFERED`), so the expectations
and the request views treat the two alike. :class:`Conversation` reduces either wire format
(Anthropic Messages for InvokeModel, Converse) to what the expectations talk about.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

__all__ = [
    "BUFFERED",
    "STREAMED",
    "Conversation",
    "Exchange",
    "ReplayMismatch",
    "ToolResult",
    "family",
    "parse_url",
    "response_content",
]

_OPERATIONS = {
    "invoke": "InvokeModel",
    "converse": "Converse",
    "invoke-with-response-stream": "InvokeModelWithResponseStream",
    "converse-stream": "ConverseStream",
    "count-tokens": "CountTokens",
}
# A streamed operation and the buffered one whose request (and recorded reply) it shares.
BUFFERED = {"InvokeModelWithResponseStream": "InvokeModel", "ConverseStream": "Converse"}
STREAMED = {buffered: streamed for streamed, buffered in BUFFERED.items()}
_ANTHROPIC_USAGE = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)
_CONVERSE_USAGE = ("inputTokens", "outputTokens", "cacheReadInputTokens", "cacheWriteInputTokens")


class ReplayMismatch(AssertionError):
    """The code under test sent a request the recording does not answer."""


def family(operation: str) -> str:
    """The buffered operation whose wire format ``operation`` uses (itself if buffered)."""
    return BUFFERED.get(operation, operation)


def parse_url(url: str) -> tuple[str, str]:
    """(operation, model id) of a bedrock-runtime model call's URL."""
    path = url.split("://", 1)[-1].split("/", 1)[-1].split("?")[0]
    parts = path.split("/")  # model/{id}/invoke
    if len(parts) < 3 or parts[0] != "model" or parts[-1] not in _OPERATIONS:
        raise ReplayMismatch(f"not a model call the replay knows: {url}")
    return _OPERATIONS[parts[-1]], unquote("/".join(parts[1:-1]))


def response_content(operation: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The content blocks of a recorded response body, in its operation's wire format."""
    if family(operation) == "InvokeModel":
        return list(body.get("content") or [])
    return list(((body.get("output") or {}).get("message") or {}).get("content") or [])


@dataclass
class Exchange:
    """One model call as it went over the (replaced) wire."""

    operation: str
    model_id: str
    body: bytes  # the request body exactly as sent
    request: dict[str, Any]  # parsed
    response: dict[str, Any]  # the recorded response body

    @property
    def conversation(self) -> Conversation:
        return Conversation.of(self.operation, self.request)

    @property
    def estimated_usage(self) -> tuple[int, int, int, int]:
        """(input, output, cache read, cache write) tokens the recorded response carries.

        These are not Bedrock's numbers: the recordings' ``usage`` was filled when they were
        authored, by an offline tokenizer run over the requests sent then
        (``tests/fixtures/bedrock/_author.py``). A test may check that a loop carries them
        over unchanged, never what they amount to. Read with each wire format's own field
        names (Anthropic Messages for InvokeModel, Converse), not through the runtime.
        """
        usage = self.response.get("usage") or {}
        keys = _ANTHROPIC_USAGE if family(self.operation) == "InvokeModel" else _CONVERSE_USAGE
        inp, out, read, write = (int(usage.get(k, 0)) for k in keys)
        return inp, out, read, write


@dataclass
class ToolResult:
    is_error: bool
    text: str


@dataclass
class Conversation:
    """A request reduced to what the expectations talk about, for either wire format."""

    system: str
    tools: list[str]
    cache_system: bool
    cache_tools: bool
    messages: list[dict[str, Any]]
    all_text: str
    last_text: str
    last_results: list[ToolResult]
    thinking: Any  # the request's thinking object (None when absent)
    tool_choice: Any  # the request's tool choice (None when absent)

    @classmethod
    def of(cls, operation: str, req: dict[str, Any]) -> Conversation:
        messages = req.get("messages", [])
        if family(operation) == "InvokeModel":
            system_blocks = req.get("system") or []
            if isinstance(system_blocks, str):
                system_blocks = [{"type": "text", "text": system_blocks}]
            tools = req.get("tools") or []
            return cls(
                system="".join(b.get("text", "") for b in system_blocks),
                tools=[t["name"] for t in tools],
                cache_system=any("cache_control" in b for b in system_blocks),
                cache_tools=any("cache_control" in t for t in tools),
                messages=messages,
                all_text="\n".join(_anthropic_text(m) for m in messages),
                last_text=_anthropic_text(messages[-1]) if messages else "",
                last_results=_anthropic_results(messages[-1]) if messages else [],
                thinking=req.get("thinking"),
                tool_choice=req.get("tool_choice"),
            )
        system = req.get("system") or []
        tools = (req.get("toolConfig") or {}).get("tools") or []
        return cls(
            system="".join(b.get("text", "") for b in system),
            tools=[t["toolSpec"]["name"] for t in tools if "toolSpec" in t],
            cache_system=any("cachePoint" in b for b in system),
            cache_tools=any("cachePoint" in t for t in tools),
            messages=messages,
            all_text="\n".join(_converse_text(m) for m in messages),
            last_text=_converse_text(messages[-1]) if messages else "",
            last_results=_converse_results(messages[-1]) if messages else [],
            thinking=(req.get("additionalModelRequestFields") or {}).get("thinking"),
            tool_choice=(req.get("toolConfig") or {}).get("toolChoice"),
        )


def _anthropic_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    parts = []
    for b in content or []:
        if b.get("type") == "text":
            parts.append(b["text"])
        elif b.get("type") == "tool_use":
            parts.append(json.dumps(b.get("input"), ensure_ascii=False))
        elif b.get("type") == "tool_result":
            parts.append(_anthropic_result_text(b))
    return "\n".join(parts)


def _anthropic_result_text(block: dict[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, str):
        return content
    return "".join(c.get("text", "") for c in content or [])


def _anthropic_results(message: dict[str, Any]) -> list[ToolResult]:
    content = message.get("content")
    if isinstance(content, str):
        return []
    return [
        ToolResult(bool(b.get("is_error")), _anthropic_result_text(b))
        for b in content or []
        if b.get("type") == "tool_result"
    ]


def _converse_text(message: dict[str, Any]) -> str:
    parts = []
    for b in message.get("content") or []:
        if "text" in b:
            parts.append(b["text"])
        elif "toolUse" in b:
            parts.append(json.dumps(b["toolUse"].get("input"), ensure_ascii=False))
        elif "toolResult" in b:
            parts.append(_converse_result_text(b["toolResult"]))
    return "\n".join(parts)


def _converse_result_text(result: dict[str, Any]) -> str:
    out = []
    for c in result.get("content") or []:
        if "text" in c:
            out.append(c["text"])
        elif "json" in c:
            out.append(json.dumps(c["json"], ensure_ascii=False))
    return "".join(out)


def _converse_results(message: dict[str, Any]) -> list[ToolResult]:
    return [
        ToolResult(b["toolResult"].get("status") == "error", _converse_result_text(b["toolResult"]))
        for b in message.get("content") or []
        if "toolResult" in b
    ]
