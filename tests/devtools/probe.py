"""Handlers that report where they ran: the process, and how many invocations that process
was serving when this one began (one, when each runs alone in its execution environment).

Loaded by name in worker processes (``ApiWorkers``, the streaming runtime's ``_HANDLER``).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

from code_exec.streaming import StreamedResponse

__all__ = ["HOLD_SECONDS", "buffered", "streamed"]

HOLD_SECONDS = 0.5  # long enough for the concurrent requests of a test to meet
_lock = threading.Lock()
_active = 0


def _enter() -> dict[str, int]:
    global _active
    with _lock:
        _active += 1
        return {"pid": os.getpid(), "active": _active}


def _leave() -> None:
    global _active
    with _lock:
        _active -= 1


def buffered(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A buffered function's handler: holds, then answers where it ran."""
    seen = _enter()
    try:
        time.sleep(HOLD_SECONDS)
    finally:
        _leave()
    return {"statusCode": 200, "headers": {}, "body": json.dumps(seen)}


def streamed(event: dict[str, Any], context: Any) -> StreamedResponse:
    """A streaming function's handler: where it ran first, then holds while streaming."""
    seen = _enter()

    def body() -> Iterator[bytes]:
        try:
            yield json.dumps(seen).encode()
            time.sleep(HOLD_SECONDS)
            yield b"\n"
        finally:
            _leave()

    return StreamedResponse(200, body(), {"content-type": "application/json"})
