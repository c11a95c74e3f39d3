"""``make local``'s script (``scripts/local_api.py``) in a subprocess, for the tests that
drive it as a user would (its banner, its URL, real HTTP)."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from emulators.code_interpreter.spawn import read_first_line, stop_process

__all__ = ["drain", "local_api_process"]

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def local_api_process(env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """The script started with ``env`` (``PORT=0``: a free loopback port) and its URL, the
    first line it prints; stopped on exit. The caller reads the banner's other lines from
    ``proc.stdout``, then calls :func:`drain`."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "scripts.local_api"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        url = read_first_line(proc, 60)
        assert url.startswith("http://127.0.0.1:"), f"local API did not start ({proc.poll()})"
        yield proc, url
    finally:
        stop_process(proc, timeout=30)


def drain(proc: subprocess.Popen[str]) -> None:
    """Read the script's later output (a line per request) so it never fills the pipe."""
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # type: ignore[union-attr]
