"""The response of a turn: one ``Message`` object, or Anthropic's server-sent event sequence.

Both are built from the turn's items (:mod:`.sampling`). The SSE sequence is written as the
turn produces them:

    message_start (container, if known) -> per block: content_block_start, deltas, _stop
    -> message_delta (stop_reason, cumulative usage, container) -> message_stop

A block the model writes is forwarded delta by delta as Bedrock streams it (``text_delta``,
``input_json_delta`` for tool input, the block opened with ``"input": {}``,
``thinking_delta`` / ``signature_delta``); blocks the server adds (server tool results,
calls made from code) arrive whole in their ``content_block_start`` (results have no delta
type), as Anthropic sends them. ``message_start`` waits for the turn's first item, so a
failure before it (a bad container, a refused first model call) is still an HTTP error; its
``usage`` is the first model call's, and its ``container`` is there when the request named one
(or the turn made one before its first item). ``container`` is always in ``message_delta``:
the SDK's accumulators take the final message's container from there. A failure after
``message_start`` is an ``error`` event, as Anthropic sends it (:func:`error_event`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterator
from typing import Any

from code_exec.anthropic.errors import AnthropicError, error_payload
from code_exec.anthropic.sampling import BlockDelta, BlockStart, BlockStop, Item, ModelStart
from code_exec.anthropic.turn import TurnEnd
from code_exec.anthropic.usage import Usage

__all__ = ["block_events", "collect", "error_event", "event", "message", "omit_thinking", "sse"]

Turn = Generator[Item, None, TurnEnd]


def message(
    message_id: str,
    model: str,
    content: list[dict[str, Any]],
    end: TurnEnd,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The non-streamed response body (``extra``: top-level fields such as
    ``context_management``)."""
    body: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": end.stop_reason,
        "stop_sequence": end.stop_sequence,
        "usage": end.usage.wire(),
    }
    if end.container is not None:
        body["container"] = end.container
    body.update(extra or {})
    return body


def omit_thinking(turn: Turn) -> Turn:
    """The turn as ``thinking: {"display": "omitted"}`` shows it: thinking blocks with empty
    text and their signature (which carries the full thinking, so the block sent back in a
    later request is still valid), no ``thinking_delta``. The turn itself keeps the thinking
    for its own later model calls."""
    try:
        while True:
            try:
                item = next(turn)
            except StopIteration as stop:
                end: TurnEnd = stop.value
                return end
            if isinstance(item, BlockDelta) and item.delta.get("type") == "thinking_delta":
                continue
            if isinstance(item, (BlockStart, BlockStop)) and item.block.get("type") == "thinking":
                item = type(item)({**item.block, "thinking": ""})
            yield item
    finally:
        turn.close()


def collect(turn: Turn) -> tuple[list[dict[str, Any]], TurnEnd]:
    """Run the turn to its end: its blocks and how it ended."""
    blocks: list[dict[str, Any]] = []
    while True:
        try:
            item = next(turn)
        except StopIteration as stop:
            return blocks, stop.value
        if isinstance(item, dict):
            blocks.append(item)
        elif isinstance(item, BlockStop):
            blocks.append(item.block)


def event(kind: str, data: dict[str, Any]) -> str:
    """One SSE frame (the SDK dispatches on the ``event:`` name)."""
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"


def block_events(index: int, block: dict[str, Any]) -> Iterator[str]:
    """The events of one content block."""
    kind = block.get("type")
    if kind == "text":
        start = {k: v for k, v in block.items() if k != "text"}
        yield event("content_block_start", {"index": index, "content_block": {**start, "text": ""}})
        delta = {"type": "text_delta", "text": block.get("text", "")}
        yield event("content_block_delta", {"index": index, "delta": delta})
    elif kind == "thinking":
        start = {"type": "thinking", "thinking": "", "signature": ""}
        yield event("content_block_start", {"index": index, "content_block": start})
        for delta in (
            {"type": "thinking_delta", "thinking": block.get("thinking", "")},
            {"type": "signature_delta", "signature": block.get("signature", "")},
        ):
            yield event("content_block_delta", {"index": index, "delta": delta})
    elif kind in ("tool_use", "server_tool_use"):
        start = {**block, "input": {}}
        yield event("content_block_start", {"index": index, "content_block": start})
        delta = {"type": "input_json_delta", "partial_json": json.dumps(block.get("input") or {})}
        yield event("content_block_delta", {"index": index, "delta": delta})
    else:  # result blocks, redacted thinking: whole in their start event
        yield event("content_block_start", {"index": index, "content_block": block})
    yield event("content_block_stop", {"index": index})


def error_event(error: AnthropicError, request_id: str) -> str:
    """The ``error`` event of a failure after the stream started."""
    return f"event: error\ndata: {error_payload(error, request_id)}\n\n"


def _next(turn: Turn) -> Item | TurnEnd:
    try:
        return next(turn)
    except StopIteration as stop:
        end: TurnEnd = stop.value
        return end


def sse(
    turn: Turn,
    *,
    message_id: str,
    model: str,
    container: Callable[[], dict[str, str] | None],
    extra: dict[str, Any] | None = None,
) -> Iterator[str]:
    """The event sequence of a turn, written as its items come.

    ``extra`` (``context_management``) goes in ``message_delta``, next to ``usage``, where
    the SDK's accumulator reads it.

    ``container`` gives the container known when ``message_start`` is sent. An exception of
    the turn is raised as it is: before the first frame, the route answers an HTTP error; after
    it, the route sends :func:`error_event`.
    """
    step = _next(turn)  # message_start waits for the turn's first item (or its end)
    usage = Usage()
    if isinstance(step, ModelStart):
        usage.add(step.usage)
    start: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage.wire(),
    }
    known = container()
    if known is not None:
        start["container"] = known
    yield event("message_start", {"message": start})
    index = 0
    while not isinstance(step, TurnEnd):
        if isinstance(step, dict):
            yield from block_events(index, step)
            index += 1
        elif isinstance(step, BlockStart):
            yield event("content_block_start", {"index": index, "content_block": step.block})
        elif isinstance(step, BlockDelta):
            yield event("content_block_delta", {"index": index, "delta": step.delta})
        elif isinstance(step, BlockStop):
            yield event("content_block_stop", {"index": index})
            index += 1
        step = _next(turn)
    delta: dict[str, Any] = {"stop_reason": step.stop_reason, "stop_sequence": step.stop_sequence}
    if step.container is not None:
        delta["container"] = step.container
    yield event("message_delta", {"delta": delta, "usage": step.usage.wire(), **(extra or {})})
    yield event("message_stop", {})
