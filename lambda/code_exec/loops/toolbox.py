"""The model's tools for one turn, in either mode.

* :class:`CodeTool` (PTC mode): one ``execute_code`` tool. Each call runs a cell in the
  session's sandbox through ``SandboxClient.run_cell`` (top-level ``await``, persistent
  globals). Only stdout/stderr go back to the model, truncated to a limit with a note.
  Every run is recorded as a :class:`~code_exec.models.CodeRun`.
* :class:`DirectTools` (direct mode): each registered tool is a model tool, run by the
  orchestrator in-process, one call per tool-use block.

A failing cell or tool is an error *result* for the model; only errors that end the
turn (the session is gone, the sandbox refuses service) are raised.

In a streamed turn (``stream`` given) each run is reported as it starts and ends
(:mod:`code_exec.loops.events`), a call made after the stream asked the turn to stop is not
run (an error result says so), and a cell is cut off at the stream's deadline.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from code_exec import deadline
from code_exec.exceptions import SandboxTimeoutError
from code_exec.loops.common import ToolOutcome, ToolSpec
from code_exec.loops.events import (
    CodeRunDone,
    CodeRunStart,
    LoopEvent,
    ToolCallDone,
    ToolCallStart,
    TurnStream,
)
from code_exec.models import CodeRun
from code_exec.sandbox import ExecutionResult

__all__ = [
    "EXECUTE_CODE",
    "CellExecutor",
    "CodeTool",
    "DirectTools",
    "format_output",
    "truncate",
]

logger = logging.getLogger(__name__)

EXECUTE_CODE = "execute_code"
DEFAULT_OUTPUT_LIMIT = 20_000  # characters of stdout+stderr returned to the model per call
_STOPPED = ToolOutcome("Not run: the turn was stopped before this call could run.", True)

_EXECUTE_CODE_DESCRIPTION = (
    "Run Python code in the session's persistent sandbox and return what it printed "
    "(stdout, then stderr). Variables, imports and files persist between calls. "
    "Top-level await is allowed. The functions listed in the system prompt are "
    "available in the sandbox; call them from the code. Print only compact results."
)
_EXECUTE_CODE_SCHEMA = {
    "type": "object",
    "properties": {"code": {"type": "string", "description": "Python source to run."}},
    "required": ["code"],
}


def truncate(text: str, limit: int) -> str:
    """``text`` cut to about ``limit`` characters (head and tail kept) with a note."""
    if len(text) <= limit:
        return text
    head = text[: limit * 3 // 4]
    tail = text[-(limit // 4) :]
    omitted = len(text) - len(head) - len(tail)
    note = (
        f"\n[... {omitted:,} characters of output omitted; print less, "
        "e.g. aggregates or the first rows ...]\n"
    )
    return head + note + tail


def format_output(stdout: str, stderr: str, limit: int) -> str:
    """What the model sees of a run: stdout, then stderr, within ``limit`` characters."""
    parts = []
    if stdout:
        parts.append(stdout)
    if stderr:
        parts.append(("stderr:\n" if stdout else "") + stderr)
    return truncate("\n".join(parts), limit)


class CellExecutor(Protocol):
    """Runs one model cell (``ptc.PtcExecutor``: the kernel, or the bridged runner)."""

    def run_cell(self, code: str, *, timeout_seconds: float | None = None) -> ExecutionResult: ...


class CodeTool:
    """PTC mode: ``execute_code``; cells run through ``executor`` in the session's sandbox."""

    def __init__(
        self,
        executor: CellExecutor,
        *,
        output_limit: int = DEFAULT_OUTPUT_LIMIT,
        cell_timeout_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        stream: TurnStream | None = None,
    ) -> None:
        self._executor = executor
        self._limit = output_limit
        self._cell_timeout = cell_timeout_seconds
        self._clock = clock
        self._stream = stream
        self.code_runs: list[CodeRun] = []

    @property
    def specs(self) -> list[ToolSpec]:
        return [ToolSpec(EXECUTE_CODE, _EXECUTE_CODE_DESCRIPTION, _EXECUTE_CODE_SCHEMA)]

    def run(self, name: str, tool_input: dict[str, Any]) -> ToolOutcome:
        if name != EXECUTE_CODE:
            return ToolOutcome(f"Unknown tool {name!r}: the only tool is {EXECUTE_CODE}.", True)
        code = tool_input.get("code")
        if not isinstance(code, str) or not code.strip():
            return ToolOutcome("execute_code needs a non-empty string `code`.", True)
        timeout = _timeout(self._cell_timeout, self._stream)
        if timeout is not None and timeout <= 0:
            return _STOPPED
        _emit(self._stream, CodeRunStart(code))
        start = self._clock()
        try:
            result = self._executor.run_cell(code, timeout_seconds=timeout)
        except SandboxTimeoutError as e:
            ms = (self._clock() - start) * 1000.0
            self._record(CodeRun(code=code, stderr=str(e), is_error=True, duration_ms=ms))
            return ToolOutcome(f"The cell timed out: {e}", True)
        ms = (self._clock() - start) * 1000.0  # our clock: executionTime's unit is undocumented
        failed = not result.ok
        stdout = result.stdout or ("" if result.stderr else result.text)
        self._record(
            CodeRun(
                code=code,
                stdout=stdout,
                stderr=result.stderr,
                exit_code=result.exit_code,
                is_error=failed,
                duration_ms=ms,
            )
        )
        logger.info("cell ran: chars=%d error=%s ms=%.0f", len(code), failed, ms)
        return ToolOutcome(format_output(stdout, result.stderr, self._limit), failed)

    def _record(self, run: CodeRun) -> None:
        self.code_runs.append(run)
        _emit(self._stream, CodeRunDone(run))


