"""Conversation history across loops: Anthropic Messages format <-> Converse format.

Each loop keeps its history in its own wire format (``messages``: Anthropic blocks;
``converse`` and ``strands``: Converse blocks). A session may switch loops between
turns, so the stored history is converted to the next loop's format here. Text,
tool use and tool result blocks convert both ways; images do not.

Thinking blocks (Anthropic ``thinking`` / ``redacted_thinking``, Converse
``reasoningContent``):

* **Same format** (``messages`` -> ``messages``, ``converse`` <-> ``strands``): kept
  verbatim, signature included, in their place in the assistant turn. A thinking model
  rejects a tool-use turn whose thinking is missing or altered.
* **Across formats**: dropped. A signature is only vouched for with the model and the wire
  format that produced it (Converse carries redacted thinking as bytes, the Anthropic body
  as an opaque string; nothing documents that one verifies as the other). Dropping the
  thinking of finished turns is allowed: Claude ignores earlier turns' thinking. The one
  place it is required is the last assistant turn of a tool loop still in progress (the
  history ends with tool results), so such a history is refused with a 400 naming
  ``loop`` instead of being sent to a model that would reject it.

Converse's ``redactedContent`` is bytes in boto3; :func:`storable` turns it into base64
text so a history can be stored as JSON, and :func:`adapt` turns it back.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any, Literal

from code_exec.exceptions import RequestValidationError

__all__ = ["HistoryFormat", "adapt", "format_of", "is_thinking", "storable"]

HistoryFormat = Literal["anthropic", "converse"]
_ANTHROPIC_THINKING = ("thinking", "redacted_thinking")


def format_of(history: list[dict[str, Any]]) -> HistoryFormat | None:
    """The format of ``history``, or None when it has no typed block to tell."""
    for message in history:
        content = message.get("content")
        if isinstance(content, str):
            return "anthropic"
        for block in content or []:
            return "anthropic" if "type" in block else "converse"
    return None


def is_thinking(block: dict[str, Any]) -> bool:
    """True for a thinking block of either format."""
    return block.get("type") in _ANTHROPIC_THINKING or "reasoningContent" in block


def adapt(history: list[dict[str, Any]], target: HistoryFormat) -> list[dict[str, Any]]:
    """``history`` in the ``target`` format (unchanged when it already is).

    Raises:
        RequestValidationError: converting would drop the thinking that the model needs
            to continue a tool loop in progress (naming ``loop``).
    """
    source = format_of(history)
    if source is None or source == target:
        # role and content only: Strands adds bookkeeping keys the wire formats reject
        return [{"role": m["role"], "content": _restored(m["content"])} for m in history]
    _refuse_open_thinking_loop(history, source)
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


def storable(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``history`` with Converse ``redactedContent`` bytes as base64 text (JSON-safe)."""
    return [_map_redacted(m, _encode) for m in history]


# --- thinking -----------------------------------------------------------------------------


def _refuse_open_thinking_loop(history: list[dict[str, Any]], source: HistoryFormat) -> None:
    if len(history) < 2 or history[-1].get("role") != "user":
        return
    results = history[-1].get("content")
    key = "tool_result" if source == "anthropic" else "toolResult"
    if isinstance(results, str) or not any(b.get("type") == key or key in b for b in results or []):
        return
    last_assistant = history[-2].get("content")
    if isinstance(last_assistant, list) and any(is_thinking(b) for b in last_assistant):
        held = "messages" if source == "anthropic" else "converse or strands"
        raise RequestValidationError(
            "the conversation stopped inside a tool call the model thought about; its "
            f"thinking only goes back in the format it came from: continue it with loop {held}",
            field="loop",
        )


def _restored(content: Any) -> Any:
    if isinstance(content, str):
        return content
    return [_map_block(b, _decode) for b in content]


def _map_redacted(message: dict[str, Any], fn: Callable[[Any], Any]) -> dict[str, Any]:
    content = message.get("content")
    if not isinstance(content, list):
        return message
    return {**message, "content": [_map_block(b, fn) for b in content]}


def _map_block(block: dict[str, Any], fn: Callable[[Any], Any]) -> dict[str, Any]:
    reasoning = block.get("reasoningContent")
    if not isinstance(reasoning, dict) or "redactedContent" not in reasoning:
        return block
    return {"reasoningContent": {**reasoning, "redactedContent": fn(reasoning["redactedContent"])}}


def _encode(value: Any) -> Any:
    return base64.b64encode(value).decode("ascii") if isinstance(value, bytes) else value


def _decode(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as e:
        raise RequestValidationError(
            "the stored conversation has a redacted thinking block that is not base64",
            field="session_id",
        ) from e


# --- block conversion ----------------------------------------------------------------------


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
    return None  # thinking, redacted_thinking, images: not carried across formats


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
    return None  # reasoningContent, images: not carried across formats
