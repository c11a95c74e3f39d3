"""A session's cgroups (v1 ``pids`` and ``memory``): made where the host allows, else skipped.

bubblewrap has no cgroup options: each sandboxed process joins the session's cgroups before it
enters the sandbox (``Sandbox.popen``'s shell prefix; the kernel zygote's child writes its own
pid), so the limits cover the kernel and every command together. rlimits apply either way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from pathlib import Path

from .config import EmulatorConfig

__all__ = ["kill_cgroup", "make_cgroups", "remove_cgroup"]

log = logging.getLogger(__name__)

_CGROUP_ROOT = Path("/sys/fs/cgroup")
_CGROUP_NAME = "code-interpreter-emulator"


def make_cgroups(session_id: str, config: EmulatorConfig) -> list[Path]:
    """The session's pids and memory cgroups (v1), where the host lets us make them."""
    settings = {
        "pids": {"pids.max": str(config.max_processes)},
        "memory": {"memory.limit_in_bytes": str(config.memory_bytes)},
    }
    made: list[Path] = []
    for controller, files in settings.items():
        base = _CGROUP_ROOT / controller
        if not (base / "cgroup.procs").exists():
            continue
        cg = base / _CGROUP_NAME / session_id
        try:
            cg.mkdir(parents=True, exist_ok=True)
            for name, value in files.items():
                (cg / name).write_text(value)
        except OSError as e:
            log.info("cgroup %s unavailable (%s); relying on rlimits", controller, e)
            remove_cgroup(cg, attempts=1)
            continue
        made.append(cg)
    return made


def kill_cgroup(cg: Path) -> None:
    """SIGKILL every process in ``cg``."""
    try:
        pids = (cg / "cgroup.procs").read_text().split()
    except OSError:
        return
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def remove_cgroup(path: Path, attempts: int = 50) -> None:
    """Remove the cgroup directory ``path``, retrying while its last processes exit."""
    for _ in range(attempts):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.05)
    log.warning("could not remove cgroup %s", path)
