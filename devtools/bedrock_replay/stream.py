"""Bedrock's streamed replies, on the wire, for the replay double.

``InvokeModelWithResponseStream`` and ``ConverseStream`` answer with an
``application/vnd.amazon.eventstream`` body (framed by the emulator's
:mod:`emulators.code_interpreter.eventstream` encoder, which botocore's decoder reads):

* ``InvokeModelWithResponseStream``: ``:event-type: chunk`` events whose JSON payload is
  ``{"bytes": <base64 of one Anthropic Messages stream event>}`` (botocore hands the
  decoded bytes to the caller as ``{"chunk": {"bytes": b"..."}}``); the reply's
  content type is in the ``x-amzn-bedrock-content-type`` header;
* ``ConverseStream``: one event per ``ConverseStreamOutput`` member (``messageStart``,
  ``contentBlockStart``, ``contentBlockDelta``, ``contentBlockStop``, ``messageStop``,
  ``metadata``) with the member as JSON payload; blobs (redacted reasoning) are base64;
* either may carry a modelled exception (``:message-type: exception``).

A recorded turn holds its stream as a list of frames in that shape (``{"event": name,
"payload": {...}}``, ``{"exception": name, "payload": {...}}``, or ``{"sleep": seconds}``
for a model that pauses). A turn recorded only as a buffered body is streamed by splitting
it the way Bedrock does (:func:`stream_frames`): text and tool input in small deltas,
thinking as its text then its signature, so a streamed turn adds up to the same reply.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

from emulators.code_interpreter.eventstream import CONTENT_TYPE, encode_message

__all__ = [
    "CONTENT_TYPE",
    "FrameStream",
    "anthropic_events",
    "converse_events",
    "encode",
    "stream_frames",
]

_PIECE = 12  # characters per delta when a recorded body is split into a stream


def _pieces(text: str) -> list[str]:
    return [text[i : i + _PIECE] for i in range(0, len(text), _PIECE)] or [""]


def anthropic_events(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The Anthropic stream events an InvokeModel body would have been sent as."""
    usage = dict(body.get("usage") or {})
    later = {k: usage.pop(k) for k in ("output_tokens", "output_tokens_details") if k in usage}
    head = {k: v for k, v in body.items() if k not in ("content", "usage")}
    start = {**head, "content": [], "stop_reason": None, "stop_sequence": None}
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": {**start, "usage": {**usage, "output_tokens": 1}}}
    ]
    for index, block in enumerate(body.get("content") or []):
        kind = block.get("type")
        deltas: list[dict[str, Any]] = []
        if kind == "text":  # citations first, each in its own delta, as Bedrock streams them
            opening = {k: v for k, v in block.items() if k != "citations"} | {"text": ""}
            deltas = [
                {"type": "citations_delta", "citation": c} for c in block.get("citations") or []
            ]
            deltas += [{"type": "text_delta", "text": p} for p in _pieces(block["text"])]
        elif kind in ("tool_use", "server_tool_use"):
            opening = {**block, "input": {}}
            raw = json.dumps(block.get("input") or {})
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in _pieces(raw)]
        elif kind == "thinking":
            opening = {"type": "thinking", "thinking": ""}
            deltas = [{"type": "thinking_delta", "thinking": p} for p in _pieces(block["thinking"])]
            deltas.append({"type": "signature_delta", "signature": block.get("signature", "")})
        else:  # redacted thinking and anything else arrive whole
            opening = block
        events.append({"type": "content_block_start", "index": index, "content_block": opening})
        events.extend({"type": "content_block_delta", "index": index, "delta": d} for d in deltas)
        events.append({"type": "content_block_stop", "index": index})
    stop = {"stop_reason": body.get("stop_reason"), "stop_sequence": body.get("stop_sequence")}
    events.append({"type": "message_delta", "delta": stop, "usage": later})
    metrics = {
        "inputTokenCount": usage.get("input_tokens", 0),
        "outputTokenCount": later.get("output_tokens", 0),
    }
    events.append({"type": "message_stop", "amazon-bedrock-invocationMetrics": metrics})
    return events


