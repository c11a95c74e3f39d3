"""Web fetch called directly by the model, through the real ``anthropic`` SDK under strict
response validation: every ``web_fetch_*`` version, whole and streamed, citations of fetched
documents, and Anthropic's rule that only URLs already in the conversation may be fetched.

The model's turns are replayed (``anthropic_web_fetch.json``, written by
``tests/fixtures/bedrock/_author_web.py``); pages come from an in-test fetcher
(:mod:`.web_fakes`) that records every URL it was asked for, so a refused fetch is proven
never to have been attempted.
"""

from __future__ import annotations

from typing import Any

import pytest
from anthropic import types
from anthropic.types import beta as beta_types

from devtools.bedrock_replay import load_fixture

from .conftest import MODEL, Server, fixture, model_turn, text, tool_use
from .web_fakes import PAGES, RETRIEVED_AT, install

pytestmark = [pytest.mark.sandbox, pytest.mark.filterwarnings("ignore:The model")]

VERSIONS = ("20250910", "20260209", "20260309", "20260318")
PAGE = "https://docs.example.com/agentcore/web-search"
LIMITS = "https://docs.example.com/agentcore/limits"


def _tool(version: str, **options: Any) -> dict[str, Any]:
    tool: dict[str, Any] = {"type": f"web_fetch_{version}", "name": "web_fetch", **options}
    if version != "20250910":
        tool.setdefault("allowed_callers", ["direct"])  # calls from code: webcode's tests
    if version >= "20260309":
        tool.setdefault("use_cache", False)
    return tool


def _ask(server: Server, tool: dict[str, Any], prompt: str, *, beta: bool = True) -> Any:
    client = server.client()
    create = client.beta.messages.create if beta else client.messages.create
    return create(  # type: ignore[operator]
        model=MODEL, max_tokens=1024, tools=[tool], messages=[{"role": "user", "content": prompt}]
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_fetches_linked_pages_with_citations_and_usage(server: Server, version: str) -> None:
    """The user names a page; the page links to another, which may then be fetched too."""
    _, fetcher = install(server)
    tool = _tool(version, citations={"enabled": True}, max_content_tokens=5000)
    with server.replay("anthropic_web_fetch") as replay:
        r = _ask(server, tool, f"Read {PAGE} and tell me the query limit.")
    assert fetcher.fetched == [PAGE, LIMITS]
    results = [b for b in r.content if isinstance(b, beta_types.BetaWebFetchToolResultBlock)]
    uses = [b for b in r.content if isinstance(b, beta_types.BetaServerToolUseBlock)]
    assert [u.input for u in uses] == [{"url": PAGE}, {"url": LIMITS}]
    assert [res.tool_use_id for res in results] == [u.id for u in uses]
    first = results[0].content
    assert isinstance(first, beta_types.BetaWebFetchBlock)
    assert (first.url, first.retrieved_at) == (PAGE, RETRIEVED_AT)
    assert first.content.title == PAGES[PAGE][0]
    assert first.content.source.type == "text" and first.content.source.data == PAGES[PAGE][1]
    assert first.content.citations is not None and first.content.citations.enabled
    cite = r.content[-1].citations[0]
    assert cite.type == "char_location" and cite.document_title == "AgentCore limits"
    assert r.usage.server_tool_use.web_fetch_requests == 2
    assert r.usage.server_tool_use.web_search_requests == 0
    [doc] = [
        b
        for b in replay.exchanges[1].request["messages"][-1]["content"][0]["content"]
        if b["type"] == "document"
    ]
    assert doc["citations"] == {"enabled": True} and doc["source"]["data"] == PAGES[PAGE][1]


def test_streamed_fetch_matches_the_whole_response(server: Server) -> None:
    install(server)
    with (
        server.replay("anthropic_web_fetch"),
        server.client().messages.stream(
            model=MODEL,
            max_tokens=1024,
            tools=[_tool("20250910")],  # type: ignore[list-item]
            messages=[{"role": "user", "content": f"Read {PAGE}"}],
        ) as stream,
    ):
        events = list(stream)
        final = stream.get_final_message()
    starts = [e.content_block.type for e in events if e.type == "content_block_start"]
    assert starts == ["text", "server_tool_use", "web_fetch_tool_result"] * 2 + ["text"]
    fetched = [b for b in final.content if isinstance(b, types.WebFetchToolResultBlock)]
    assert [b.content.url for b in fetched] == [PAGE, LIMITS]  # type: ignore[union-attr]
    assert fetched[0].content.content.citations is None  # type: ignore[union-attr]
    assert final.usage.server_tool_use is not None
    assert final.usage.server_tool_use.web_fetch_requests == 2


def _refused(server: Server, tool: dict[str, Any], prompt: str, url: str) -> Any:
    turns = fixture(
        model_turn(tool_use("web_fetch", {"url": url}, "F")),
        model_turn(text("I cannot fetch that."), expect={"body_contains": ["error: "]}),
    )
    with server.replay(turns):
        r = _ask(server, tool, prompt)
    [result] = [b for b in r.content if isinstance(b, beta_types.BetaWebFetchToolResultBlock)]
    assert isinstance(result.content, beta_types.BetaWebFetchToolResultErrorBlock)
    assert r.usage.server_tool_use.web_fetch_requests == 0
    return result.content.error_code


def test_a_url_not_in_the_conversation_is_never_fetched(server: Server) -> None:
    """Anthropic's rule: the model cannot fetch a URL it made up (or was told by a page that
    was not fetched); the fetcher is never asked."""
    _, fetcher = install(server)
    code = _refused(server, _tool("20250910"), "Find the AgentCore limits.", LIMITS)
    assert code == "url_not_in_prior_context" and fetcher.fetched == []


def test_url_sources_none_for_user_input_refuses_a_user_named_url(server: Server) -> None:
    _, fetcher = install(server)
    tool = _tool("20260318", url_sources={"user_input": {"type": "none"}})
    code = _refused(server, tool, f"Read {PAGE}", PAGE)
    assert code == "url_not_in_prior_context" and fetcher.fetched == []


def test_domain_rules_refuse_before_fetching(server: Server) -> None:
    _, fetcher = install(server)
    tool = _tool("20260209", allowed_domains=["other.org"])
    code = _refused(server, tool, f"Read {PAGE}", PAGE)
    assert code == "url_not_allowed" and fetcher.fetched == []


def test_max_uses_past_the_limit(server: Server) -> None:
    _, fetcher = install(server)
    recorded = load_fixture("anthropic_web_fetch")["turns"][:2]
    last = model_turn(text("One fetch only."), expect={"body_contains": ["max_uses_exceeded"]})
    with server.replay(fixture(*recorded, last)):
        r = _ask(server, _tool("20250910", max_uses=1), f"Read {PAGE}", beta=False)
    results = [b for b in r.content if isinstance(b, types.WebFetchToolResultBlock)]
    assert isinstance(results[1].content, types.WebFetchToolResultErrorBlock)
    assert results[1].content.error_code == "max_uses_exceeded"
    assert fetcher.fetched == [PAGE]
    assert r.usage.server_tool_use is not None
    assert r.usage.server_tool_use.web_fetch_requests == 1
