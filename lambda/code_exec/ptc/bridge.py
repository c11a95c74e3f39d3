"""The orchestrator's end of the bridged relay: one runner process per session, in steps.

:class:`BridgedRunner` starts one long-lived runner process per session with
``startCommandExecution`` (``sandbox_assets/ptc_bridge.py``). It keeps its own globals;
cells are handed to it, and when code calls a *bridged* tool the call waits in the
sandbox until the orchestrator (this module) has run the tool here, with its own IAM
role, and delivered the outcome. A tool error reaches the code as ``ToolError``.
*Preloaded* tools work there too (imported in the runner process).

The relay long-polls (:mod:`code_exec.ptc.relay`): every step is ONE data-plane call that
blocks in the sandbox until the cell has new pending calls, has finished, or a bounded
wait (``wait_seconds``) passes. A cell costs one call to submit plus, per round of
tool calls, one call that delivers every result of the round and waits again (two when
the results are large: they are written with ``writeFiles`` first); the round's calls
run here in parallel. The steps are public so a caller can also stop between them
(a cell paused on tool calls, resumed by a later invocation):

    state = runner.submit(code)                        # hand the cell in, wait for news
    while not state.done:
        outcomes = runner.serve(state.pending)         # run the round's calls here
        state = runner.resume(outcomes)                # deliver them, wait for news
    result = state.result

:meth:`run_cell` is that loop (plus the liveness checks and the cell's time limit).
"""

from __future__ import annotations

import contextvars
import json
import logging
import shlex
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_all
from typing import Any

from code_exec.exceptions import (
    SandboxConflictError,
    SandboxError,
    SandboxTimeoutError,
    ToolError,
)
from code_exec.ptc.assets import BRIDGE_DIR, RUNTIME_DIR, TOOLS_DIR, runtime_files
from code_exec.ptc.registry import ToolRegistry
from code_exec.ptc.relay import CellState, PendingCall, parse_reply, step_code
from code_exec.sandbox import ExecutionResult, SandboxClient, SandboxFile

__all__ = ["MAX_CALLS_PER_ROUND", "BridgedRunner", "ToolHandler"]

logger = logging.getLogger(__name__)

# Runs a tool that is not in the registry (name, input object) -> JSON-serializable value.
ToolHandler = Callable[[str, dict[str, Any]], Any]
Outcome = dict[str, Any]  # {"ok": True, "value": v} | {"ok": False, "error": {"type", "message"}}

MAX_CALLS_PER_ROUND = 128  # relayed calls run per round; the rest get a ToolError
_FAILED = "the tool failed (the details are in the orchestrator's logs)"
_START_SLICE = 2.0  # seconds per wait while a runner starts (its task is checked between)
_PATIENCE = 600.0  # seconds without a heartbeat tolerated once the task was seen working


