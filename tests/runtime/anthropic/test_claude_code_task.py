"""Both pinned Claude Code CLIs complete a multi-step task through the local ``/v1``: headless
(``-p``), streamed, thinking on, using their Bash, Read and Write tools for real in a work
directory, with the model's turns replayed (tests/fixtures/bedrock/claude_code_cli_task.json).

The CLI runs in a network namespace that has only loopback (:mod:`devtools.claude_cli`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.bedrock._author_claude_code_cli import ANSWER, PROMPT, SCRIPT, TASK

from .claude_code import run_against
from .conftest import Server

pytestmark = [pytest.mark.sandbox, pytest.mark.filterwarnings("ignore:The model")]

TOOLS = ("--allowedTools", "Bash,Read,Write")
PRIMES = "2\n3\n5\n7\n11\n13\n17\n19\n23\n29\n"


def _thinking(turn: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in turn["response"]["body"]["content"] if b["type"] == "thinking"]


# (version, output format, the thinking display it asks for with the deployment's model)
RUNS = [("2.1.328", "json", "omitted"), ("2.1.332", "stream-json", "updates")]


@pytest.mark.parametrize(("version", "output", "display"), RUNS)
def test_claude_code_writes_runs_and_reads_to_answer(
    server: Server, tmp_path: Path, version: str, output: str, display: str
) -> None:
    args = ("--output-format", output, *TOOLS)
    if output == "stream-json":
        args += ("--verbose",)  # -p with stream-json requires it
    before = len(server.events)
    with server.replay("claude_code_cli_task") as replay:
        run = run_against(server, version, tmp_path, PROMPT, args=args)
    received = [json.loads(e["body"]) for e in server.events[before:]]
    assert run.returncode == 0, run.stderr[-2000:]
    result = run.result()
    assert result["is_error"] is False and result["subtype"] == "success"
    assert result["result"] == ANSWER
    assert result["num_turns"] == 4
    work = tmp_path / "work"
    assert (work / "primes.py").read_text() == SCRIPT
    assert (work / "primes.txt").read_text() == PRIMES
    # What the CLI sent: streamed, thinking shown omitted, thinking kept by context editing.
    assert len(received) == 4
    for body in received:
        assert body["stream"] is True
        assert body["thinking"] == {"type": "enabled", "budget_tokens": 31999, "display": display}
        assert body["context_management"] == {
            "edits": [{"type": "clear_thinking_20251015", "keep": "all"}]
        }
    headers = server.events[-1]["headers"]
    assert f"claude-cli/{version}" in headers["User-Agent"]
    assert "thinking-token-count-2026-05-13" in headers["anthropic-beta"].split(",")
    # What reached the model: every earlier thinking block, signature included, in its place;
    # shown omitted, its text comes back empty (the signature carries it), else byte for byte.
    sent = [x.request for x in replay.exchanges]
    assert len(sent) == 4
    assert all(r["thinking"] == {"type": "enabled", "budget_tokens": 31999} for r in sent)
    for n, request in enumerate(sent):
        assistants = [m for m in request["messages"] if m["role"] == "assistant"]
        assert len(assistants) == n
        for turn, message in zip(TASK["turns"][:n], assistants, strict=True):
            thinking = [b for b in message["content"] if b["type"] == "thinking"]
            recorded = _thinking(turn)
            if display == "omitted":
                recorded = [{**b, "thinking": ""} for b in recorded]
            assert thinking == recorded
            assert message["content"][0]["type"] == "thinking"
        assert request["anthropic_beta"] == [
            "interleaved-thinking-2025-05-14",
            "context-management-2025-06-27",
        ]
    if output == "stream-json":  # the CLI's own account of the steps
        uses = [
            b["name"]
            for m in run.messages()
            if m["type"] == "assistant"
            for b in m["message"]["content"]
            if b["type"] == "tool_use"
        ]
        assert uses == ["Write", "Bash", "Read"]
