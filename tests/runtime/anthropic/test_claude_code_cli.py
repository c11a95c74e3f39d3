"""The pinned Claude Code CLI (package.json: ``@anthropic-ai/claude-code``), headless, against
the local ``/v1`` (what ``make local`` serves), its model turns replayed.

The CLI runs in a network namespace that has only loopback (``bwrap --unshare-net``): it
reaches the local API through :mod:`devtools.socket_bridge` and nothing else, whatever it
tries to contact (:mod:`devtools.claude_cli`). The multi-step task, with both pinned versions,
is in test_claude_code_task.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .claude_code import run_against
from .conftest import MODEL, Server, fixture, model_turn, text

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


def test_claude_codes_sonnet_alias_is_mapped_to_the_deployments_model(
    server: Server, tmp_path: Path
) -> None:
    """``ANTHROPIC_MODEL=sonnet`` alone asks for Claude Code's own Sonnet name (2.1.328:
    ``claude-sonnet-5-5``); ``ANTHROPIC_DEFAULT_SONNET_MODEL`` maps the alias to a model this
    deployment serves. The key goes as ``ANTHROPIC_AUTH_TOKEN`` here."""
    env = {
        "ANTHROPIC_MODEL": "sonnet",
        "ANTHROPIC_DEFAULT_SONNET_MODEL": MODEL,
        "ANTHROPIC_API_KEY": "",
        "ANTHROPIC_AUTH_TOKEN": server.keys["alice"],  # sent as Authorization: Bearer
    }
    before = len(server.events)
    with server.replay("claude_code_hello"):
        run = run_against(server, "2.1.328", tmp_path, "Say hello", env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.result()["result"] == "Hello! How can I help you today?"
    [event] = server.events[before:]
    assert json.loads(event["body"])["model"] == MODEL
    headers = {k.lower(): v for k, v in event["headers"].items()}
    assert headers["authorization"] == f"Bearer {server.keys['alice']}"
    assert "x-api-key" not in headers


def test_claude_codes_default_model_is_a_404_it_reports(server: Server, tmp_path: Path) -> None:
    """Without ``ANTHROPIC_MODEL`` Claude Code asks for its own default model, which this
    deployment does not serve (unless its ``modelAliases`` names it): the 404 names the model,
    and the CLI tries once more, then reports it as its result."""
    env = {"ANTHROPIC_MODEL": "", "ANTHROPIC_SMALL_FAST_MODEL": ""}
    before = len(server.events)
    with server.replay(fixture()) as replay:
        run = run_against(server, "2.1.328", tmp_path, "Say hello", env=env)
    assert run.returncode == 1
    result = run.result()
    assert result["is_error"] is True
    assert result["result"].startswith(
        "There's an issue with the selected model (claude-opus-5-5). It may not exist"
    )
    sent = server.events[before:]
    assert len(sent) == 2  # the same request once more, then it gives up
    assert [json.loads(e["body"])["model"] for e in sent] == ["claude-opus-5-5"] * 2
    assert replay.exchanges == []


def test_claude_code_retries_a_refused_model_call_and_completes(
    server: Server, tmp_path: Path
) -> None:
    """Bedrock refuses the first model call (a ValidationException, as for a beta it does not
    know); the gateway answers 400 with Bedrock's message, Claude Code retries with one beta
    fewer (one of its retry variants, tests/fixtures/claude_code/retry_variants_2.1.328.json),
    and the retry completes."""
    refused = {
        "expect": {"operation": "InvokeModel"},
        "response": {
            "status": 400,
            "headers": {
                "x-amzn-ErrorType": "ValidationException:http://internal.amazon.com/coral/",
                "Content-Type": "application/json",
            },
            "body": {"message": "invalid beta flag"},
        },
    }
    answer = model_turn(text("Hello after a retry."))
    before = len(server.events)
    with server.replay(fixture(refused, answer)) as replay:
        run = run_against(server, "2.1.328", tmp_path, "Say hello")
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.result()["result"] == "Hello after a retry."
    assert len(replay.exchanges) == 2
    first, retry = (e["headers"]["anthropic-beta"].split(",") for e in server.events[before:])
    assert [b for b in first if b not in retry] == ["thinking-token-count-2026-05-13"]
