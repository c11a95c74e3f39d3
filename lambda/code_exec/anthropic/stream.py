"""The response of a turn: one ``Message`` object, or Anthropic's server-sent event sequence.

Both are built from the turn's generator of finished blocks, so the SSE sequence can be sent
block by block as the turn produces them:

    message_start (container, if known)  -> per block: content_block_start, deltas, _stop
    -> message_delta (stop_reason, cumulative usage, container) -> message_stop

Text arrives as one ``text_delta``; tool inputs as one ``input_json_delta`` (blocks start with
``"input": {}``); server tool result blocks arrive whole in their ``content_block_start`` (they
have no delta type). ``container`` is in ``message_start`` when known and always in
``message_delta``: the beta SDK's accumulator takes the final message's container from there.
A failure after the stream started is an ``error`` event, as Anthropic sends it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Generator, Iterator
from typing import Any

from code_exec.anthropic.errors import AnthropicError, error_payload
from code_exec.anthropic.turn import TurnEnd

__all__ = ["block_events", "collect", "event", "message", "sse"]

logger = logging.getLogger(__name__)

Turn = Generator[dict[str, Any], None, TurnEnd]


def message(
    message_id: str, model: str, content: list[dict[str, Any]], end: TurnEnd
) -> dict[str, Any]:
    """The non-streamed response body."""
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
    return body


def collect(turn: Turn) -> tuple[list[dict[str, Any]], TurnEnd]:
    """Run the turn to its end: its blocks and how it ended."""
    blocks: list[dict[str, Any]] = []
    while True:
        try:
            blocks.append(next(turn))
        except StopIteration as stop:
            return blocks, stop.value


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


def sse(
    turn: Turn,
    first: dict[str, Any] | TurnEnd,
    *,
    message_id: str,
    model: str,
    container: Callable[[], dict[str, str] | None],
    usage: Callable[[], dict[str, Any]],
    on_error: Callable[[Exception], AnthropicError],
    request_id: str,
) -> Iterator[str]:
    """The event sequence of a turn whose first step (``first``: a block, or its end when it
    had none) is already known, so that a failure before it was an HTTP error instead.

    ``container`` and ``usage`` give the values known when ``message_start`` is sent.
    """
    start: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage(),
    }
    known = container()
    if known is not None:
        start["container"] = known
    yield event("message_start", {"message": start})
    index, step = 0, first
    while not isinstance(step, TurnEnd):
        yield from block_events(index, step)
        index += 1
        try:
            step = next(turn)
        except StopIteration as stop:
            step = stop.value
        except Exception as e:  # the stream has started: Anthropic sends an error event
            error = on_error(e)
            logger.warning("stream failed after %s block(s): %s", index, error.message)
            yield f"event: error\ndata: {error_payload(error, request_id)}\n\n"
            return
    end = step
    delta: dict[str, Any] = {"stop_reason": end.stop_reason, "stop_sequence": end.stop_sequence}
    if end.container is not None:
        delta["container"] = end.container
    yield event("message_delta", {"delta": delta, "usage": end.usage.wire()})
    yield event("message_stop", {})
