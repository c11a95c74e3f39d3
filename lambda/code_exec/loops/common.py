"""What every agent loop shares: its input and output, the turn budget, model errors.

A loop is a few small functions, one per phase: call the model, run the tools the
model asked for, decide whether to continue. The phases that do not depend on the
wire format live here: :func:`run_loop` drives them, and a loop gives it only its
wire-format phases (call the model and read its :class:`Reply`; write the tool results).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from code_exec.exceptions import (
    CodeExecError,
    ModelAccessDeniedError,
    ModelError,
    ModelOverloadedError,
    ModelThrottledError,
    ModelValidationError,
)
from code_exec.loops.events import INTERRUPTED, TurnInterrupted, TurnStream
from code_exec.models import Limits, ModelUsage

__all__ = [
    "ANTHROPIC_USAGE",
    "CONVERSE_USAGE",
    "Budget",
    "LoopInput",
    "LoopOutput",
    "Reply",
    "StopReason",
    "ToolCall",
    "ToolOutcome",
    "ToolSpec",
    "Tools",
    "decide",
    "final_text",
    "finish",
    "model_error",
    "model_usage",
    "run_loop",
    "run_tools",
    "with_prompt",
]

logger = logging.getLogger(__name__)


class StopReason:
    """Stop reasons every loop reports (the model's own reasons pass through as they are)."""

    END_TURN = "end_turn"
    MAX_TURNS = "max_turns"
    MAX_TOKENS = "max_tokens"
    WALL_TIME = "wall_time"
    INTERRUPTED = INTERRUPTED  # a streamed turn asked to stop (client gone, deadline near)


@dataclass(frozen=True)
class ToolSpec:
    """One tool as the model sees it."""

    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True)
class ToolOutcome:
    """What a tool call returns to the model."""

    text: str
    is_error: bool = False


class Tools(Protocol):
    """The model's tools for one turn: their specs and a way to run one call."""

    @property
    def specs(self) -> list[ToolSpec]: ...

    def run(self, name: str, tool_input: dict[str, Any]) -> ToolOutcome: ...


@dataclass
class LoopInput:
    """Everything a loop needs for one agent turn."""

    prompt: str
    model_id: str
    system: str
    tools: Tools
    limits: Limits = field(default_factory=Limits)
    prompt_caching: bool = True
    history: list[dict[str, Any]] = field(default_factory=list)  # loop-native messages
    thinking: dict[str, Any] | None = None  # Claude's ``thinking`` object; None: send none
    clock: Callable[[], float] = time.monotonic
    stream: TurnStream | None = None  # set: stream the model's replies and report progress


@dataclass
class LoopOutput:
    """What a loop hands back; ``agent.py`` turns it into an ``AgentResult``."""

    text: str
    stop_reason: str
    usage: list[ModelUsage]
    history: list[dict[str, Any]]


class Budget:
    """Counts model calls and wall time against the request's limits."""

    def __init__(self, limits: Limits, clock: Callable[[], float]) -> None:
        self._limits = limits
        self._clock = clock
        self._start = clock()
        self.model_calls = 0

    def before_model_call(self) -> str | None:
        """The stop reason if no further model call may start, else None."""
        if self.out_of_time():
            return StopReason.WALL_TIME
        if self.model_calls >= self._limits.max_turns:
            return StopReason.MAX_TURNS
        return None

    def out_of_time(self) -> bool:
        """True once the turn has used its wall time."""
        return self._clock() - self._start >= self._limits.wall_time_seconds

    def count_call(self) -> None:
        self.model_calls += 1

    @property
    def elapsed_ms(self) -> float:
        return (self._clock() - self._start) * 1000.0


_THROTTLING = {"ThrottlingException", "TooManyRequestsException", "ServiceQuotaExceededException"}
_ACCESS = {"AccessDeniedException", "UnrecognizedClientException"}
_UNAVAILABLE = {
    "ServiceUnavailableException",
    "ModelNotReadyException",
    "ModelTimeoutException",
    "InternalServerException",
    "ModelStreamErrorException",  # a stream Bedrock broke mid-way: "retry your request"
}


def model_error(err: ClientError | BotoCoreError, model_id: str) -> CodeExecError:
    """Translate a botocore error from a model call into our hierarchy (raise it ``from err``).

    The message names the Bedrock error code but never echoes the service's text,
    which can carry account details.
    """
    if isinstance(err, ClientError):
        code = str(err.response.get("Error", {}).get("Code", "Unknown"))
        # A modelled exception inside an event stream is named by its member:
        # ``throttlingException`` for the ``ThrottlingException`` a buffered call answers.
        code = code[:1].upper() + code[1:]
        logger.warning("model call failed: model=%s code=%s", model_id, code)
        if code in _THROTTLING:
            return ModelThrottledError(f"Bedrock throttled the call to {model_id}; retry later")
        if code in _ACCESS:
            return ModelAccessDeniedError(f"not allowed to invoke {model_id} ({code})")
        if code == "ValidationException":
            return ModelValidationError(
                f"Bedrock rejected the request to {model_id} (ValidationException)"
            )
        if code in _UNAVAILABLE:
            return ModelOverloadedError(f"{model_id} is not available right now ({code})")
        return ModelError(f"the call to {model_id} failed ({code})")
    # no answer (read timeout, connection reset): transient, 503 + Retry-After (the contract)
    logger.warning("model call failed: model=%s error=%s", model_id, type(err).__name__)
    return ModelOverloadedError(f"the call to {model_id} failed ({type(err).__name__})")


