"""The live processes of a session's sandbox, as the host sees them (an admin view).

Every process of a session is its own ``bwrap`` (its own PID namespace), so no command in
the sandbox can list another's processes; the host can. A test asks the emulator which
processes a session still has (``GET /_emulator/sessions/<id>/processes``), for example
that a stopped task left nothing behind. Linux ``/proc`` only.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable

__all__ = ["descendants"]


def descendants(roots: Iterable[int]) -> list[dict[str, object]]:
    """``{"pid", "argv"}`` of each live (not zombie) process in the trees under ``roots``,
    the roots included."""
    children: dict[int, list[int]] = {}
    alive: set[int] = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            with open(f"/proc/{name}/stat", encoding="utf-8", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            if fields[0] != "Z":
                alive.add(int(name))
            children.setdefault(int(fields[1]), []).append(int(name))
    found: list[dict[str, object]] = []
    todo, seen = list(roots), set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        todo += children.get(pid, [])
        if pid in alive:
            with contextlib.suppress(OSError):
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    argv = [a.decode("utf-8", "replace") for a in fh.read().split(b"\0") if a]
                found.append({"pid": pid, "argv": argv})
    return sorted(found, key=lambda p: int(str(p["pid"])))
