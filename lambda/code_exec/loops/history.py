"""Conversation history across loops: Anthropic Messages format <-> Converse format.

Each loop keeps its history in its own wire format (``messages``: Anthropic blocks;
``converse`` and ``strands``: Converse blocks). A session may switch loops between
turns, so the stored history is converted to the next loop's format here. Text,
tool use and tool result blocks convert both ways; other blocks (thinking, images)
are dropped from the copy sent to the other format.
"""

from __future__ import annotations

from typing import Any, Literal

__all__ = ["HistoryFormat", "adapt", "format_of"]

HistoryFormat = Literal["anthropic", "converse"]


def format_of(history: list[dict[str, Any]]) -> HistoryFormat | None:
    """The format of ``history``, or None when it has no typed block to tell."""
    for message in history:
        content = message.get("content")
        if isinstance(content, str):
            return "anthropic"
        for block in content or []:
            return "anthropic" if "type" in block else "converse"
    return None


def adapt(history: list[dict[str, Any]], target: HistoryFormat) -> list[dict[str, Any]]:
    """``history`` in the ``target`` format (unchanged when it already is)."""
    source = format_of(history)
    if source is None or source == target:
        # role and content only: Strands adds bookkeeping keys the wire formats reject
        return [{"role": m["role"], "content": m["content"]} for m in history]
    convert = _to_converse if target == "converse" else _to_anthropic
    out = []
    for message in history:
        content = message["content"]
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        blocks = [b for b in (convert(block) for block in content) if b is not None]
        if blocks:
            out.append({"role": message["role"], "content": blocks})
    return out


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(c.get("text", "") for c in content or [])


def _to_converse(block: dict[str, Any]) -> dict[str, Any] | None:
    kind = block.get("type")
    if kind == "text":
        return {"text": block["text"]}
    if kind == "tool_use":
        return {
            "toolUse": {"toolUseId": block["id"], "name": block["name"], "input": block["input"]}
        }
    if kind == "tool_result":
        result: dict[str, Any] = {
            "toolUseId": block["tool_use_id"],
            "content": [{"text": _text_of(block.get("content"))}],
        }
        if block.get("is_error"):
            result["status"] = "error"
        return {"toolResult": result}
    return None


def _to_anthropic(block: dict[str, Any]) -> dict[str, Any] | None:
    if "text" in block:
        return {"type": "text", "text": block["text"]}
    if "toolUse" in block:
        use = block["toolUse"]
        return {
            "type": "tool_use",
            "id": use["toolUseId"],
            "name": use["name"],
            "input": use["input"],
        }
    if "toolResult" in block:
        res = block["toolResult"]
        out: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": res["toolUseId"],
            "content": [{"type": "text", "text": _text_of(res.get("content"))}],
        }
        if res.get("status") == "error":
            out["is_error"] = True
        return out
    return None
