"""The bridge's files inside the sandbox, and the orchestrator's one-call step.

Standalone (stdlib only, light imports): the bridged runner process (``ptc_bridge.py``)
and the session's kernel both import it from ``.bcx/``.

Layout of the bridge directory (``.bcx/bridge``):

    tools.json         the runner's setup: tool specs and the tools directory
    task_id            the runner's background task (``startCommandExecution``)
    cells/<n>.json     cell n: ``{"code", "timeout", "submission"}`` (removed once read)
    results/<id>.json  the outcome of bridged call <id>: ``{"ok": true, "value"}`` or
                       ``{"ok": false, "error": {"type", "message"}}``
    state.json         the runner's state: ``token``, ``status`` (idle, running, stopped),
                       ``cell`` and its ``submission`` id, ``pending`` calls (``id``,
                       ``cell``, ``tool``, ``input``), the ``submitted`` and ``blocked`` call
                       counters, and ``last`` (the report of the last finished cell)
    heartbeat          touched by the runner twice a second while it lives
    stop               asks an idle runner to exit

:func:`step` is what the orchestrator runs in the session's kernel with ``executeCode``:
it writes what it is given (a cell, results, the task id), then waits here, reading local
files, until the cell has new pending calls, or has finished, or the runner is gone, or
the bounded wait passes, and prints one reply line. Each step of the relay is therefore
ONE data-plane call however long the cell or its tools take, and the orchestrator never
polls the service.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

__all__ = ["REPLY_MARKER", "atomic_write", "read_state", "step"]

REPLY_MARKER = "&bcx-relay& "  # starts the reply line that :func:`step` prints
HEARTBEAT_SECONDS = 0.5  # how often the runner touches ``heartbeat``
LOST_AFTER = 5.0  # seconds without a heartbeat before a step reports the runner lost
SETTLE = 0.02  # seconds without a new call before pending calls are reported anyway


def atomic_write(path: str, text: str) -> None:
    """Write ``text`` so readers see the old file or the new one, never a part."""
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def read_state(directory: str) -> dict[str, Any] | None:
    """The runner's ``state.json`` (None before a runner wrote one)."""
    try:
        with open(os.path.join(directory, "state.json"), encoding="utf-8") as fh:
            return dict(json.load(fh))
    except (FileNotFoundError, ValueError):
        return None


def heartbeat_age(directory: str) -> float | None:
    """Seconds since the runner last touched ``heartbeat`` (None: never)."""
    try:
        return max(0.0, time.time() - os.stat(os.path.join(directory, "heartbeat")).st_mtime)
    except FileNotFoundError:
        return None


def step(request: dict[str, Any]) -> None:
    """Deliver what ``request`` carries, wait for news of the cell, print the reply line.

    ``request``: ``dir`` (the bridge directory); optional ``cell`` (the cell to watch),
    ``code``, ``timeout`` and ``submission`` (hand cell ``cell`` to the runner; a step
    retried with the same ``submission`` finds its own cell, while a number the runner is
    already past is answered ``stale`` and not written), ``results`` (call id ->
    outcome), ``known`` (call ids the orchestrator already serves), ``task_id`` (record the
    runner's task), ``token`` (wait until the runner that echoes it is up), ``wait``
    (seconds; 0 reports the state at once), ``settle`` and ``lost_after`` (seconds: how
    long without a new call before pending calls are reported, without a heartbeat before
    the runner is reported lost).
    """
    print(REPLY_MARKER + json.dumps(_deliver_and_wait(request)), flush=True)


