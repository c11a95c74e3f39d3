"""Running one server tool use in the container's sandbox, into Anthropic's result content.

* ``bash_code_execution`` -> the command, run as a sandbox task
  (:func:`code_exec.sandbox.tasks.run_command`);
* ``text_editor_code_execution`` -> ``sandbox_assets/text_editor.py`` run with ``python3 -c``
  in the sandbox, as a task too (the code's own view of the file system);
* ``code_execution`` -> for 20250522 a kernel cell (``SandboxClient.run_cell``) with the
  request's remaining time as its limit; otherwise a cell of the session's Python runner
  (:class:`~code_exec.anthropic.client_tool_relay.CellRelay`), whose globals persist and whose
  calls to client tools pause it.

Nothing runs past its request: a command is stopped in the sandbox when the request's time
(``budget``) runs out or the request is cancelled (the function's deadline is near, or the
client left), and a kernel cell is interrupted in the sandbox when the budget runs out. The
tool's result is then Anthropic's ``execution_time_exceeded`` error.

Files the code leaves under ``outputs/`` are copied to S3, recorded as downloadable files of
the key's owner and listed as ``file_id`` s in the result's ``content``. Failures of the
sandbox itself become Anthropic's documented error codes, never a failed request: the model
is told, as Anthropic's would be.
"""

from __future__ import annotations

import base64
import json
import logging
import shlex
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from code_exec.anthropic.client_tool_relay import (
    CellProgress,
    CellRelay,
    PendingCall,
    RunnerGoneError,
)
from code_exec.anthropic.history import ServerUse
from code_exec.anthropic.results import editor_error, run_error, run_result
from code_exec.anthropic.tools import BASH, CODE_EXECUTION, EDITOR
from code_exec.exceptions import (
    SandboxError,
    SandboxQuotaExceededError,
    SandboxThrottledError,
    SandboxTimeoutError,
    SandboxValidationError,
    SessionNotFoundError,
)
from code_exec.ptc.assets import asset_path
from code_exec.sandbox import ExecutionResult, SandboxFile
from code_exec.sandbox.tasks import run_command

__all__ = ["Executor", "OutputSink", "Paused", "sandbox_error_code"]

logger = logging.getLogger(__name__)

_INLINE_ARG_LIMIT = 60_000  # bytes of editor request passed on the command line
_MIN_BUDGET = 1.0  # seconds a tool that was allowed to start may run, however late it started
# What the cell runner raises in a kernel cell at its time limit (code_exec/ptc/cell_runner.py).
_CELL_TIMEOUT = "CellTimeoutError: cell exceeded its time limit"


@dataclass
class Paused:
    """A Python cell that has not finished: waiting on client tool calls, or still running."""

    cell: int
    calls: list[PendingCall] = field(default_factory=list)


class OutputSink:
    """Turns files the code left under ``outputs/`` into ``file_id`` s (see ``files_api``)."""

    def __init__(self, collect: Callable[[], list[str]]) -> None:
        self._collect = collect

    def file_ids(self) -> list[str]:
        return self._collect()


def sandbox_error_code(error: SandboxError) -> str:
    """Anthropic's error code for a sandbox failure."""
    if isinstance(error, SandboxTimeoutError):
        return "execution_time_exceeded"
    if isinstance(error, SandboxThrottledError | SandboxQuotaExceededError):
        return "too_many_requests"
    if isinstance(error, SandboxValidationError):
        return "invalid_tool_input"
    return "unavailable"


