"""The pinned Claude Code CLI (package.json: ``@anthropic-ai/claude-code``), headless, against
the local ``/v1`` (what ``make local`` serves), its model turns replayed.

The CLI runs in a network namespace that has only loopback (``bwrap --unshare-net``): it
reaches the local API through :mod:`devtools.socket_bridge` and nothing else, whatever it
tries to contact.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.socket_bridge import serve_unix

from .conftest import MODEL, Server

pytestmark = [pytest.mark.sandbox, pytest.mark.filterwarnings("ignore:The model")]

ROOT = Path(__file__).resolve().parents[3]
CLI = ROOT / "node_modules" / ".bin" / "claude"
PORT = 18765  # inside the CLI's own network namespace: nothing else listens there
NAMESPACE = ("--dev-bind", "/", "/", "--unshare-net", "--die-with-parent")


def _run_cli(server: Server, tmp_path: Path, prompt: str, args: str = "") -> dict:
    assert CLI.exists(), "the pinned Claude Code CLI is missing: run `make setup`"
    bwrap = shutil.which("bwrap")
    assert bwrap is not None, "bubblewrap is missing: run `make setup`"
    sock = tmp_path / "api.sock"
    (tmp_path / "home").mkdir()
    (tmp_path / "work").mkdir()
    port = int(server.url.rsplit(":", 1)[1].strip("/"))
    listener = serve_unix(str(sock), port)
    script = (
        f"{sys.executable} -m devtools.socket_bridge {PORT} {sock} >/dev/null 2>&1 & "
        "BRIDGE=$!; "
        f"for i in $(seq 1 100); do {sys.executable} -c "
        f"\"import socket; socket.create_connection(('127.0.0.1', {PORT}))\" 2>/dev/null "
        "&& break; sleep 0.1; done; "
        f'cd {tmp_path / "work"} && {CLI} -p "$PROMPT" --output-format json {args}; '
        "RC=$?; kill $BRIDGE; exit $RC"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "HOME": str(tmp_path / "home"),
        "PROMPT": prompt,
        "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{PORT}",
        "ANTHROPIC_API_KEY": server.keys["alice"],
        "ANTHROPIC_MODEL": MODEL,
        "ANTHROPIC_SMALL_FAST_MODEL": MODEL,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
    }
    try:
        done = subprocess.run(
            [bwrap, *NAMESPACE, "sh", "-c", script],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        listener.close()
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict = json.loads(done.stdout)
    return result


def test_claude_code_headless_completes_its_first_request(server: Server, tmp_path: Path) -> None:
    with server.replay("claude_code_hello") as replay:
        result = _run_cli(server, tmp_path, "Say hello")
    assert result["is_error"] is False and result["subtype"] == "success"
    assert result["result"] == "Hello! How can I help you today?"
    assert result["num_turns"] == 1
    [exchange] = replay.exchanges
    sent = exchange.request
    assert sent["anthropic_beta"] == [
        "interleaved-thinking-2025-05-14",
        "context-management-2025-06-27",
    ]
    assert "display" not in sent["thinking"]
    assert all("defer_loading" not in t for t in sent["tools"])
    event = server.events[-1]
    assert event["path"] == "/v1/messages"
    assert event["queryStringParameters"] == {"beta": "true"}
    assert "claude-cli/2.1.328" in event["headers"]["User-Agent"]