def _deliver_and_wait(request: dict[str, Any]) -> dict[str, Any]:
    directory = os.path.abspath(request["dir"])
    cell = request.get("cell")
    results: dict[str, Any] = request.get("results") or {}
    for call_id, outcome in results.items():
        atomic_write(os.path.join(directory, "results", f"{call_id}.json"), json.dumps(outcome))
    if request.get("task_id"):
        atomic_write(os.path.join(directory, "task_id"), str(request["task_id"]))
    ignore = set(request.get("known") or ()) | set(results)
    watch = _Watch(directory, cell, request.get("token"), ignore, request)
    if "code" in request:
        state = read_state(directory) or {}
        submission = request.get("submission")
        if int(state.get("cell", 0)) >= int(cell or 0) and state.get("submission") != submission:
            watch.state = state  # the runner is past that number: another step handed it in
            return watch._reply("stale")
        body = {
            "code": request["code"],
            "timeout": request.get("timeout"),
            "submission": submission,
        }
        atomic_write(os.path.join(directory, "cells", f"{cell}.json"), json.dumps(body))
    return watch.run()


class _Watch:
    """Reads ``state.json`` as it changes until something is worth reporting."""

    def __init__(
        self,
        directory: str,
        cell: int | None,
        token: str | None,
        ignore: set[str],
        request: dict[str, Any],
    ) -> None:
        self.dir, self.cell, self.token, self.ignore = directory, cell, token, ignore
        self.wait = float(request.get("wait", 20.0))
        self.settle = float(request.get("settle", SETTLE))
        self.lost_after = float(request.get("lost_after", LOST_AFTER))
        self.state: dict[str, Any] | None = None
        self._stamp: tuple[int, int] | None = None
        self._submitted, self._since = -1, time.monotonic()

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        deadline = started + self.wait
        while True:
            self._refresh()
            reply = self._news()
            now = time.monotonic()
            if reply is not None or now >= deadline:
                return reply or self._reply("running" if self.state else "absent")
            waited = now - started  # local reads: often at first, then back off
            time.sleep(0.0005 if waited < 0.05 else 0.002 if waited < 2 else 0.01)

    def _refresh(self) -> None:
        try:
            st = os.stat(os.path.join(self.dir, "state.json"))
        except FileNotFoundError:
            return
        stamp = (st.st_ino, st.st_mtime_ns)
        if stamp != self._stamp:
            state = read_state(self.dir)
            if state is not None:
                self.state, self._stamp = state, stamp

    def _news(self) -> dict[str, Any] | None:
        state = self.state
        if state is None:
            return None
        if self.token is not None:
            return (
                self._reply(state.get("status", "idle"))
                if state.get("token") == self.token
                else None
            )
        last = state.get("last") or {}
        if self.cell is not None and last.get("n") == self.cell:
            return self._reply("done")
        if state.get("status") == "stopped":
            return self._reply("stopped")
        age = heartbeat_age(self.dir)
        if age is None or age > self.lost_after:
            return self._reply("lost")
        if self.wait <= 0 or self.cell is None:
            return self._reply(state.get("status", "idle"))
        if self._new_calls() and self._settled(state):
            return self._reply("pending")
        return None

    def _settled(self, state: dict[str, Any]) -> bool:
        """The cell waits on its calls, or has made no new call for ``settle`` seconds."""
        submitted = int(state.get("submitted", 0))
        if submitted != self._submitted:
            self._submitted, self._since = submitted, time.monotonic()
        blocked = state.get("blocked") == submitted and state.get("cell") == self.cell
        return blocked or time.monotonic() - self._since >= self.settle

    def _new_calls(self) -> list[dict[str, Any]]:
        if not self.state or self.state.get("cell") != self.cell:
            return []
        return [c for c in self.state.get("pending", []) if c.get("id") not in self.ignore]

    def _reply(self, status: str) -> dict[str, Any]:
        state = self.state or {}
        reply: dict[str, Any] = {
            "status": status,
            "cell": state.get("cell", 0),
            "runner": state.get("status"),
            "token": state.get("token"),
            "pending": self._new_calls() if self.cell is not None else [],
        }
        if status == "done":
            reply["last"] = state.get("last")
        try:
            with open(os.path.join(self.dir, "task_id"), encoding="utf-8") as fh:
                reply["task_id"] = fh.read().strip()
        except FileNotFoundError:
            reply["task_id"] = None
        return reply
