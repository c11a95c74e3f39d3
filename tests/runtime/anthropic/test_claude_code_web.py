"""Claude Code's own WebSearch tool through the gateway: the pinned CLI, headless, in a network
namespace with only loopback (the helpers of :mod:`.test_claude_code_cli`).

What the CLI does (read from the pinned 2.1.328 and checked here): the model calls the client
tool ``WebSearch``; the CLI runs it as a sub-request to ``/v1/messages`` with Anthropic's
server tool ``{"type": "web_search_20250305", "name": "web_search", "max_uses": 8}`` and
"Perform a web search for the query: ...", which this gateway serves (the search runs on the
in-test backend); the CLI turns the ``web_search_tool_result`` and the cited answer into the
tool result of the main conversation. Four model turns are replayed: the main turn, the
sub-request's two, the main answer.

WebFetch is not a server tool call: the CLI fetches the page itself after a domain preflight to
``api.anthropic.com``, which the namespace cannot reach (docs/anthropic-api.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .claude_code import run_against
from .conftest import Server, fixture, model_turn, text, tool_use
from .web_fakes import install

pytestmark = [pytest.mark.sandbox, pytest.mark.filterwarnings("ignore:The model")]

QUERY = "AgentCore web search"
URL = "https://docs.example.com/agentcore/web-search"
EXTRACT = "InvokeWebSearch returns up to 25 results"


def _turns() -> dict:
    cited = {
        "type": "text",
        "text": "AgentCore web search returns up to 25 results.",
        "citations": [
            {
                "type": "search_result_location",
                "source": URL,
                "title": "AgentCore web search",
                "cited_text": EXTRACT,
                "search_result_index": 0,
                "start_block_index": 0,
                "end_block_index": 0,
            }
        ],
    }
    return fixture(
        model_turn(tool_use("WebSearch", {"query": QUERY}, "MAIN1")),
        model_turn(
            tool_use("web_search", {"query": QUERY}, "SUB1"),
            expect={
                "tools": ["web_search"],
                "body_contains": [f"Perform a web search for the query: {QUERY}"],
            },
        ),
        model_turn(cited, expect={"body_contains": [EXTRACT, '"search_result"']}),
        model_turn(
            text("AgentCore web search returns up to 25 results (docs.example.com)."),
            expect={"body_contains": [URL]},
        ),
    )


def _newest(server: Server, scratch: Path, prompt: str, tool: str) -> dict[str, Any]:
    """The newest pinned CLI, headless, allowed only ``tool``; its result object."""
    args = ("--output-format", "json", "--allowedTools", tool)
    run = run_against(server, "2.1.332", scratch, prompt, args=args)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.result()


def test_claude_codes_web_search_runs_through_the_gateway(server: Server, tmp_path: Path) -> None:
    search, _ = install(server)
    with server.replay(_turns()) as replay:
        result = _newest(server, tmp_path, f"Search the web: {QUERY}", "WebSearch")
    assert result["is_error"] is False, result
    assert result["result"].startswith("AgentCore web search returns up to 25 results")
    assert [r.query for r in search.requests] == [QUERY]
    sub = replay.exchanges[1].request
    assert [t["name"] for t in sub["tools"]] == ["web_search"]
    assert len(replay.exchanges) == 4


def test_claude_codes_web_fetch_is_not_a_server_tool_and_fails_offline(
    server: Server, tmp_path: Path
) -> None:
    """WebFetch: the CLI fetches by itself (never through web_fetch on the gateway); in the
    loopback-only namespace its domain preflight cannot reach api.anthropic.com, and the model
    is told so in the tool result. Nothing reaches the gateway's fetcher."""
    _, fetcher = install(server)
    turns = fixture(
        model_turn(tool_use("WebFetch", {"url": URL, "prompt": "What does it return?"}, "F1")),
        model_turn(text("I could not fetch the page."), expect={"body_lacks": ['"web_fetch"']}),
    )
    with server.replay(turns) as replay:
        result = _newest(server, tmp_path, f"Read {URL}", "WebFetch")
    assert result["result"] == "I could not fetch the page."
    assert fetcher.fetched == [] and len(replay.exchanges) == 2
    [answer] = [
        b
        for b in replay.exchanges[1].request["messages"][-1]["content"]
        if b["type"] == "tool_result"
    ]
    assert answer.get("is_error") is True
    assert answer["content"].startswith("Unable to verify if domain docs.example.com is safe")