# --- the loop and its wire-independent phases --------------------------------------------


@dataclass(frozen=True)
class ToolCall:
    """One tool call the model asked for, whatever the wire format."""

    id: str
    name: str
    input: dict[str, Any]


@dataclass(frozen=True)
class Reply:
    """One model response, read by the loop's wire format."""

    message: dict[str, Any]  # the assistant message, appended to the history as it is
    stop_reason: str | None
    usage: ModelUsage
    tool_calls: list[ToolCall]


def run_loop(
    inp: LoopInput,
    messages: list[dict[str, Any]],
    *,
    call_model: Callable[[list[dict[str, Any]]], Reply],
    tool_results: Callable[[list[ToolCall], list[ToolOutcome]], dict[str, Any]],
    block_text: Callable[[dict[str, Any]], str],
    name: str,
) -> LoopOutput:
    """Call the model, run the tools it asked for and decide, until the turn stops.

    Args:
        inp: The turn's input (tools, limits, clock).
        messages: The history with the new prompt; the turn's messages are appended.
        call_model: Sends ``messages`` to the model and reads its reply (streamed when
            ``inp.stream`` is set; it raises ``TurnInterrupted`` when asked to stop).
        tool_results: The user message carrying one result per tool call.
        block_text: The text of one assistant content block ("" for other blocks).
        name: The loop's name, for the log.
    """
    budget = Budget(inp.limits, inp.clock)
    usage: list[ModelUsage] = []
    while True:
        stop = budget.before_model_call()
        if stop:
            break
        if inp.stream is not None and inp.stream.stopped:
            stop = StopReason.INTERRUPTED
            break
        try:
            reply = call_model(messages)
        except TurnInterrupted:  # a reply cut mid-stream is dropped: the history stays valid
            stop = StopReason.INTERRUPTED
            break
        budget.count_call()
        usage.append(reply.usage)
        messages.append(reply.message)
        if reply.tool_calls:
            truncated = reply.stop_reason == "max_tokens"
            outcomes = run_tools(inp.tools, reply.tool_calls, truncated=truncated)
            messages.append(tool_results(reply.tool_calls, outcomes))
        stop = decide(reply.stop_reason, reply.tool_calls)
        if stop:
            break
    return finish(name, messages, stop, usage, block_text)


_NOT_RUN = ToolOutcome("Not run: the response was cut off at max_tokens.", is_error=True)


def run_tools(tools: Tools, calls: Sequence[ToolCall], *, truncated: bool) -> list[ToolOutcome]:
    """One outcome per call, in order; none runs when the response was cut off."""
    if truncated:
        return [_NOT_RUN for _ in calls]
    return [tools.run(call.name, call.input) for call in calls]


def decide(stop_reason: str | None, tool_calls: Sequence[ToolCall]) -> str | None:
    """None to call the model again, else the stop reason of the turn."""
    if stop_reason == "tool_use" and tool_calls:
        return None
    if stop_reason == "max_tokens":
        return StopReason.MAX_TOKENS
    return stop_reason or StopReason.END_TURN


def finish(
    name: str,
    messages: list[dict[str, Any]],
    stop: str,
    usage: list[ModelUsage],
    block_text: Callable[[dict[str, Any]], str],
) -> LoopOutput:
    """The loop's output: the last assistant text, the stop reason, usage and history."""
    logger.info("%s loop stopped: reason=%s model_calls=%d", name, stop, len(usage))
    text = final_text(messages, block_text)
    return LoopOutput(text=text, stop_reason=stop, usage=usage, history=messages)


def final_text(messages: list[dict[str, Any]], block_text: Callable[[dict[str, Any]], str]) -> str:
    """The text of the last assistant message ("" when there is none)."""
    for m in reversed(messages):
        if m["role"] == "assistant":
            return "".join(block_text(b) for b in m["content"])
    return ""


def with_prompt(
    history: list[dict[str, Any]], prompt: str, text_block: Callable[[str], dict[str, Any]]
) -> list[dict[str, Any]]:
    """History plus the new user prompt; merged into a trailing user message (tool results)."""
    messages = [dict(m) for m in history]
    if messages and messages[-1]["role"] == "user":
        content = messages[-1]["content"]
        if isinstance(content, str):
            content = [text_block(content)]
        messages[-1] = {"role": "user", "content": [*content, text_block(prompt)]}
    else:
        messages.append({"role": "user", "content": [text_block(prompt)]})
    return messages


# The usage fields of each wire format: input, output, cache read, cache write.
CONVERSE_USAGE = ("inputTokens", "outputTokens", "cacheReadInputTokens", "cacheWriteInputTokens")
ANTHROPIC_USAGE = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


def model_usage(usage: dict[str, Any], model_id: str, keys: tuple[str, ...]) -> ModelUsage:
    """One model call's token counts, read from a usage dict with the given field names.

    Thinking tokens are read from Anthropic's ``output_tokens_details.thinking_tokens``
    (part of ``output_tokens``) when the response has it; Converse's usage has no such field.
    """
    inp, out, read, write = (int(usage.get(k) or 0) for k in keys)
    details = usage.get("output_tokens_details")
    thinking = details.get("thinking_tokens") if isinstance(details, dict) else None
    return ModelUsage(
        model_id=model_id,
        input_tokens=inp,
        output_tokens=out,
        cache_read_input_tokens=read,
        cache_write_input_tokens=write,
        thinking_tokens=None if thinking is None else int(thinking),
    )
