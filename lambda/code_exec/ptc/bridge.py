"""Sending PTC tools into a sandbox session, and relaying bridged tool calls out of it.

Two ways to run model code that calls tools:

- :func:`preload` writes the sandbox runtime and each tool's module into the session
  and binds the tools in the kernel; cells then run with ``SandboxClient.run_cell``.
  Every tool runs inside the sandbox.
- :class:`BridgedRunner` starts one long-lived runner process per session with
  ``startCommandExecution``. It keeps its own globals; cells are handed to it as files.
  When code calls a *bridged* tool, the call appears in ``<bridge>/state.json``; the
  orchestrator (this module) runs the tool here, in a thread pool so parallel calls from
  one cell are served in parallel, and writes ``<bridge>/results/<id>.json`` back. A tool
  error reaches the code as ``ToolError``. *Preloaded* tools work there too (imported in
  the runner process). Everything is driven with ``writeFiles``/``readFiles``/``getTask``.

:func:`open_executor` picks the right one for a registry.
"""

from __future__ import annotations

import json
import logging
import shlex
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Protocol

from code_exec.exceptions import SandboxError, SandboxResourceNotFoundError, SandboxTimeoutError
from code_exec.ptc.assets import asset_path
from code_exec.ptc.registry import ToolRegistry
from code_exec.sandbox import ExecutionResult, SandboxClient, SandboxFile

__all__ = ["BridgedRunner", "PtcExecutor", "kernel_executor", "open_executor", "preload"]

logger = logging.getLogger(__name__)

RUNTIME_DIR = ".bcx"
TOOLS_DIR = f"{RUNTIME_DIR}/tools"
BRIDGE_DIR = f"{RUNTIME_DIR}/bridge"
_CELL_RUNNER = Path(__file__).with_name("cell_runner.py")

ToolHandler = Callable[[str, list[Any], dict[str, Any]], Any]


def _runtime_files(registry: ToolRegistry) -> list[SandboxFile]:
    """The sandbox runtime, the cell runner, and every preloaded tool's module (+ data)."""
    files = [
        SandboxFile(f"{RUNTIME_DIR}/ptc_runtime.py", asset_path("ptc_runtime.py").read_bytes()),
        SandboxFile(f"{RUNTIME_DIR}/ptc_cell_runner.py", _CELL_RUNNER.read_bytes()),
    ]
    seen: set[str] = set()
    for tool in registry:
        if tool.placement != "preloaded" or tool.module_file in seen:
            continue
        seen.add(tool.module_file)
        src = Path(tool.module_file)
        if not src.is_file():
            raise ValueError(f"preloaded tool {tool.name!r} must be defined in a module file")
        files.append(SandboxFile(f"{TOOLS_DIR}/{src.name}", src.read_bytes()))
        module = __import__(tool.fn.__module__, fromlist=["_"])
        for extra in getattr(module, "SANDBOX_FILES", ()):  # data files next to the module
            files.append(SandboxFile(f"{TOOLS_DIR}/{extra}", (src.parent / extra).read_bytes()))
    return files


def preload(sandbox: SandboxClient, session_id: str, tools: ToolRegistry) -> list[str]:
    """Send the tools into the session's kernel; return the names bound there.

    Preloaded tools run in the sandbox; bridged ones are bound to a stub that explains
    they need a bridged cell (:class:`BridgedRunner`).
    """
    sandbox.write_files(session_id, _runtime_files(tools))
    specs = json.dumps([t.sandbox_spec() for t in tools])
    code = (
        "import os as _o, sys as _s\n"
        f"_s.path.insert(0, _o.path.abspath({RUNTIME_DIR!r}))\n"
        "import ptc_runtime as __ptc_runtime__\n"
        f"__ptc_runtime__.install(globals(), __import__('json').loads({specs!r}), "
        f"tools_dir=_o.path.abspath({TOOLS_DIR!r}))\n"
        "del _o, _s\n"
    )
    result = sandbox.execute_code(session_id, code)
    if not result.ok:
        raise SandboxError(f"could not preload tools: {(result.stderr or result.text)[-800:]}")
    logger.info("preloaded %s tool(s) into session %s", len(tools), session_id)
    return tools.names()


class PtcExecutor(Protocol):
    """Runs model cells that may call tools."""

    def run_cell(self, code: str, *, timeout_seconds: float | None = None) -> ExecutionResult: ...

    def detach(self) -> None:
        """Let go of the executor at the end of an invocation; its state stays in the session."""

    def close(self) -> None:
        """Stop what the executor runs in the session (its state is lost)."""


