"""The pinned Claude Code CLI (package.json: ``@anthropic-ai/claude-code``), headless, against
the local ``/v1`` (what ``make local`` serves), its model turns replayed.

The CLI runs in a network namespace that has only loopback (``bwrap --unshare-net``): it
reaches the local API through :mod:`devtools.socket_bridge` and nothing else, whatever it
tries to contact (:mod:`devtools.claude_cli`). The multi-step task, with both pinned versions,
is in test_claude_code_task.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .claude_code import run_against
from .conftest import Server

pytestmark = [pytest.mark.sandbox, pytest.mark.filterwarnings("ignore:The model")]


def test_claude_code_headless_completes_its_first_request(server: Server, tmp_path: Path) -> None:
    with server.replay("claude_code_hello") as replay:
        run = run_against(server, "2.1.328", tmp_path, "Say hello")
    assert run.returncode == 0, run.stderr[-2000:]
    result = run.result()
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
