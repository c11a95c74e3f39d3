"""Python cells that may call the client's tools, driven one step at a time across requests.

A programmatic tool call cannot be answered while the request that started the cell is
running: the client runs the tool, then sends a new request (to any Lambda instance). So a
cell is driven in steps, each of which can end one request and be picked up by the next:

* :meth:`CellRelay.submit` hands a cell to the session's runner process and waits;
* :meth:`CellRelay.resume` delivers results for calls (maybe none) and waits again.

Each wait returns when the cell has called tools that are not answered yet, when it has
finished, or when the time this request may spend has run out. A runner whose heartbeat has
stopped is not taken for gone: a cell holding the GIL (a long call into C) stops it too.
Only a runner whose task has ended is gone (one ``getTask`` tells); a busy one is waited
for with a heartbeat patience of :data:`BUSY_PATIENCE`. Everything between two steps
is in the sandbox (the runner process, its globals, the paused coroutine) and in the
container record (cell number, pending call ids): nothing in memory.

This is the one module that knows the bridge (:class:`code_exec.ptc.BridgedRunner`): each
step is ONE data-plane call that long-polls in the sandbox. Binding the client's tools into
the runner's globals uses the sandbox runtime's ``install`` with the runner's bridge.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from code_exec.exceptions import SandboxError
from code_exec.ptc import BridgedRunner, CellState, PendingCall, ToolRegistry
from code_exec.sandbox import ExecutionResult, SandboxClient

__all__ = ["CALL_TIMEOUT_SECONDS", "CellProgress", "CellRelay", "PendingCall", "tool_spec"]

logger = logging.getLogger(__name__)

CALL_TIMEOUT_SECONDS = 270.0  # a tool result that never comes: TimeoutError in the code
_MIN_WAIT = 0.5  # seconds a step waits even when the request's budget is nearly spent
_MAX_WAIT = 20.0  # the bridge's bounded wait per step
_GONE = ("lost", "stopped", "absent")
BUSY_PATIENCE = 600.0  # seconds without a heartbeat tolerated once the task was seen working


class RunnerGoneError(RuntimeError):
    """The runner process holding the cell is gone (its state with it)."""


@dataclass
class CellProgress:
    """Where a cell stands: finished (``result``), waiting on calls, or still running."""

    cell: int
    result: ExecutionResult | None = None
    calls: list[PendingCall] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.result is not None


def tool_spec(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A client tool as the sandbox runtime binds it: called with one dict, or keywords."""
    properties = schema.get("properties") or {}
    return {
        "name": name,
        "placement": "bridged",
        "doc": f"async def {name}(input: dict) -> str\n\n{description}",
        "params": list(properties),
        "positional": 0,  # one dict (the input object), or keyword arguments
        "required": list(schema.get("required") or []),
        "open": True,  # the client validates its own input; any key is passed on
    }


class CellRelay:
    """Step-wise driving of one session's Python runner (see the module docstring)."""

    def __init__(
        self,
        sandbox: SandboxClient,
        session_id: str,
        *,
        call_timeout: float = CALL_TIMEOUT_SECONDS,
    ) -> None:
        self._runner = BridgedRunner(sandbox, session_id, ToolRegistry())
        self.call_timeout = call_timeout
        self._started = False

    def _ensure_started(self) -> None:
        if not self._started:
            self._runner.start()  # attaches to the session's runner when one is alive
            self._started = True

    @property
    def runner_id(self) -> str | None:
        """The runner process's task id (a new one means the REPL's globals were lost)."""
        self._ensure_started()
        return self._runner.task_id

    def bind_tools(self, specs: Iterable[dict[str, Any]], *, budget: float) -> None:
        """Make each tool an async function in the REPL whose calls pause the cell; set the
        bridge's call timeout."""
        code = (
            "import ptc_runtime as __bcx_rt\n"
            f"__bcx_bridge__.call_timeout = {self.call_timeout!r}\n"
            f"__bcx_rt.install(globals(), __import__('json').loads({json.dumps(list(specs))!r}), "
            "bridge=__bcx_bridge__)\n"
            "del __bcx_rt\n"
        )
        progress = self.submit(code, budget=max(budget, 5.0))
        if progress.result is None or not progress.result.ok:
            detail = progress.result.stderr[-500:] if progress.result else "timed out"
            raise SandboxError(f"could not bind tools in the Python runner: {detail[-500:]}")

    def submit(self, code: str, *, budget: float) -> CellProgress:
        """Start a cell and wait (at most ``budget`` s) for its news."""
        self._ensure_started()
        self._runner.wait_seconds = _wait(budget)
        return self._progress(self._runner.submit(code, timeout_seconds=None), known=set())

    def resume(
        self,
        cell: int,
        *,
        outcomes: dict[str, dict[str, Any]],
        answered: set[str],
        budget: float,
    ) -> CellProgress:
        """Deliver ``outcomes`` (call id -> outcome; may be empty) to cell ``cell`` and wait
        for its news, not reporting the calls in ``answered`` again.

        Raises:
            RunnerGoneError: the runner holding the cell is gone.
        """
        self._ensure_started()
        self._runner.cell = cell
        self._runner.wait_seconds = _wait(budget)
        known = answered - set(outcomes)
        if outcomes:
            state = self._runner.resume(outcomes, known=known)
        else:
            state = self._runner.wait(known=known)
        return self._progress(state, known=known | set(outcomes))

    def _progress(self, state: CellState, *, known: set[str]) -> CellProgress:
        if state.status == "lost" and self._alive():  # busy, not gone: wait for it again
            logger.info("the Python runner is busy (no heartbeat); its task still works")
            state = self._runner.wait(known=known, lost_after=BUSY_PATIENCE)
        if state.status in _GONE:
            raise RunnerGoneError(f"the Python runner is gone ({state.status})")
        cell = self._runner.cell
        if state.done:
            return CellProgress(cell, result=state.result)
        return CellProgress(cell, calls=list(state.pending))

    def _alive(self) -> bool:
        """The runner's task still works (one ``getTask``)."""
        task_id = self._runner.task_id
        if not task_id:
            return False
        return not self._runner.sandbox.get_task(self._runner.session_id, task_id).done


def _wait(budget: float) -> float:
    return min(_MAX_WAIT, max(_MIN_WAIT, budget))
