"""Host-side client of the emulator's local-only admin endpoints (``/_emulator/...``).

Tests and benches read what the emulator knows and the real service does not tell: how
many data-plane requests a session was sent, and how many were throttled.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

__all__ = ["session_calls", "session_processes"]


def session_calls(url: str, session_id: str) -> dict[str, Any]:
    """Requests sent to ``session_id`` so far: ``calls`` (all of them), ``operations`` and
    ``tools`` (counts by name) and ``throttled`` (refused over a rate limit)."""
    with urllib.request.urlopen(f"{url}/_emulator/sessions/{session_id}/calls", timeout=10) as r:
        return dict(json.loads(r.read()))


def session_processes(url: str, session_id: str) -> list[list[str]]:
    """The command lines of the processes ``session_id``'s sandbox still runs (all of its
    commands, tasks and kernel, with everything they started)."""
    with urllib.request.urlopen(
        f"{url}/_emulator/sessions/{session_id}/processes", timeout=10
    ) as r:
        return [list(p["argv"]) for p in json.loads(r.read())["processes"]]