class Executor:
    """Runs server tool uses in one sandbox session."""

    def __init__(
        self,
        sandbox: Any,
        session_id: str,
        *,
        version: str,
        outputs: OutputSink,
        relay: Callable[[], CellRelay] | None = None,
        cancel: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sandbox, self.session_id = sandbox, session_id
        self.cancel, self.clock = cancel, clock
        self.version = version
        self.outputs = outputs
        self._relay_factory = relay
        self._relay: CellRelay | None = None

    @property
    def relay(self) -> CellRelay:
        if self._relay is None:
            if self._relay_factory is None:
                raise RuntimeError("this executor has no Python runner")
            self._relay = self._relay_factory()
        return self._relay

    def run(self, use: ServerUse, *, budget: float) -> dict[str, Any] | Paused:
        """The result content of ``use``, or :class:`Paused` for a cell that has not finished.

        ``budget``: seconds the tool may run (the request's remaining time).
        """
        budget = max(budget, _MIN_BUDGET)
        try:
            if use.name == BASH:
                return self._bash(use.input, budget=budget)
            if use.name == EDITOR:
                return self._editor(use.input, budget=budget)
            return self._python(use.input, budget=budget)
        except SessionNotFoundError:
            raise  # the container's sandbox is gone: the request fails (404), not the tool
        except SandboxError as e:
            logger.warning("%s failed in %s: %s", use.name, self.session_id, e.message)
            code = sandbox_error_code(e)
            if use.name == EDITOR:
                return editor_error(code, e.message)
            return run_error(use.name, code)

    # --- bash ----------------------------------------------------------------------------

    def _bash(self, tool_input: dict[str, Any], *, budget: float) -> dict[str, Any]:
        command = tool_input.get("command")
        if not isinstance(command, str) or not command.strip():
            return run_error(BASH, "invalid_tool_input")
        return self._finished(BASH, self._command(command, budget))

    def _command(self, command: str, budget: float) -> ExecutionResult:
        """Run ``command`` as a task, stopped at the budget's end or on cancel."""
        return run_command(
            self.sandbox,
            self.session_id,
            command,
            deadline=self.clock() + budget,
            cancel=self.cancel,
            clock=self.clock,
        )

    def _finished(self, name: str, result: ExecutionResult) -> dict[str, Any]:
        code = result.exit_code if result.exit_code is not None else (1 if result.is_error else 0)
        stdout = result.stdout if (result.stdout or result.stderr) else result.text
        return run_result(name, stdout, result.stderr, code, self.outputs.file_ids())

    # --- text editor ---------------------------------------------------------------------

    def _editor(self, tool_input: dict[str, Any], *, budget: float) -> dict[str, Any]:
        payload = json.dumps(tool_input).encode()
        encoded = base64.b64encode(payload).decode()
        if len(encoded) > _INLINE_ARG_LIMIT:
            staged = f".bcx/editor/{uuid.uuid4().hex}.json"
            self.sandbox.write_files(self.session_id, [SandboxFile(staged, payload)])
            arg = "@" + staged
        else:
            arg = encoded
        source = asset_path("text_editor.py").read_text()
        command = f"python3 -c {shlex.quote(source)} {shlex.quote(arg)}"
        result = self._command(command, budget)
        try:
            content = json.loads(result.stdout.strip().splitlines()[-1])["content"]
        except (IndexError, ValueError, KeyError, TypeError):
            logger.warning("text editor failed: %s", (result.stderr or result.text)[-500:])
            return editor_error("unavailable", "the text editor could not run in the container")
        return dict(content)

    # --- python --------------------------------------------------------------------------

    def _python(self, tool_input: dict[str, Any], *, budget: float) -> dict[str, Any] | Paused:
        code = tool_input.get("code")
        if not isinstance(code, str):
            return run_error(CODE_EXECUTION, "invalid_tool_input")
        if self.version == "20250522":
            result = self.sandbox.run_cell(self.session_id, code, timeout_seconds=budget)
            if result.is_error and _CELL_TIMEOUT in result.stderr:
                return run_error(CODE_EXECUTION, "execution_time_exceeded")
            return self._finished(CODE_EXECUTION, result)
        return self._outcome(self.relay.submit(code, budget=budget))

    def resume(
        self,
        cell: int,
        *,
        outcomes: dict[str, dict[str, Any]],
        answered: set[str],
        budget: float,
    ) -> dict[str, Any] | Paused:
        """Deliver results to a paused REPL cell (maybe none) and wait for it again."""
        try:
            progress = self.relay.resume(cell, outcomes=outcomes, answered=answered, budget=budget)
        except RunnerGoneError:
            logger.warning("the Python runner of cell %s is gone", cell)
            return run_error(CODE_EXECUTION, "unavailable")
        except SessionNotFoundError:
            raise  # the container's sandbox is gone: the request fails (404), as in run()
        except SandboxError as e:
            # e.g. a reply the cell rewrote (SandboxReplyError): the tool fails, not the request
            logger.warning("cell %s failed to resume in %s: %s", cell, self.session_id, e.message)
            return run_error(CODE_EXECUTION, sandbox_error_code(e))
        return self._outcome(progress)

    def _outcome(self, progress: CellProgress) -> dict[str, Any] | Paused:
        if progress.result is not None:
            return self._finished(CODE_EXECUTION, progress.result)
        return Paused(progress.cell, progress.calls)
