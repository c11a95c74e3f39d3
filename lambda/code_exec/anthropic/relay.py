"""Python cells that may call the client's tools, driven one step at a time across requests.

A programmatic tool call cannot be answered while the request that started the cell is
running: the client runs the tool, then sends a new request (to any Lambda instance). So a
cell is driven in steps, each of which can end one request and be picked up by the next:

* :meth:`CellRelay.submit` hands a cell to the session's runner process;
* :meth:`CellRelay.wait` returns when the cell has called tools that are not answered yet,
  when it has finished, or when the time this request may spend has run out;
* :meth:`CellRelay.deliver` writes results for calls, after which the cell goes on.

Everything between two steps is in the sandbox (the runner process, its globals, the paused
coroutine) and in the container record (cell number, pending call ids): nothing in memory.

This is the one module that knows how the bridge works (:class:`code_exec.ptc.BridgedRunner`:
a long-lived runner process, its ``state.json``, result files). Binding the client's tools
into the runner's globals reaches into the sandbox runtime (``ptc_runtime``'s stub factory);
a relay that long-polls replaces :meth:`CellRelay.wait`'s polling without changing callers.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from code_exec.ptc import BridgedRunner, ToolRegistry
from code_exec.sandbox import ExecutionResult, SandboxClient

__all__ = ["CALL_TIMEOUT_SECONDS", "CellProgress", "CellRelay", "PendingCall"]

logger = logging.getLogger(__name__)

CALL_TIMEOUT_SECONDS = 270.0  # a tool result that never comes: TimeoutError in the code
_SETTLE_SECONDS = 0.05  # calls started together (asyncio.gather) appear within this


@dataclass(frozen=True)
class PendingCall:
    """A call from code to a client tool, waiting for its result."""

    call_id: str
    tool: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


@dataclass
class CellProgress:
    """Where a cell stands: finished (``result``), waiting on calls, or still running."""

    result: ExecutionResult | None = None
    calls: list[PendingCall] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.result is not None


class CellRelay:
    """Step-wise driving of one session's Python runner (see the module docstring)."""

    def __init__(
        self,
        sandbox: SandboxClient,
        session_id: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        call_timeout: float = CALL_TIMEOUT_SECONDS,
    ) -> None:
        self._runner = BridgedRunner(sandbox, session_id, ToolRegistry())
        self._clock, self._sleep = clock, sleep
        self.call_timeout = call_timeout
        self._started = False

    def _ensure_started(self) -> None:
        if not self._started:
            self._runner.start()  # attaches to the session's runner when one is alive
            self._started = True

    def bind_tools(self, tools: Iterable[tuple[str, str]], *, budget: float) -> None:
        """Make each ``(name, doc)`` an async function in the REPL whose calls pause the cell."""
        specs = sorted(tools)
        code = (
            "import ptc_runtime as __bcx_rt\n"
            f"__ptc_bridge__.call_timeout = {self.call_timeout!r}\n"
            f"for __n, __d in {specs!r}:\n"
            "    globals()[__n] = __bcx_rt._tool_function(\n"
            "        __n, __bcx_rt._bridged_starter(__ptc_bridge__, __n), __d)\n"
            "del __bcx_rt, __n, __d\n"
            if specs
            else f"__ptc_bridge__.call_timeout = {self.call_timeout!r}\n"
        )
        cell = self.submit(code)
        progress = self.wait(cell, answered=set(), budget=budget)
        if progress.result is None or not progress.result.ok:
            detail = progress.result.stderr[-500:] if progress.result else "timed out"
            raise RuntimeError(f"could not bind tools in the Python runner: {detail}")

    def submit(self, code: str) -> int:
        """Start a cell; return its number. Cells run one after another, in submission order."""
        self._ensure_started()
        return self._runner.submit_cell(code, timeout_seconds=None)

    def wait(self, cell: int, *, answered: set[str], budget: float) -> CellProgress:
        """Return when cell ``cell`` finished, called tools not in ``answered``, or ``budget``
        seconds passed (then neither ``result`` nor ``calls`` is set)."""
        self._ensure_started()
        deadline = self._clock() + max(0.0, budget)
        delay = 0.005
        while True:
            state = self._runner.poll()
            last = state.get("last") or {}
            if last.get("n") == cell:
                return CellProgress(result=_result(last))
            calls = _calls(state, answered)
            if calls and int(state.get("cell", 0)) == cell:
                return CellProgress(calls=self._settled(calls, answered))
            if self._clock() >= deadline:
                return CellProgress()
            self._sleep(delay)
            delay = min(delay * 1.5, 0.2)

    def _settled(self, calls: list[PendingCall], answered: set[str]) -> list[PendingCall]:
        """The calls once no new one appears for a moment (parallel calls come out together)."""
        for _ in range(20):
            self._sleep(_SETTLE_SECONDS)
            more = _calls(self._runner.poll(), answered)
            if {c.call_id for c in more} == {c.call_id for c in calls}:
                break
            calls = more or calls
        return calls

    def deliver(self, outcomes: dict[str, dict[str, Any]]) -> None:
        """Results by call id: ``{"ok": True, "value": text}`` or ``{"ok": False, ...}``."""
        self._ensure_started()
        self._runner.resolve(outcomes)

    @property
    def runner_id(self) -> str | None:
        """The runner process's task id (a new one means the REPL's globals were lost)."""
        self._ensure_started()
        return self._runner.task_id

    def detach(self) -> None:
        """Leave the runner running for the next request (its globals and paused cell stay)."""
        self._runner.detach()


def _calls(state: dict[str, Any], answered: set[str]) -> list[PendingCall]:
    return [
        PendingCall(c["id"], c["tool"], tuple(c.get("args") or ()), dict(c.get("kwargs") or {}))
        for c in state.get("pending") or []
        if c["id"] not in answered
    ]


def _result(last: dict[str, Any]) -> ExecutionResult:
    stdout, stderr = str(last.get("stdout", "")), str(last.get("stderr", ""))
    failed = bool(last.get("error"))
    return ExecutionResult(
        stdout=stdout,
        stderr=stderr,
        exit_code=1 if failed else 0,
        is_error=failed,
        execution_time=last.get("seconds"),
        text=stdout + stderr,
    )


def describe(calls: list[PendingCall]) -> str:
    """For logs: the calls as ``name(args)``."""
    return ", ".join(f"{c.tool}({json.dumps([c.args, c.kwargs])[:80]})" for c in calls)