class _KernelExecutor:
    def __init__(self, sandbox: SandboxClient, session_id: str) -> None:
        self.sandbox, self.session_id = sandbox, session_id

    def run_cell(self, code: str, *, timeout_seconds: float | None = None) -> ExecutionResult:
        return self.sandbox.run_cell(self.session_id, code, timeout_seconds=timeout_seconds)

    def detach(self) -> None:
        """Nothing to let go of: the kernel lives as long as the session."""

    def close(self) -> None:
        """Nothing to stop: the kernel lives as long as the session."""


class BridgedRunner:
    """The orchestrator end of the bridge: one runner process per session, driven by files."""

    def __init__(
        self,
        sandbox: SandboxClient,
        session_id: str,
        registry: ToolRegistry,
        *,
        handler: ToolHandler | None = None,
        max_workers: int = 16,
        poll_min: float = 0.002,
        poll_max: float = 0.1,
        python: str = "python3",
    ) -> None:
        self.sandbox, self.session_id, self.registry = sandbox, session_id, registry
        self.handler = handler
        self.python = python
        self.poll_min, self.poll_max = poll_min, poll_max
        self.max_workers = max_workers
        self.task_id: str | None = None
        self._next_cell = 1

    # --- lifecycle -----------------------------------------------------------------------

    def start(self, *, wait_seconds: float = 30.0) -> None:
        """Attach to the session's runner if one is alive, else send the runtime and start one."""
        if self._attach():
            return
        setup = {"tools": [t.sandbox_spec() for t in self.registry], "tools_dir": TOOLS_DIR}
        files = _runtime_files(self.registry)
        files.append(SandboxFile(f"{BRIDGE_DIR}/tools.json", json.dumps(setup).encode()))
        self.sandbox.write_files(self.session_id, files)
        token = uuid.uuid4().hex
        command = (
            f"exec {shlex.quote(self.python)} -u {RUNTIME_DIR}/ptc_runtime.py "
            f"serve {BRIDGE_DIR} {token}"
        )
        self.task_id = self.sandbox.start_command(self.session_id, command)
        self.sandbox.write_files(
            self.session_id, [SandboxFile(f"{BRIDGE_DIR}/task_id", self.task_id.encode())]
        )
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            state = self._state(missing_ok=True)
            if state.get("token") == token and state.get("status") == "idle":
                self._next_cell = int(state.get("cell", 0)) + 1
                logger.info("bridged runner %s started in %s", self.task_id, self.session_id)
                return
            self._check_alive()
            time.sleep(0.02)
        self.close()  # do not leave a runner that may still come up behind
        raise SandboxTimeoutError(f"bridged runner did not start within {wait_seconds:g} s")

    def _attach(self) -> bool:
        state = self._state(missing_ok=True)
        if not state or state.get("status") not in ("idle", "running"):
            return False
        try:
            task_id = self.sandbox.read_files(self.session_id, [f"{BRIDGE_DIR}/task_id"])[0].text
        except SandboxResourceNotFoundError:
            return False
        if self.sandbox.get_task(self.session_id, task_id).done:
            return False
        self.task_id = task_id.strip()
        self._next_cell = int(state.get("cell", 0)) + 1
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

    # --- one cell --------------------------------------------------------------------------

    def submit_cell(self, code: str, *, timeout_seconds: float | None = None) -> int:
        """Hand a cell to the runner; return its number (see :meth:`poll`)."""
        n = self._next_cell
        body = json.dumps({"code": code, "timeout": timeout_seconds}).encode()
        self.sandbox.write_files(
            self.session_id, [SandboxFile(f"{BRIDGE_DIR}/cells/{n}.json", body)]
        )
        self._next_cell += 1
        return n

    def poll(self) -> dict[str, Any]:
        """One read of the runner's state: ``status``, ``cell``, ``pending`` calls, ``last``."""
        return self._state()

    def resolve(self, outcomes: dict[str, dict[str, Any]]) -> None:
        """Deliver results (``{"ok": True, "value": v}`` or ``{"ok": False, "error": {...}}``)."""
        self.sandbox.write_files(
            self.session_id,
            [
                SandboxFile(f"{BRIDGE_DIR}/results/{cid}.json", json.dumps(o).encode())
                for cid, o in outcomes.items()
            ],
        )

    def run_cell(self, code: str, *, timeout_seconds: float | None = 300.0) -> ExecutionResult:
        """Run a cell, serving its bridged tool calls (in parallel) until it finishes."""
        if not self.task_id:
            self.start()
        n = self.submit_cell(code, timeout_seconds=timeout_seconds)
        pool = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="ptc-bridge")
        try:
            last = self._serve_until_done(n, pool, (timeout_seconds or 3600.0) + 15.0)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return ExecutionResult(
            stdout=last.get("stdout", ""),
            stderr=last.get("stderr", ""),
            exit_code=1 if last.get("error") else 0,
            is_error=bool(last.get("error")),
            execution_time=last.get("seconds"),
            text=last.get("stdout", "") + last.get("stderr", ""),
        )

    def _serve_until_done(self, n: int, pool: ThreadPoolExecutor, limit: float) -> dict[str, Any]:
        """Poll the runner's state, run new calls in ``pool``, deliver results; cell n's report."""
        started = time.monotonic()
        served: dict[str, Future[dict[str, Any]]] = {}
        delivered: set[str] = set()
        interval, last_alive_check = self.poll_min, started
        while True:
            state = self._state()
            last = state.get("last") or {}
            if last.get("n") == n:
                return dict(last)
            for call in state.get("pending", []):
                if call["id"] not in served:
                    served[call["id"]] = pool.submit(self._serve, call)
            ready = {c: f.result() for c, f in served.items() if f.done() and c not in delivered}
            if ready:
                self.resolve(ready)
                delivered.update(ready)
                interval = self.poll_min
                continue
            waiting = [f for c, f in served.items() if c not in delivered]
            if waiting:
                wait(waiting, timeout=self.poll_max, return_when=FIRST_COMPLETED)
                interval = self.poll_min
            else:
                time.sleep(interval)
                interval = min(interval * 1.25, self.poll_max)
            now = time.monotonic()
            if now - last_alive_check > 2.0:
                self._check_alive()
                last_alive_check = now
            if now - started > limit:
                self.close()
                raise SandboxTimeoutError(
                    f"bridged cell did not finish within {now - started:.0f} s; "
                    "its runner was stopped (its state is lost)"
                )

    def _serve(self, call: dict[str, Any]) -> dict[str, Any]:
        name, args, kwargs = call["tool"], call.get("args", []), call.get("kwargs", {})
        try:
            if name in self.registry:
                value = self.registry.get(name).fn(*args, **kwargs)
            elif self.handler is not None:
                value = self.handler(name, args, kwargs)
            else:
                raise LookupError(f"no tool named {name!r} is served here")
            json.dumps(value)
            return {"ok": True, "value": value}
        except Exception as e:
            logger.info("bridged tool %s raised %s: %s", name, type(e).__name__, e)
            return {"ok": False, "error": {"type": type(e).__name__, "message": str(e)}}

    def _state(self, *, missing_ok: bool = False) -> dict[str, Any]:
        try:
            raw = self.sandbox.read_files(self.session_id, [f"{BRIDGE_DIR}/state.json"])[0]
        except SandboxResourceNotFoundError:
            if missing_ok:
                return {}
            raise
        return dict(json.loads(raw.data))

    def _check_alive(self) -> None:
        if not self.task_id:
            return
        status = self.sandbox.get_task(self.session_id, self.task_id)
        if status.done:
            self.task_id = None
            raise SandboxError(
                f"the bridged runner exited ({status.status}, exit code {status.exit_code}): "
                f"{(status.stderr or status.stdout)[-800:]}"
            )


def kernel_executor(sandbox: SandboxClient, session_id: str) -> PtcExecutor:
    """Cells straight in the session's kernel (no tools, or only preloaded ones)."""
    return _KernelExecutor(sandbox, session_id)


def open_executor(
    sandbox: SandboxClient,
    session_id: str,
    registry: ToolRegistry,
    *,
    handler: ToolHandler | None = None,
) -> PtcExecutor:
    """The executor for ``registry``: the kernel when every tool is preloaded, else a bridge."""
    if handler is None and all(t.placement == "preloaded" for t in registry):
        preload(sandbox, session_id, registry)
        return kernel_executor(sandbox, session_id)
    runner = BridgedRunner(sandbox, session_id, registry, handler=handler)
    runner.start()
    return runner