class DirectTools:
    """Direct mode: registered tools called one at a time by the orchestrator.

    ``tools`` are ``ptc.Tool`` objects (``name``, ``description``, ``parameters``: the
    JSON schema, ``runner``: what runs a call); async tool functions are awaited. A tool's
    return value is passed to the model as is when it is a string, else as JSON.
    """

    def __init__(
        self,
        tools: Sequence[Any],
        *,
        output_limit: int = 200_000,
        stream: TurnStream | None = None,
    ) -> None:
        self._tools = {t.name: t for t in tools}
        self._limit = output_limit
        self._stream = stream
        self.code_runs: list[CodeRun] = []  # direct mode runs no code
        self.calls = 0

    @property
    def specs(self) -> list[ToolSpec]:
        return [ToolSpec(t.name, t.description, t.parameters) for t in self._tools.values()]

    def run(self, name: str, tool_input: dict[str, Any]) -> ToolOutcome:
        tool = self._tools.get(name)
        if tool is None:
            known = ", ".join(sorted(self._tools))
            return ToolOutcome(f"Unknown tool {name!r}; available: {known}.", True)
        if self._stream is not None and self._stream.stopped:
            return _STOPPED
        self.calls += 1
        _emit(self._stream, ToolCallStart(name, dict(tool_input)))
        outcome = self._call(tool, name, tool_input)
        _emit(self._stream, ToolCallDone(name, outcome.is_error, outcome.text))
        return outcome

    def _call(self, tool: Any, name: str, tool_input: dict[str, Any]) -> ToolOutcome:
        try:
            value = getattr(tool, "runner", tool.fn)(**tool_input)
            if inspect.isawaitable(value):
                value = asyncio.run(_await(value))
        except Exception as e:  # a tool failure is the model's to handle
            logger.info("tool %s failed: %s", name, type(e).__name__)
            return ToolOutcome(f"{type(e).__name__}: {e}", True)
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        return ToolOutcome(truncate(text, self._limit))


async def _await(value: Any) -> Any:
    return await value


def _emit(stream: TurnStream | None, event: LoopEvent) -> None:
    if stream is not None:
        stream.emit(event)


def _timeout(cell_timeout: float | None, stream: TurnStream | None) -> float | None:
    """The cell's time limit: its own, cut to the stream's deadline and to what the request's
    deadline leaves for a cell (:mod:`code_exec.deadline`); 0 once stopped or out of time."""
    limit = cell_timeout
    if stream is not None:
        if stream.stopped:
            return 0.0
        left = stream.seconds_left()
        if left is not None:
            limit = left if limit is None else min(limit, left)
    bound = deadline.current()
    if bound is not None:
        limit = bound.cell_seconds(limit)
        if limit is not None and limit <= 0:
            return 0.0
    return limit
