"""Read a model's streamed reply: forward its deltas, and rebuild the reply the buffered API
would have returned.

Bedrock streams the two wire formats differently:

* ``InvokeModelWithResponseStream`` (the ``messages`` loop): each ``chunk`` event carries
  one Anthropic Messages stream event as JSON bytes: ``message_start``,
  ``content_block_start`` / ``_delta`` (``text_delta``, ``input_json_delta``,
  ``thinking_delta``, ``signature_delta``, ``citations_delta``) / ``_stop``,
  ``message_delta`` (stop reason, output usage), ``message_stop``.
* ``ConverseStream`` (the ``converse`` loop, and Strands): ``messageStart``,
  ``contentBlockStart`` (tool use), ``contentBlockDelta`` (``text``, ``toolUse.input``,
  ``reasoningContent`` text / signature / redacted bytes), ``contentBlockStop``,
  ``messageStop``, ``metadata`` (usage). A text block has no start event.

The readers rebuild exactly the body ``InvokeModel`` / ``Converse`` returns, so the loops
read a streamed reply with the same code as a buffered one, and the history (thinking
blocks and their signatures included) is the same either way. Modelled stream exceptions
are raised by botocore while iterating (``EventStreamError``, a ``ClientError``):
:func:`anthropic_events` translates them like any model error; for ``ConverseStream`` the
caller does.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from code_exec.exceptions import ModelError
from code_exec.loops.common import ANTHROPIC_USAGE, CONVERSE_USAGE, model_error, model_usage
from code_exec.loops.events import (
    LoopEvent,
    ModelCallDone,
    TextDelta,
    ThinkingDelta,
    ToolInputDelta,
    ToolUseStart,
    TurnStream,
)

__all__ = [
    "AnthropicReader",
    "ConverseReader",
    "anthropic_events",
    "read_anthropic",
    "read_converse",
]

_TOOL_BLOCKS = ("tool_use", "server_tool_use")


def anthropic_events(
    client: Any, model_id: str, body: dict[str, Any]
) -> Generator[dict[str, Any], None, None]:
    """The Anthropic stream events of one ``InvokeModelWithResponseStream`` call, as they
    arrive. Closing the generator (a turn interrupted, a client gone) closes the connection.

    Raises:
        ModelError: (and its subclasses) Bedrock refused the call or failed mid-stream
            (:func:`~code_exec.loops.common.model_error`, raised ``from`` botocore's error).
    """
    try:
        raw = client.invoke_model_with_response_stream(
            modelId=model_id,
            body=json.dumps(body).encode("utf-8"),
            contentType="application/json",
            accept="application/json",
        )
    except (ClientError, BotoCoreError) as e:
        raise model_error(e, model_id) from e
    events = raw["body"]
    try:
        for item in events:  # a modelled stream exception is raised here (a ClientError)
            if "chunk" in item:
                yield dict(json.loads(item["chunk"]["bytes"]))
    except (ClientError, BotoCoreError) as e:
        raise model_error(e, model_id) from e
    finally:
        events.close()


def read_anthropic(
    events: Iterable[Mapping[str, Any]], stream: TurnStream, model_id: str
) -> dict[str, Any]:
    """The InvokeModel body rebuilt from the Anthropic stream events ``events``
    (:func:`anthropic_events`).

    Raises:
        TurnInterrupted: the stream asked the turn to stop (checked before each event).
        ModelError: the stream carried an Anthropic ``error`` event.
    """
    reader = AnthropicReader(model_id, stream)
    for event in events:
        stream.check()
        reader.feed(event)
    _check_ended(reader.ended, stream, model_id)
    return reader.body()


class AnthropicReader:
    """Feeds on Anthropic Messages stream events (what each ``InvokeModelWithResponseStream``
    chunk carries) one at a time; :meth:`body` is the InvokeModel body they add up to.

    With a :class:`TurnStream`, deltas and the end of the call are reported to it as loop
    events; without one it only rebuilds (``/v1/messages`` forwards the events itself).
    """

    def __init__(self, model_id: str, stream: TurnStream | None = None) -> None:
        self._model_id = model_id
        self._stream = stream
        self._message: dict[str, Any] = {}
        self.usage: dict[str, Any] = {}
        self._blocks: dict[int, dict[str, Any]] = {}
        self._inputs: dict[int, list[str]] = {}
        self.ended = False

    def feed(self, event: Mapping[str, Any]) -> None:
        """One stream event (an unknown one is ignored).

        Raises:
            ModelError: an ``error`` event.
        """
        kind = event.get("type")
        if kind == "message_start":
            self._message = dict(event.get("message") or {})
            self.usage = dict(self._message.get("usage") or {})
        elif kind == "content_block_start":
            index, block = int(event["index"]), dict(event["content_block"])
            self._blocks[index] = block
            if block.get("type") in _TOOL_BLOCKS:
                self._inputs[index] = []
                self._emit(ToolUseStart(block["id"], block["name"]))
        elif kind == "content_block_delta":
            self._delta(int(event["index"]), event["delta"])
        elif kind == "content_block_stop":
            index = int(event["index"])
            if index in self._inputs:
                self._blocks[index]["input"] = json.loads("".join(self._inputs.pop(index)) or "{}")
        elif kind == "message_delta":
            self._message.update(event.get("delta") or {})
            self.usage.update(event.get("usage") or {})
        elif kind == "message_stop":
            self.ended = True
            usage = model_usage(self.usage, self._model_id, ANTHROPIC_USAGE)
            self._emit(ModelCallDone(self._message.get("stop_reason"), usage))
        elif kind == "error":
            error = event.get("error") or {}
            raise ModelError(f"the model stream of {self._model_id} failed ({error.get('type')})")

    def block(self, index: int) -> dict[str, Any]:
        """The block at ``index`` as rebuilt so far (whole once its ``content_block_stop``
        was fed)."""
        return self._blocks[index]

    def body(self) -> dict[str, Any]:
        """The InvokeModel body: every block started so far, in order."""
        content = [self._blocks[i] for i in sorted(self._blocks)]
        return {**self._message, "content": content, "usage": self.usage}

    def _emit(self, event: LoopEvent) -> None:
        if self._stream is not None:
            self._stream.emit(event)

    def _delta(self, index: int, delta: Mapping[str, Any]) -> None:
        block = self._blocks[index]
        kind = delta.get("type")
        if kind == "text_delta":
            block["text"] = block.get("text", "") + delta["text"]
            self._emit(TextDelta(delta["text"]))
        elif kind == "input_json_delta":
            self._inputs[index].append(delta["partial_json"])
            self._emit(ToolInputDelta(block["id"], delta["partial_json"]))
        elif kind == "thinking_delta":
            block["thinking"] = block.get("thinking", "") + delta["thinking"]
            self._emit(ThinkingDelta(delta["thinking"]))
        elif kind == "signature_delta":
            block["signature"] = block.get("signature", "") + delta["signature"]
        elif kind == "citations_delta":
            block.setdefault("citations", []).append(delta["citation"])


def _check_ended(ended: bool, stream: TurnStream, model_id: str) -> None:
    """A stream cut before its last event is not a reply (unless the turn was stopped)."""
    if not ended:
        stream.check()
        raise ModelError(f"the model stream of {model_id} ended before the reply was complete")


class ConverseReader:
    """Feeds on ``ConverseStream`` events one at a time; :meth:`response` is the Converse
    response they add up to. Used by the ``converse`` loop, and by the ``strands`` loop for
    the events only (Strands builds its own message from the same stream)."""

    def __init__(self, stream: TurnStream, model_id: str) -> None:
        self._stream = stream
        self._model_id = model_id
        self._blocks: dict[int, dict[str, Any]] = {}
        self._inputs: dict[int, list[str]] = {}
        self._role = "assistant"
        self._stop: dict[str, Any] = {}
        self._ended = False
        self._metadata: dict[str, Any] = {}

    def feed(self, event: Mapping[str, Any]) -> None:
        """One event of the stream (an unknown event is ignored)."""
        if "messageStart" in event:
            self._role = event["messageStart"].get("role", "assistant")
        elif "contentBlockStart" in event:
            start = event["contentBlockStart"]
            tool = (start.get("start") or {}).get("toolUse")
            if tool is not None:
                index = int(start["contentBlockIndex"])
                self._blocks[index] = {"toolUse": dict(tool)}
                self._inputs[index] = []
                self._stream.emit(ToolUseStart(tool["toolUseId"], tool["name"]))
        elif "contentBlockDelta" in event:
            delta = event["contentBlockDelta"]
            self._delta(int(delta["contentBlockIndex"]), delta["delta"])
        elif "contentBlockStop" in event:
            index = int(event["contentBlockStop"]["contentBlockIndex"])
            if index in self._inputs:
                text = "".join(self._inputs.pop(index))
                self._blocks[index]["toolUse"]["input"] = json.loads(text or "{}")
        elif "messageStop" in event:
            self._stop = dict(event["messageStop"])
            self._ended = True
        elif "metadata" in event:
            self._metadata = dict(event["metadata"])
            usage = model_usage(self._metadata.get("usage") or {}, self._model_id, CONVERSE_USAGE)
            self._stream.emit(ModelCallDone(self._stop.get("stopReason"), usage))

    def _delta(self, index: int, delta: Mapping[str, Any]) -> None:
        if "text" in delta:
            block = self._blocks.setdefault(index, {"text": ""})
            block["text"] += delta["text"]
            self._stream.emit(TextDelta(delta["text"]))
        elif "toolUse" in delta:
            piece = delta["toolUse"].get("input", "")
            self._inputs[index].append(piece)
            tool_id = self._blocks[index]["toolUse"]["toolUseId"]
            self._stream.emit(ToolInputDelta(tool_id, piece))
        elif "reasoningContent" in delta:
            part = delta["reasoningContent"]
            content = self._blocks.setdefault(index, {"reasoningContent": {}})["reasoningContent"]
            if "redactedContent" in part:
                content["redactedContent"] = content.get("redactedContent", b"") + bytes(
                    part["redactedContent"]
                )
            else:
                text = content.setdefault("reasoningText", {"text": ""})
                if "text" in part:
                    text["text"] += part["text"]
                    self._stream.emit(ThinkingDelta(part["text"]))
                if "signature" in part:
                    text["signature"] = text.get("signature", "") + part["signature"]

    @property
    def ended(self) -> bool:
        """The stream's ``messageStop`` arrived."""
        return self._ended

    def response(self) -> dict[str, Any]:
        """The Converse response the events added up to."""
        content = [self._blocks[i] for i in sorted(self._blocks)]
        response: dict[str, Any] = {
            "output": {"message": {"role": self._role, "content": content}},
            "stopReason": self._stop.get("stopReason"),
            "usage": self._metadata.get("usage") or {},
            "metrics": self._metadata.get("metrics") or {},
        }
        if self._stop.get("additionalModelResponseFields") is not None:
            response["additionalModelResponseFields"] = self._stop["additionalModelResponseFields"]
        return response


def read_converse(
    events: Iterable[Mapping[str, Any]], stream: TurnStream, model_id: str
) -> dict[str, Any]:
    """The Converse response rebuilt from a ``ConverseStream`` output's ``stream``.

    Raises:
        TurnInterrupted: the stream asked the turn to stop (checked before each event).
    """
    reader = ConverseReader(stream, model_id)
    for event in events:
        stream.check()
        reader.feed(event)
    _check_ended(reader.ended, stream, model_id)
    return reader.response()
