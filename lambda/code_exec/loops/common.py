"""What every agent loop shares: its input and output, the turn budget, model errors.

A loop is a few small functions, one per phase: call the model, run the tools the
model asked for, decide whether to continue. The phases that do not depend on the
wire format live here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from code_exec.exceptions import (
    CodeExecError,
    ModelAccessDeniedError,
    ModelError,
    ModelThrottledError,
)
from code_exec.models import Limits, ModelUsage

__all__ = [
    "Budget",
    "LoopInput",
    "LoopOutput",
    "StopReason",
    "ToolOutcome",
    "ToolSpec",
    "Tools",
    "model_error",
]

logger = logging.getLogger(__name__)


class StopReason:
    """Stop reasons every loop reports (the model's own reasons pass through as they are)."""

    END_TURN = "end_turn"
    MAX_TURNS = "max_turns"
    MAX_TOKENS = "max_tokens"
    WALL_TIME = "wall_time"


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
    clock: Callable[[], float] = time.monotonic


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


def model_error(err: ClientError | BotoCoreError, model_id: str) -> CodeExecError:
    """Translate a botocore error from a model call into our hierarchy (raise it ``from err``).

    The message names the Bedrock error code but never echoes the service's text,
    which can carry account details.
    """
    if isinstance(err, ClientError):
        code = err.response.get("Error", {}).get("Code", "Unknown")
        logger.warning("model call failed: model=%s code=%s", model_id, code)
        if code in _THROTTLING:
            return ModelThrottledError(f"Bedrock throttled the call to {model_id}; retry later")
        if code in _ACCESS:
            return ModelAccessDeniedError(f"not allowed to invoke {model_id} ({code})")
        if code == "ValidationException":
            return ModelError(f"Bedrock rejected the request to {model_id} (ValidationException)")
        return ModelError(f"the call to {model_id} failed ({code})")
    logger.warning("model call failed: model=%s error=%s", model_id, type(err).__name__)
    return ModelError(f"the call to {model_id} failed ({type(err).__name__})")
