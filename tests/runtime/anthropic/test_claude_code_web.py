"""Claude Code's own WebSearch tool through the gateway: the pinned CLI, headless, in a network
namespace with only loopback (the helpers of :mod:`.test_claude_code_cli`).

What the CLI does (read from the pinned 2.1.328 and checked here): the model calls the client
tool ``WebSearch``; the CLI runs it as a sub-request to ``/v1/messages`` with Anthropic's
server tool ``{"type": "web_search_20250305", "name": "web_search", "max_uses": 8}`` and
"Perform a web search for the query: ...", which this gateway serves (the search runs on the
in-test backend); the CLI turns the ``web_search_tool_result`` and the cited answer into the
tool result of the main conversation. Four model turns are replayed: the main turn, the
sub-request's two, the main answer.

WebFetch is not a server tool call: the CLI fetches the page itself (``http://`` upgraded to
``https://``, through ``HTTPS_PROXY`` when set, trusting ``NODE_EXTRA_CA_CERTS``), after a domain
preflight to ``api.anthropic.com`` unless the user setting ``skipWebFetchPreflight`` is true,
then has the small fast model read the page with the user's question: that sub-request goes to
``/v1/messages``, which this gateway serves. Here the page comes from the web corpus behind a
``CONNECT`` proxy (:class:`devtools.corpus_proxy.CorpusProxy`) bridged into the namespace.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devtools.corpus_proxy import CorpusProxy

from .claude_code import CLIS, run_against
from .conftest import Server, fixture, model_turn, text, tool_use
from .web_fakes import install

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.filterwarnings("ignore:The model"),
    pytest.mark.slow(seconds=11),
]

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


def _newest(
    server: Server, scratch: Path, prompt: str, tool: str, version: str = "2.1.332", **kwargs: Any
) -> dict[str, Any]:
    """A pinned CLI (the newest unless told), headless, allowed only ``tool``; its result."""
    args = ("--output-format", "json", "--allowedTools", tool)
    run = run_against(server, version, scratch, prompt, args=args, **kwargs)
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


def test_claude_codes_web_fetch_fails_offline_without_skip_web_fetch_preflight(
    server: Server, tmp_path: Path
) -> None:
    """WebFetch without ``skipWebFetchPreflight``: the CLI fetches by itself (never through
    web_fetch on the gateway); in the loopback-only namespace its domain preflight cannot reach
    api.anthropic.com, and the model is told so in the tool result. Nothing reaches the
    gateway's fetcher."""
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


PAGE = "https://docs.northwind-analytics.test/api/rate-limits"
FACT = "The API allows 600 requests per minute per token."
PROXY_PORT = 18766  # inside the CLI's namespace, bridged to the proxy outside


@pytest.mark.parametrize("version", sorted(CLIS))
def test_claude_codes_web_fetch_reads_a_page_through_the_gateway(
    server: Server, tmp_path: Path, version: str
) -> None:
    """With ``skipWebFetchPreflight`` in the user's settings, ``HTTPS_PROXY`` and the proxy's CA:
    the CLI fetches the corpus page itself (asked for ``http://``, fetched over TLS), the page
    reaches the model through the gateway's ``/v1/messages`` in the summarising sub-request,
    and the answer comes back. Nothing but the corpus host was asked for, and nothing reached
    the gateway's own fetcher (WebFetch is no server tool)."""
    _, fetcher = install(server)
    question = "How many requests per minute does the API allow?"
    turns = fixture(
        model_turn(
            tool_use("WebFetch", {"url": PAGE.replace("https", "http"), "prompt": question}, "F1")
        ),
        model_turn(
            text("The API allows 600 requests per minute per token."),
            expect={"body_contains": [FACT, question], "body_lacks": ['"tools"']},
        ),
        model_turn(
            text("600 requests per minute per token."),
            expect={"body_contains": ["The API allows 600 requests per minute per token."]},
        ),
    )
    home = tmp_path / "home" / ".claude"
    home.mkdir(parents=True)
    (home / "settings.json").write_text(json.dumps({"skipWebFetchPreflight": True}))
    with CorpusProxy(tmp_path) as proxy, server.replay(turns) as replay:
        env = {
            "HTTPS_PROXY": f"http://127.0.0.1:{PROXY_PORT}",
            "NO_PROXY": "127.0.0.1,localhost",
            "NODE_EXTRA_CA_CERTS": str(proxy.ca_file),
        }
        result = _newest(
            server,
            tmp_path,
            f"Read {PAGE}",
            "WebFetch",
            version,
            env=env,
            bridges={PROXY_PORT: proxy.port},
        )
    assert result["is_error"] is False, result
    assert result["result"] == "600 requests per minute per token."
    assert proxy.connects == [("docs.northwind-analytics.test:443", True)]
    assert proxy.corpus.requests == [("docs.northwind-analytics.test", "GET", "/api/rate-limits")]
    assert fetcher.fetched == [] and len(replay.exchanges) == 3
    summarise = replay.exchanges[1].request
    assert "tools" not in summarise and FACT in json.dumps(summarise["messages"])
    [answer] = [
        b
        for b in replay.exchanges[2].request["messages"][-1]["content"]
        if b["type"] == "tool_result"
    ]
    assert answer.get("is_error") is not True
