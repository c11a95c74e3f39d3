"""An emulator of a test module's own, on a fixed port (a restart keeps its URL).

Modules whose invariants count READY sandbox sessions (``/_emulator/health``) start one, so the
count is theirs alone and a restart does not disturb other tests (``test_leak_faults``,
``test_fault_matrix``).
"""

from __future__ import annotations

import json
import urllib.request

from emulators.code_interpreter.spawn import RunningEmulator, free_port, start_emulator
from tests.plugin_conformance import Watch

__all__ = ["RestartableEmulator"]


class RestartableEmulator:
    """An emulator on a fixed port, so a restart keeps its URL (as a service endpoint does).

    Like the session's emulator it checks every response against the service model; each
    run's mismatches fail the test that stops it.
    """

    def __init__(self, *, warm_pool: int = 1) -> None:
        self.port = free_port()
        self.warm_pool = warm_pool
        self._running, self._watch = self._start()

    def _start(self) -> tuple[RunningEmulator, Watch]:
        running = start_emulator(
            port=self.port,
            die_with_parent=True,
            cell_timeout=60,
            interrupt_grace=3,
            max_sessions=16,
            warm_pool=self.warm_pool,
            workspace_mb=64,
            memory_mb=2048,
            max_processes=64,
            unisolated=False,
            check_responses=True,
        )
        watch = Watch(running.url)
        watch.read()
        return running, watch

    @property
    def url(self) -> str:
        return self._running.url

    def restart(self) -> None:
        self._watch.fail_on_new()
        self._running.stop()  # SIGTERM: its sessions end with it, as a crashed host's would
        self._running, self._watch = self._start()

    def ready_sessions(self) -> int:
        with urllib.request.urlopen(f"{self.url}/_emulator/health", timeout=10) as resp:
            return int(json.loads(resp.read())["sessions"])

    def stop(self) -> None:
        try:
            self._watch.fail_on_new()
        finally:
            self._running.stop()
