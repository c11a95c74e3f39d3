"""What a streamed turn reports while it runs: one event vocabulary for every loop.

A turn is streamed when its :class:`~code_exec.loops.common.LoopInput` carries a
:class:`TurnStream`. Every loop then calls the model's streaming API (``messages``:
``InvokeModelWithResponseStream``; ``converse``: ``ConverseStream``; ``strands``:
``BedrockModel(streaming=True)``) and forwards deltas as they arrive; the tools report code
runs and tool calls. Nothing downstream asks which loop produced an event.

The stream is also how a turn learns it must stop early (:attr:`TurnStream.cancel`: the
client went away, or the function's deadline is near). Loops check it at safe points: between
model-stream events, before a model call, before a tool runs. A turn stopped there ends with
:data:`INTERRUPTED` and a history that can be continued (a reply cut mid-stream is dropped;
tool calls that did not run get error results saying so).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from code_exec.models import CodeRun, ModelUsage

__all__ = [
    "INTERRUPTED",
    "CodeRunDone",
    "CodeRunStart",
    "LoopEvent",
    "ModelCallDone",
    "TextDelta",
    "ThinkingDelta",
    "ToolCallDone",
    "ToolCallStart",
    "ToolInputDelta",
    "ToolUseStart",
    "TurnInterrupted",
    "TurnStream",
]

INTERRUPTED = "interrupted"  # the stop reason of a turn stopped early by its stream


class TurnInterrupted(Exception):
    """Raised at a safe point once the stream asks the turn to stop."""


@dataclass(frozen=True)
class _Event:
    kind: ClassVar[str]

    def wire(self) -> dict[str, Any]:
        """The event's fields as JSON-ready data."""
        return asdict(self)


@dataclass(frozen=True)
class TextDelta(_Event):
    """Model text, as it is written."""

    kind: ClassVar[str] = "text"
    text: str


@dataclass(frozen=True)
class ThinkingDelta(_Event):
    """The model's readable thinking, as it is written (signatures and redacted thinking
    are kept in the history but not streamed)."""

    kind: ClassVar[str] = "thinking"
    thinking: str


@dataclass(frozen=True)
class ToolUseStart(_Event):
    """The model starts writing a tool call."""

    kind: ClassVar[str] = "tool_use"
    id: str
    name: str


@dataclass(frozen=True)
class ToolInputDelta(_Event):
    """A piece of the JSON input of the tool call being written."""

    kind: ClassVar[str] = "tool_input"
    id: str
    partial_json: str


@dataclass(frozen=True)
class ModelCallDone(_Event):
    """One model call finished: its stop reason and token usage."""

    kind: ClassVar[str] = "model_call"
    stop_reason: str | None
    usage: ModelUsage

    def wire(self) -> dict[str, Any]:
        return {"stop_reason": self.stop_reason, "usage": self.usage.model_dump()}


@dataclass(frozen=True)
class CodeRunStart(_Event):
    """A cell starts in the sandbox."""

    kind: ClassVar[str] = "code_start"
    code: str


@dataclass(frozen=True)
class CodeRunDone(_Event):
    """A cell finished: what it printed, its exit code, whether it failed."""

    kind: ClassVar[str] = "code_end"
    run: CodeRun

    def wire(self) -> dict[str, Any]:
        return {"code_run": self.run.model_dump()}


@dataclass(frozen=True)
class ToolCallStart(_Event):
    """A tool runs (direct mode: the orchestrator calls a registered tool)."""

    kind: ClassVar[str] = "tool_call"
    name: str
    input: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolCallDone(_Event):
    """A tool returned; ``output`` is what goes back to the model."""

    kind: ClassVar[str] = "tool_result"
    name: str
    is_error: bool
    output: str


LoopEvent = (
    TextDelta
    | ThinkingDelta
    | ToolUseStart
    | ToolInputDelta
    | ModelCallDone
    | CodeRunStart
    | CodeRunDone
    | ToolCallStart
    | ToolCallDone
)


class TurnStream:
    """Where a streamed turn sends its events, and how it is asked to stop.

    Args:
        emit: called with each event, from the thread running the turn (or a model-stream
            worker thread): it must be thread-safe and must not block for long.
        cancel: set by the caller to stop the turn at its next safe point.
        deadline: monotonic time by which a running cell must be cut off (None: no limit).
    """

    def __init__(
        self,
        emit: Callable[[LoopEvent], None],
        *,
        cancel: threading.Event | None = None,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._emit = emit
        self.cancel = cancel if cancel is not None else threading.Event()
        self.deadline = deadline
        self._clock = clock

    def emit(self, event: LoopEvent) -> None:
        self._emit(event)

    @property
    def stopped(self) -> bool:
        return self.cancel.is_set()

    def check(self) -> None:
        """A safe point: raise :class:`TurnInterrupted` once the turn must stop."""
        if self.cancel.is_set():
            raise TurnInterrupted("the turn was asked to stop")

    def seconds_left(self) -> float | None:
        """Seconds until the deadline (None: no deadline)."""
        return None if self.deadline is None else max(0.0, self.deadline - self._clock())
