"""The bridged runner process INSIDE the sandbox: runs cells, relays bridged tool calls.

Standalone (stdlib only). ``python ptc_bridge.py serve <bridge_dir> [token]`` is started
once per session with ``startCommandExecution``. It keeps its own globals and runs the
cells the orchestrator hands in (``cells/<n>.json``) one after another. A call to a
bridged tool becomes a pending call in ``state.json``; its outcome comes back as
``results/<id>.json`` (the files are described in ``ptc_relay.py``, whose ``step`` the
orchestrator runs in the kernel to hand cells and results in and wait for news).

Besides the cell's own thread, one I/O thread coalesces the state writes (one write
however many calls a cell starts at once), collects results while calls are pending,
and touches the heartbeat. When the cell's code waits for a bridged result and one full
turn of its event loop started no new call, the cell is *blocked*: the runner records
``blocked = submitted`` so the orchestrator's step returns at once with every call of
that round, and the round's calls are served together.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import io
import json
import os
import sys
import threading
import time
import uuid
from concurrent.futures import Future
from typing import Any

from ptc_relay import HEARTBEAT_SECONDS, atomic_write
from ptc_runtime import ToolCall, ToolError, install, outcome_value

__all__ = ["Bridge", "BridgedCall", "serve"]

_MAX_OUTPUT = 1_000_000  # characters of stdout / stderr kept per cell
# (distinct classes before Python 3.11, one since)
_TIMEOUTS = (TimeoutError, asyncio.TimeoutError, concurrent.futures.TimeoutError)


class BridgedCall(ToolCall):
    """A call relayed out of the sandbox; resolved when its result file arrives.

    With the bridge's ``call_timeout`` set (seconds), a result that has not come by then
    raises ``TimeoutError`` where the call is waited for, and the call is forgotten.
    """

    def __init__(self, bridge: Bridge, name: str, future: Future[Any], call_id: str) -> None:
        super().__init__(name, future)
        self._bridge, self._id = bridge, call_id
        self._deadline = (
            None if bridge.call_timeout is None else time.monotonic() + bridge.call_timeout
        )

    def result(self) -> Any:
        if not self._future.done():
            self._bridge.mark_blocked()  # this thread waits: nothing else can start a call
        try:
            outcome = self._future.result(timeout=self._left())
        except _TIMEOUTS:
            raise self._timed_out() from None
        return outcome_value(self.name, outcome)

    def __await__(self) -> Any:
        return self._wait().__await__()

    async def _wait(self) -> Any:
        seen = -1
        while not self._future.done():
            submitted = self._bridge.submitted
            if submitted == seen:  # a whole turn of the loop started no new call
                self._bridge.mark_blocked()
                break
            seen = submitted
            await asyncio.sleep(0)  # let every other ready task run (and start its calls)
        try:
            outcome = await asyncio.wait_for(
                asyncio.shield(asyncio.wrap_future(self._future)), self._left()
            )
        except _TIMEOUTS:
            raise self._timed_out() from None
        return outcome_value(self.name, outcome)

    def _left(self) -> float | None:
        return None if self._deadline is None else max(0.0, self._deadline - time.monotonic())

    def _timed_out(self) -> TimeoutError:
        self._bridge.abandon(self._id)
        return TimeoutError(
            f"Calling tool [{self.name!r}] timed out "
            f"(no response after {self._bridge.call_timeout:g}s)."
        )


class Bridge:
    """The sandbox end of the relay (one per runner process)."""

    def __init__(self, directory: str) -> None:
        self.dir = os.path.abspath(directory)
        self.results = os.path.join(self.dir, "results")
        os.makedirs(self.results, exist_ok=True)
        os.makedirs(os.path.join(self.dir, "cells"), exist_ok=True)
        self.heartbeat = os.path.join(self.dir, "heartbeat")
        self.state: dict[str, Any] = {"pid": os.getpid(), "status": "idle", "cell": 0}
        self.state["blocked"] = -1
        self.submitted = 0  # calls started so far (all cells)
        self.pending: dict[str, dict[str, Any]] = {}
        self._futures: dict[str, Future[Any]] = {}
        self._cond = threading.Condition()
        self._dirty = False
        self.call_timeout: float | None = None  # seconds a call waits for its result
        self._beat = 0.0
        self._touch()
        threading.Thread(target=self._io_loop, name="ptc-bridge-io", daemon=True).start()

    # --- the cell's side --------------------------------------------------------------------

    def update(self, **changes: Any) -> None:
        """Change the state and write it now (cell start and end)."""
        with self._cond:
            self.state.update(changes)
            self._write()

    def call(self, name: str, tool_input: dict[str, Any]) -> BridgedCall:
        """Start a bridged call: it is pending until the orchestrator's result arrives."""
        try:
            json.dumps(tool_input)
        except (TypeError, ValueError) as e:
            raise ToolError(f"{name}: arguments must be JSON-serializable ({e})") from None
        call_id, future = uuid.uuid4().hex[:16], Future()  # type: Future[Any]
        with self._cond:
            cell = self.state.get("cell")
            self.pending[call_id] = {"id": call_id, "cell": cell, "tool": name, "input": tool_input}
            self._futures[call_id] = future
            self.submitted += 1
            self._dirty = True
            self._cond.notify()
        return BridgedCall(self, name, future, call_id)

    def abandon(self, call_id: str) -> None:
        """Forget a call whose result will no longer be waited for (it timed out)."""
        with self._cond:
            self.pending.pop(call_id, None)
            future = self._futures.pop(call_id, None)
            if future is not None:
                future.cancel()
            self._dirty = True
            self._cond.notify()

    def mark_blocked(self) -> None:
        """The cell waits on its calls: let the orchestrator's step report them now."""
        with self._cond:
            if self.pending and self.state.get("blocked") != self.submitted:
                self.state["blocked"] = self.submitted
                self._dirty = True
                self._cond.notify()

    def end_cell(self) -> None:
        """Forget calls the finished cell never waited for (their results would never be used)."""
        with self._cond:
            for future in self._futures.values():
                future.cancel()
            self._futures.clear()
            self.pending.clear()

    # --- the I/O thread ---------------------------------------------------------------------

    def _write(self) -> None:  # caller holds the lock
        state = {**self.state, "submitted": self.submitted, "pending": list(self.pending.values())}
        atomic_write(os.path.join(self.dir, "state.json"), json.dumps(state))
        self._dirty = False

    def _touch(self) -> None:
        with open(self.heartbeat, "a", encoding="utf-8"):
            pass
        os.utime(self.heartbeat)
        self._beat = time.monotonic()

    def _io_loop(self) -> None:
        waiting_since: float | None = None
        while True:
            with self._cond:
                if not self._dirty and not self.pending:
                    self._cond.wait(timeout=HEARTBEAT_SECONDS)
                ids = list(self.pending)
            arrived = self._collect(ids) if ids else {}
            with self._cond:
                futures = [(self._futures.pop(i, None), o) for i, o in arrived.items()]
                for call_id in arrived:
                    self.pending.pop(call_id, None)
                if arrived or self._dirty:
                    self._write()
                busy = bool(self.pending)
            for future, outcome in futures:
                if future is not None and not future.done():
                    future.set_result(outcome)
            if time.monotonic() - self._beat >= HEARTBEAT_SECONDS:
                self._touch()
            if busy:  # results are expected: look often at first, then back off
                waiting_since = waiting_since or time.monotonic()
                waited = time.monotonic() - waiting_since
                time.sleep(0.0005 if waited < 0.25 else 0.002 if waited < 5 else 0.01)
            else:
                waiting_since = None

    def _collect(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        try:
            present = set(os.listdir(self.results))
        except FileNotFoundError:
            return {}
        arrived = {}
        for call_id in ids:
            name = f"{call_id}.json"
            if name not in present:
                continue
            path = os.path.join(self.results, name)
            try:
                with open(path, encoding="utf-8") as fh:
                    arrived[call_id] = json.load(fh)
            except (FileNotFoundError, ValueError):
                continue
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
        return arrived


# --- the runner process ----------------------------------------------------------------------


def _cap(text: str) -> str:
    if len(text) <= _MAX_OUTPUT:
        return text
    cut = len(text) - _MAX_OUTPUT
    half = _MAX_OUTPUT // 2
    return f"{text[:half]}\n[... {cut:,} characters omitted ...]\n{text[-half:]}"


def _clear_leftovers(bridge_dir: str) -> None:
    """Cells, results and the stop request of an earlier runner in this session."""
    for sub in ("cells", "results"):
        folder = os.path.join(bridge_dir, sub)
        for name in os.listdir(folder) if os.path.isdir(folder) else ():
            with contextlib.suppress(OSError):
                os.remove(os.path.join(folder, name))
    with contextlib.suppress(OSError):
        os.remove(os.path.join(bridge_dir, "stop"))


def _next_cell(folder: str, n: int) -> tuple[int, dict[str, Any]] | None:
    """Cell ``n``, or the first one after it (a cell handed in by a step that then failed
    may never arrive), consumed: its file is removed once read."""
    numbers = sorted(
        int(name[:-5])
        for name in os.listdir(folder)
        if name[:-5].isdigit() and name.endswith(".json")
    )
    for k in (k for k in numbers if k >= n):
        path = os.path.join(folder, f"{k}.json")
        try:
            with open(path, encoding="utf-8") as fh:
                cell = json.load(fh)
        except (FileNotFoundError, ValueError):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
        return k, cell
    return None


def _idle_poll_seconds(idle: float) -> float:
    """How long the runner sleeps between looks for the next cell, ``idle`` seconds after the
    last one ended: 1 ms at first (a bridged loop's next cell follows within a model turn),
    10 ms after 2 s, 50 ms after 10 s. A session may idle for hours, and AgentCore bills the
    CPU a sandbox uses: a look costs a sleeping process about 0.25 ms of CPU (measured), so
    100 looks a second keep 2.4 % of a core busy and 20 a second 0.5 %; the first cell after
    a pause starts at most 50 ms later, beside a model turn's seconds."""
    return 0.001 if idle < 2 else 0.01 if idle < 10 else 0.05


def serve(bridge_dir: str, token: str = "") -> None:
    """Run cells from ``<bridge>/cells/<n>.json`` forever, in one persistent namespace.

    ``token`` is echoed in ``state.json`` so the orchestrator knows this runner is up.
    """
    with open(os.path.join(bridge_dir, "tools.json"), encoding="utf-8") as fh:
        setup = json.load(fh)
    from ptc_cell_runner import format_exception, make_runner

    _clear_leftovers(bridge_dir)
    bridge = Bridge(bridge_dir)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    install(namespace, setup["tools"], tools_dir=setup.get("tools_dir"), bridge=bridge)
    # A cell may bind more bridged tools (``install(globals(), specs, bridge=__bcx_bridge__)``)
    # and set the bridge's ``call_timeout``: callers that bring their own tools per request.
    namespace["__bcx_bridge__"] = bridge
    runner = make_runner(namespace)
    bridge.update(status="idle", cell=0, token=token)
    n, idle_since = 1, time.monotonic()
    try:
        while True:
            found = _next_cell(os.path.join(bridge.dir, "cells"), n)
            if found is None:
                if os.path.exists(os.path.join(bridge.dir, "stop")):
                    return
                time.sleep(_idle_poll_seconds(time.monotonic() - idle_since))
                continue
            n, cell = found
            bridge.update(status="running", cell=n, submission=cell.get("submission"), last=None)
            out, err = io.StringIO(), io.StringIO()
            started, failed = time.monotonic(), False
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    runner.run(cell["code"], cell.get("timeout"))
                except BaseException as e:  # the cell's failure is its result, never ours
                    failed = True
                    err.write(format_exception(e))
            bridge.end_cell()
            last = {
                "n": n,
                "stdout": _cap(out.getvalue()),
                "stderr": _cap(err.getvalue()),
                "error": failed,
                "seconds": round(time.monotonic() - started, 6),
            }
            bridge.update(status="idle", cell=n, last=last)
            n, idle_since = n + 1, time.monotonic()
    finally:
        bridge.update(status="stopped")


if __name__ == "__main__":
    if len(sys.argv) in (3, 4) and sys.argv[1] == "serve":
        serve(*sys.argv[2:])
    else:
        sys.exit("usage: python ptc_bridge.py serve <bridge_dir> [token]")
