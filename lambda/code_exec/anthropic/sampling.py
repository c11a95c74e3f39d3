"""One sampling step of a ``/v1/messages`` turn: a streamed Bedrock call, handed on as written.

The turn (:mod:`.turn`) is a generator of *items*, which its two consumers turn into a whole
``Message`` (:func:`.stream.collect`) or into Anthropic's server-sent events
(:func:`.stream.sse`):

* a ``dict``: a whole content block (a server tool's result, a call made from code), sent
  whole in its ``content_block_start``;
* :class:`ModelStart`: a model call began (its first usage numbers);
* :class:`BlockStart`, :class:`BlockDelta`, :class:`BlockStop`: a block the model is writing:
  opened (``"text": ""``, ``"input": {}``), each delta as Bedrock sent it (``text_delta``,
  ``input_json_delta``, ``thinking_delta``, ``signature_delta``, ``citations_delta``), closed
  with the whole block (what a non-streamed response holds).

Blocks are in the client's view from the moment they open: the model's ``tool_use`` of a
stand-in tool is a ``server_tool_use`` block with a ``srvtoolu_`` id, so its input streams as
``input_json_delta`` exactly as Anthropic's does; calls of client tools carry ``caller`` when
the request has programmatic tools.

A reply can be cut short (``cancel`` is set: the function's deadline is near). The cut falls
where the next block would start, so every block the client received is whole, and the reply
stands as if the model had stopped there (:attr:`Reply.cut`).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from code_exec.anthropic.history import ServerUse
from code_exec.anthropic.ids import server_tool_id
from code_exec.anthropic.tools import ToolPlan
from code_exec.anthropic.web_tools import client_citation
from code_exec.exceptions import ModelError
from code_exec.loops.model_deltas import AnthropicReader, anthropic_events

__all__ = [
    "BlockDelta",
    "BlockStart",
    "BlockStop",
    "Item",
    "ModelStart",
    "Reply",
    "client_block",
    "sample",
]


@dataclass(frozen=True)
class ModelStart:
    """A model call began; ``usage`` is what its ``message_start`` reported."""

    usage: dict[str, Any]


@dataclass(frozen=True)
class BlockStart:
    """A block opens (empty text, thinking or input)."""

    block: dict[str, Any]


@dataclass(frozen=True)
class BlockDelta:
    """A piece of the open block, as Bedrock sent it."""

    delta: dict[str, Any]


@dataclass(frozen=True)
class BlockStop:
    """The open block is complete: ``block`` is it, whole."""

    block: dict[str, Any]


Item = dict[str, Any] | ModelStart | BlockStart | BlockDelta | BlockStop


@dataclass
class Reply:
    """One model call, complete (or cut short).

    Attributes:
        message: the assistant message as Bedrock wrote it (for the next call's history).
        usage: its ``usage``.
        stop_reason, stop_sequence: why it ended (None when it was cut).
        uses: its calls of the stand-in tools, as server tool uses.
        client_calls: how many calls of the client's own tools it made.
        cut: it was cut short before its end.
    """

    message: dict[str, Any]
    usage: dict[str, Any]
    stop_reason: str | None
    stop_sequence: str | None
    uses: list[ServerUse] = field(default_factory=list)
    client_calls: int = 0
    cut: bool = False


def client_block(block: dict[str, Any], plan: ToolPlan) -> dict[str, Any]:
    """A block of the model's reply as the client sees it."""
    kind = block.get("type")
    if kind == "tool_use":
        out: dict[str, Any] = {k: block[k] for k in ("type", "id", "name", "input") if k in block}
        if block.get("name") in plan.stand_ins:
            out["type"], out["id"] = "server_tool_use", server_tool_id(block["id"])
        if plan.programmatic:
            out["caller"] = {"type": "direct"}
        return out
    if kind == "text":
        out = {**block, "text": block.get("text", "")}
        if block.get("citations") and plan.direct_web:  # web search hits cited
            out["citations"] = [client_citation(c) for c in block["citations"]]
        return out
    if kind == "thinking":
        thinking, signature = block.get("thinking", ""), block.get("signature", "")
        return {**block, "thinking": thinking, "signature": signature}
    return block


def sample(
    client: Any,
    model_id: str,
    body: dict[str, Any],
    plan: ToolPlan,
    *,
    cancel: threading.Event | None = None,
) -> Generator[Item, None, Reply]:
    """Call the model with ``body``, yielding its blocks as they are written; return the
    :class:`Reply`.

    Raises:
        ModelError: Bedrock refused the call, failed mid-stream, or ended the stream early.
    """
    reader = AnthropicReader(model_id)
    uses: list[ServerUse] = []
    client_calls = 0
    cut = False
    events = anthropic_events(client, model_id, body)
    try:
        for event in events:
            kind = event.get("type")
            if kind == "content_block_start" and cancel is not None and cancel.is_set():
                cut = True
                break
            reader.feed(event)
            if kind == "message_start":
                yield ModelStart(dict(reader.usage))
            elif kind == "content_block_start":
                opening = client_block(copy.deepcopy(reader.block(int(event["index"]))), plan)
                yield BlockStart(opening)
            elif kind == "content_block_delta":
                delta = dict(event["delta"])
                if delta.get("type") == "citations_delta" and plan.direct_web:
                    delta["citation"] = client_citation(dict(delta.get("citation") or {}))
                yield BlockDelta(delta)
            elif kind == "content_block_stop":
                block = client_block(reader.block(int(event["index"])), plan)
                if block["type"] == "server_tool_use":
                    uses.append(ServerUse(block["id"], block["name"], block.get("input") or {}))
                elif block["type"] == "tool_use":
                    client_calls += 1
                yield BlockStop(block)
    finally:
        events.close()
    if not cut and not reader.ended:
        raise ModelError(f"the model stream of {model_id} ended before the reply was complete")
    reply = reader.body()
    return Reply(
        message={"role": "assistant", "content": list(reply.get("content") or [])},
        usage=dict(reply.get("usage") or {}),
        stop_reason=None if cut else reply.get("stop_reason") or "end_turn",
        stop_sequence=None if cut else reply.get("stop_sequence"),
        uses=uses,
        client_calls=client_calls,
        cut=cut,
    )