class BridgedRunner:
    """The orchestrator end of the bridge: one runner process per session, driven in steps."""

    def __init__(
        self,
        sandbox: SandboxClient,
        session_id: str,
        registry: ToolRegistry,
        *,
        handler: ToolHandler | None = None,
        max_workers: int = 64,
        wait_seconds: float = 20.0,
        inline_limit: int = 16_000,
        python: str = "python3",
    ) -> None:
        self.sandbox, self.session_id, self.registry = sandbox, session_id, registry
        self.handler = handler
        self.python = python
        self.max_workers = max_workers
        self.wait_seconds = wait_seconds
        self.inline_limit = inline_limit  # characters of outcomes sent inside a step
        self.task_id: str | None = None
        self.cell = 0  # the last cell handed to the runner (or found running there)

    # --- lifecycle -----------------------------------------------------------------------

    def start(self, *, wait_seconds: float = 30.0) -> None:
        """Attach to the session's runner if one is alive, else send the runtime and start one."""
        if self._attach():
            return
        setup = {"tools": [t.sandbox_spec() for t in self.registry], "tools_dir": TOOLS_DIR}
        files = runtime_files(self.registry)
        files.append(SandboxFile(f"{BRIDGE_DIR}/tools.json", json.dumps(setup).encode()))
        self.sandbox.write_files(self.session_id, files)
        token = uuid.uuid4().hex
        command = (
            f"exec {shlex.quote(self.python)} -u {RUNTIME_DIR}/ptc_bridge.py "
            f"serve {BRIDGE_DIR} {token}"
        )
        self.task_id = self.sandbox.start_command(self.session_id, command)
        deadline = time.monotonic() + wait_seconds
        request: dict[str, Any] = {"token": token, "task_id": self.task_id}
        while True:
            remaining = deadline - time.monotonic()
            state = self._step({**request, "wait": max(0.0, min(_START_SLICE, remaining))})
            if state.token == token:
                self.cell = state.cell
                logger.info("bridged runner %s started in %s", self.task_id, self.session_id)
                return
            self._check_alive()
            if time.monotonic() >= deadline:
                self.close()  # do not leave a runner that may still come up behind
                raise SandboxTimeoutError(f"bridged runner did not start within {wait_seconds:g} s")
            request.pop("task_id", None)  # recorded by the first step

    def _attach(self) -> bool:
        """One step reads the runner's state; its task confirms it lives (a stopped task
        may have beaten its heart a moment ago, and a runner whose cell holds the GIL beats
        none: ``lost`` is only a stale heartbeat)."""
        state = self._step({"wait": 0})
        if state.status not in ("idle", "running", "lost") or not state.task_id:
            return False
        if self.sandbox.get_task(self.session_id, state.task_id).done:
            return False
        self.task_id, self.cell = state.task_id, state.cell
        return True

    def detach(self) -> None:
        """Let go of the runner without stopping it: its process and globals stay.

        Use this at the end of an invocation (a Lambda handler returning) when the session
        goes on: the next invocation's :meth:`start` attaches to the same runner, and so
        does this object's next :meth:`run_cell`. :meth:`close` stops it instead.
        """
        if self.task_id:
            logger.info("detached from bridged runner %s in %s", self.task_id, self.session_id)
        self.task_id = None

    def close(self) -> None:
        """Stop the runner process (its globals are lost); see :meth:`detach` to keep it."""
        if self.task_id:
            try:
                self.sandbox.stop_task(self.session_id, self.task_id)
            except SandboxError:
                logger.warning("could not stop bridged runner %s", self.task_id, exc_info=True)
            self.task_id = None

    # --- the steps (one data-plane call each) ------------------------------------------------

    def submit(self, code: str, *, timeout_seconds: float | None = None) -> CellState:
        """Hand a cell to the runner and wait until it has pending calls or has finished.

        Cell numbers are never reused, even when a step fails (the runner skips a gap);
        when another runner object moved the runner on meanwhile, the number is taken
        from the runner and the cell handed in again.
        """
        request = {"code": code, "timeout": timeout_seconds, "submission": uuid.uuid4().hex}
        for _ in range(2):
            self.cell += 1
            state = self._step({**request, "cell": self.cell})
            if state.status != "stale":
                return state
            self.cell = state.cell
        raise SandboxError("another orchestrator keeps handing cells to this bridged runner")

    def resume(self, outcomes: dict[str, Outcome], *, known: Iterable[str] = ()) -> CellState:
        """Deliver outcomes (call id -> outcome) and wait for the cell's next news.

        Small outcomes travel inside the step (one call); larger ones are written with
        ``writeFiles`` first (two calls), because a kernel parses a large cell slowly.
        ``known``: ids of calls still being served (not reported again).
        """
        request: dict[str, Any] = {"cell": self.cell, "known": list(known)}
        if sum(len(json.dumps(o)) for o in outcomes.values()) <= self.inline_limit:
            request["results"] = outcomes
        else:
            files = [
                SandboxFile(f"{BRIDGE_DIR}/results/{call_id}.json", json.dumps(o).encode())
                for call_id, o in outcomes.items()
            ]
            self.sandbox.write_files(self.session_id, files)
            request["known"] += list(outcomes)
        return self._step(request)

    def wait(self, *, known: Iterable[str] = (), lost_after: float | None = None) -> CellState:
        """Wait for the cell's next news without delivering anything."""
        request: dict[str, Any] = {"cell": self.cell, "known": list(known)}
        if lost_after is not None:
            request["lost_after"] = lost_after
        return self._step(request)

    def serve(
        self, calls: Iterable[PendingCall], *, timeout: float | None = None
    ) -> dict[str, Outcome]:
        """Run calls here, in parallel (no data-plane call); their outcomes by call id.

        At most :data:`MAX_CALLS_PER_ROUND` run; the rest of a larger round are refused.
        """
        calls = list(calls)
        if not calls:
            return {}
        over = {  # a round past the cap: the rest are refused, not run
            c.id: _refused(
                f"{c.tool[:64]}: too many tool calls at once "
                f"(at most {MAX_CALLS_PER_ROUND} per round)"
            )
            for c in calls[MAX_CALLS_PER_ROUND:]
        }
        calls = calls[:MAX_CALLS_PER_ROUND]
        pool = ThreadPoolExecutor(
            max_workers=min(len(calls), self.max_workers), thread_name_prefix="ptc-bridge"
        )
        try:
            # each call in a copy of this context: the request's deadline bounds the tool
            futures = {
                c.id: pool.submit(contextvars.copy_context().run, self._run_tool, c) for c in calls
            }
            _, late = wait_all(futures.values(), timeout=timeout)
            if late:
                raise SandboxTimeoutError(
                    f"{len(late)} bridged tool call(s) did not finish in time"
                )
            return {**over, **{call_id: f.result() for call_id, f in futures.items()}}
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    # --- a whole cell ---------------------------------------------------------------------------

    def run_cell(self, code: str, *, timeout_seconds: float | None = 300.0) -> ExecutionResult:
        """Run a cell, serving its bridged tool calls (each round in parallel) until it ends."""
        if not self.task_id:
            self.start()
        limit = (timeout_seconds or 3600.0) + 15.0
        deadline = time.monotonic() + limit
        state = self.submit(code, timeout_seconds=timeout_seconds)
        while not state.done:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.close()
                raise SandboxTimeoutError(
                    f"bridged cell did not finish within {limit:.0f} s; "
                    "its runner was stopped (its state is lost)"
                )
            if state.pending:
                state = self.resume(self.serve(state.pending, timeout=remaining))
            elif state.status in ("lost", "stopped", "absent"):
                self._check_alive()  # raises when the runner has exited
                state = self.wait(lost_after=_PATIENCE)  # alive, only too busy to beat
            else:
                state = self.wait()
        assert state.result is not None
        return state.result

    # --- plumbing -------------------------------------------------------------------------------

    def _step(self, request: dict[str, Any]) -> CellState:
        """One step; refused while a step of an invocation that died still waits in the
        kernel (``conflict``), it is tried again until that one's bounded wait is over."""
        request = {"dir": BRIDGE_DIR, "wait": self.wait_seconds, **request}
        code = step_code(request)
        deadline = time.monotonic() + self.wait_seconds + 5.0
        while True:
            try:
                result = self.sandbox.execute_code(self.session_id, code, idempotent=True)
            except SandboxConflictError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.5)
                continue
            return parse_reply(result)

    def _run_tool(self, call: PendingCall) -> Outcome:
        """Run one relayed call here, with this process's role. The call came out of the
        sandbox: only a *bridged* tool runs (a preloaded one belongs in the sandbox), its
        input is checked against the tool's parameters, and a failure goes back as generic
        text (the details, which may name resources, stay in the logs)."""
        try:
            value = self._dispatch(call)
            json.dumps(value)
            return {"ok": True, "value": value}
        except ToolError as e:  # the call itself was refused: its message says why
            return _refused(e.message)
        except Exception as e:
            logger.warning("bridged tool %s raised %s", call.tool, type(e).__name__, exc_info=True)
            return {"ok": False, "error": {"type": type(e).__name__, "message": _FAILED}}

    def _dispatch(self, call: PendingCall) -> Any:
        if call.tool in self.registry:
            tool = self.registry.get(call.tool)
            if tool.placement == "bridged":
                return tool.invoke(call.input)
            logger.warning("refused a relayed call of the preloaded tool %s", call.tool)
        elif self.handler is not None:
            return self.handler(call.tool, call.input)
        raise ToolError(f"no tool named {call.tool[:64]!r} is served here")

    def _check_alive(self) -> None:
        if not self.task_id:
            raise SandboxError("the bridged runner is gone")
        status = self.sandbox.get_task(self.session_id, self.task_id)
        if status.done:
            self.task_id = None
            raise SandboxError(
                f"the bridged runner exited ({status.status}, exit code {status.exit_code}): "
                f"{(status.stderr or status.stdout)[-800:]}"
            )


def _refused(message: str) -> Outcome:
    """An outcome the code receives as ``ToolError(message)`` (the call was not run)."""
    return {"ok": False, "error": {"type": "ToolError", "message": message}}