def converse_events(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The ConverseStream events (name, member) a Converse response would have been sent as."""
    message = (body.get("output") or {}).get("message") or {}
    events: list[tuple[str, dict[str, Any]]] = [
        ("messageStart", {"role": message.get("role", "assistant")})
    ]
    for index, block in enumerate(message.get("content") or []):
        deltas: list[dict[str, Any]] = []
        if "text" in block:
            deltas = [{"text": p} for p in _pieces(block["text"])]
        elif "toolUse" in block:
            tool = block["toolUse"]
            opening = {k: v for k, v in tool.items() if k != "input"}
            events.append(
                ("contentBlockStart", {"contentBlockIndex": index, "start": {"toolUse": opening}})
            )
            raw = json.dumps(tool.get("input") or {})
            deltas = [{"toolUse": {"input": p}} for p in _pieces(raw)]
        elif "reasoningContent" in block:
            reasoning = block["reasoningContent"]
            if "redactedContent" in reasoning:
                deltas = [{"reasoningContent": {"redactedContent": reasoning["redactedContent"]}}]
            else:
                text = reasoning.get("reasoningText") or {}
                deltas = [{"reasoningContent": {"text": p}} for p in _pieces(text.get("text", ""))]
                if "signature" in text:
                    deltas.append({"reasoningContent": {"signature": text["signature"]}})
        events.extend(
            ("contentBlockDelta", {"contentBlockIndex": index, "delta": d}) for d in deltas
        )
        events.append(("contentBlockStop", {"contentBlockIndex": index}))
    stop: dict[str, Any] = {"stopReason": body.get("stopReason")}
    if body.get("additionalModelResponseFields") is not None:
        stop["additionalModelResponseFields"] = body["additionalModelResponseFields"]
    events.append(("messageStop", stop))
    metrics = body.get("metrics") or {"latencyMs": 0}
    metadata = {"usage": body.get("usage") or {}, "metrics": metrics}
    events.append(("metadata", metadata))
    return events


def stream_frames(operation: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """A recorded buffered body as the frames of its streamed operation."""
    if operation == "InvokeModelWithResponseStream":
        return [
            {
                "event": "chunk",
                "payload": {"bytes": base64.b64encode(json.dumps(e).encode()).decode()},
            }
            for e in anthropic_events(body)
        ]
    return [{"event": name, "payload": member} for name, member in converse_events(body)]


def encode(frame: dict[str, Any]) -> bytes:
    """One frame of a recorded stream as event-stream bytes."""
    payload = json.dumps(frame.get("payload") or {}).encode("utf-8")
    if "exception" in frame:
        headers = {
            ":exception-type": frame["exception"],
            ":message-type": "exception",
            ":content-type": "application/json",
        }
    else:
        headers = {
            ":event-type": frame["event"],
            ":message-type": "event",
            ":content-type": "application/json",
        }
    return encode_message(headers, payload)


class FrameStream:
    """The raw HTTP body botocore reads an event stream from (``stream()`` and ``close()``).

    Frames go out one at a time; ``{"sleep": s}`` entries and ``latency`` (seconds before
    each frame) pace them like a model writing.
    """

    def __init__(self, frames: list[dict[str, Any]], *, latency: float = 0.0) -> None:
        self.frames = [f for f in frames if "sleep" not in f]
        self._script = frames
        self._latency = latency
        self.closed = False
        self.sent_at: list[float] = []  # time.monotonic() when each frame went to the reader

    @property
    def sent(self) -> int:
        """Frames handed to the reader so far."""
        return len(self.sent_at)

    def stream(self, amt: int | None = None, decode_content: bool = False) -> Iterator[bytes]:
        for frame in self._script:
            if self.closed:
                return
            if "sleep" in frame:
                until = time.monotonic() + float(frame["sleep"])
                while not self.closed and time.monotonic() < until:
                    time.sleep(min(0.1, max(0.0, until - time.monotonic())))
                continue
            if self._latency:
                time.sleep(self._latency)
            self.sent_at.append(time.monotonic())
            yield encode(frame)

    def close(self) -> None:
        self.closed = True

    def release_conn(self) -> None:
        self.closed = True
