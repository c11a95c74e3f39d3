"""Run a Claude Code CLI headless in a network namespace that has only loopback.

The CLI is a client we do not control: it runs under ``bwrap --unshare-net`` and reaches one
server on the host's loopback through :mod:`devtools.socket_bridge`, and nothing else,
whatever it tries to contact. Tests run it against the local ``/v1``
(tests/runtime/anthropic/test_claude_code_*.py); :mod:`devtools.claude_code_capture` runs it
against a capturing server to record what it sends.

Both pinned versions are installed by ``npm ci`` (package.json): :data:`CLIS` names them.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools.socket_bridge import serve_unix

__all__ = ["CLIS", "ROOT", "CliRun", "run_claude"]

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
_MODULES = ROOT / "node_modules"
# version -> the native binary npm's postinstall put in place (package.json's devDependencies).
CLIS: dict[str, Path] = {
    "2.1.328": _MODULES / "@anthropic-ai" / "claude-code" / "bin" / "claude.exe",
    "2.1.332": _MODULES / "claude-code-latest" / "bin" / "claude.exe",
}
PORT = 18765  # inside the CLI's own network namespace: nothing else listens there
NAMESPACE = ("--dev-bind", "/", "/", "--unshare-net", "--die-with-parent")
# Everything optional that would call out is off; none of it could leave the namespace anyway.
QUIET = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1",
}


@dataclass(frozen=True)
class CliRun:
    """A finished CLI run: its exit status and its standard streams."""

    returncode: int
    stdout: str
    stderr: str

    def result(self) -> dict[str, Any]:
        """The ``result`` object: the whole stdout (``--output-format json``) or the last
        ``type: result`` line of a ``stream-json`` run."""
        lines = [json.loads(line) for line in self.stdout.splitlines() if line.strip()]
        results = [m for m in lines if m.get("type") == "result"]
        assert results, f"no result in the CLI's output: {self.stdout[-2000:]}"
        found: dict[str, Any] = results[-1]
        return found

    def messages(self) -> list[dict[str, Any]]:
        """Every JSON line of a ``stream-json`` run."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def run_claude(
    cli: Path,
    server_port: int,
    scratch: Path,
    prompt: str,
    *,
    env: dict[str, str],
    args: tuple[str, ...] = ("--output-format", "json"),
    bridges: dict[int, int] | None = None,
    timeout: float = 300,
) -> CliRun:
    """Run ``cli -p prompt *args`` in ``scratch/work`` (its home ``scratch/home``), reaching
    ``127.0.0.1:server_port`` on the host as ``http://127.0.0.1:PORT`` and nothing else.

    ``env`` adds to a bare environment (PATH, HOME): the CLI reads no variable of the caller's.
    ``bridges`` maps more ports inside the namespace to host ports (e.g. a proxy's).
    """
    assert cli.exists(), f"the pinned Claude Code CLI {cli} is missing: run `make setup`"
    bwrap = shutil.which("bwrap")
    assert bwrap is not None, "bubblewrap is missing: run `make setup`"
    for sub in ("home", "work"):
        (scratch / sub).mkdir(exist_ok=True)
    ports = {PORT: server_port, **(bridges or {})}
    listeners = [
        serve_unix(str(scratch / f"{inner}.sock"), outer) for inner, outer in ports.items()
    ]
    script = "".join(_bridge(inner, scratch / f"{inner}.sock") for inner in ports)
    quoted = " ".join(f"'{a}'" for a in args)
    script += (
        f'cd {scratch / "work"} && {cli} -p "$PROMPT" {quoted}; RC=$?; kill $BRIDGES; exit $RC'
    )
    full_env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "HOME": str(scratch / "home"),
        "PROMPT": prompt,
        "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{PORT}",
        **QUIET,
        **env,
    }
    try:
        done = subprocess.run(
            [bwrap, *NAMESPACE, "sh", "-c", script],
            cwd=ROOT,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            # Its own session and process group: the CLI signals process groups (its Bash
            # tool's children), and shares the host's PID namespace; in the caller's group a
            # group kill reached the test process itself (an xdist worker died mid-run).
            start_new_session=True,
        )
    finally:
        for listener in listeners:
            listener.close()
    logger.info("claude %s exited %d", cli, done.returncode)
    return CliRun(done.returncode, done.stdout, done.stderr)


def _bridge(port: int, sock: Path) -> str:
    """Shell that starts a bridge from ``127.0.0.1:port`` in the namespace to ``sock`` and waits
    until it listens."""
    return (
        f"{sys.executable} -m devtools.socket_bridge {port} {sock} >/dev/null 2>&1 & "
        'BRIDGES="$BRIDGES $!"; '
        f"for i in $(seq 1 100); do {sys.executable} -c "
        f"\"import socket; socket.create_connection(('127.0.0.1', {port}))\" 2>/dev/null "
        "&& break; sleep 0.1; done; "
    )
