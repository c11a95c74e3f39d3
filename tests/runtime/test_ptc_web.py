"""``web_search`` / ``web_fetch`` as built-in bridged PTC tools of the product's own loops.

A turn with ``web`` gets both tools as async functions in its cells; a call is relayed out
of the sandbox and served here by the web backends (a small in-memory site implementing the
``WebSearch`` / ``WebFetcher`` protocols: no packet leaves the machine), and only what the
cell prints reaches the model. The model's turns are recorded (Bedrock's InvokeModel shape);
the code runs for real in the emulator through the bridged runner.
"""

from __future__ import annotations

from typing import Any

import pytest
from code_exec.agent import check_web
from code_exec.exceptions import RequestValidationError, ToolError
from code_exec.models import AgentRequest
from code_exec.ptc.web_tools import UrlLedger, WebLimits, WebSession, normalize_url
from code_exec.web.types import SearchHit, SearchRequest
from pydantic import ValidationError

from devtools.bedrock_replay import bedrock_client, play

from .web_site import PAGES, Site

# --- the session's rules ---------------------------------------------------------------


def test_fetch_names_only_urls_seen_in_the_conversation_or_in_results():
    site = Site()
    ledger = UrlLedger()
    ledger.add_text("The timetable is at https://ferries.example/oslo.")  # the prompt
    web = WebSession(site, site, ledger=ledger)
    with pytest.raises(ToolError, match="web_fetch: url_not_in_prior_context"):
        web.fetch("https://ferries.example/bergen")
    assert web.fetch("https://ferries.example/oslo")["title"] == "Oslo ferries"  # from the prompt
    assert [h["url"] for h in web.search("Bergen-Stavanger")] == ["https://ferries.example/bergen"]
    assert web.fetch("https://ferries.example/bergen#table")["title"] == "Bergen ferries"
    # a URL written in a fetched page may be fetched next (Anthropic counts fetch results)
    assert web.fetch("https://ferries.example/archive")["text"] == "old timetables"
    assert site.fetched == [
        "https://ferries.example/oslo",
        "https://ferries.example/bergen#table",
        "https://ferries.example/archive",
    ]
    assert (web.search_requests, web.fetch_requests) == (1, 3)


def test_each_tool_has_its_own_use_budget_and_refusals_are_not_counted():
    site = Site()
    web = WebSession(site, site, limits=WebLimits(search_max_uses=1, fetch_max_uses=1))
    web.search("Oslo-Kiel")
    with pytest.raises(ToolError, match="web_search: max_uses_exceeded"):
        web.search("Oslo-Kiel")
    with pytest.raises(ToolError, match="url_not_in_prior_context"):
        web.fetch("https://elsewhere.example/")
    web.fetch("https://ferries.example/oslo")
    with pytest.raises(ToolError, match="web_fetch: max_uses_exceeded"):
        web.fetch("https://ferries.example/oslo")
    assert (web.search_requests, web.fetch_requests) == (1, 1)
    assert len(site.searches) == 1 and len(site.fetched) == 1


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda w: w.search("q" * 201), "query_too_long"),
        (lambda w: w.search("   "), "invalid_tool_input"),
        (lambda w: w.fetch("ftp://ferries.example/oslo"), "invalid_tool_input"),
        (lambda w: w.fetch("https://ferries.example/" + "a" * 2100), "url_too_long"),
    ],
)
def test_bad_input_is_refused_with_anthropics_code_before_any_backend_call(call, code):
    site = Site()
    web = WebSession(site, site, ledger=UrlLedger(["https://ferries.example/" + "a" * 2100]))
    with pytest.raises(ToolError, match=code):
        call(web)
    assert site.searches == [] and site.fetched == []


def test_a_backend_failure_reaches_the_code_as_its_code_never_its_message():
    class Broken:
        def search(self, request: SearchRequest) -> list[SearchHit]:
            raise RuntimeError("secret-internal-detail")

    web = WebSession(Broken(), None)
    with pytest.raises(ToolError) as e:
        web.search("anything")
    assert str(e.value.message) == "web_search: unavailable"
    assert [t.name for t in web.tools()] == ["web_search"]  # no fetcher: no web_fetch tool


def test_domain_filters_reach_the_backend():
    site = Site()
    web = WebSession(site, site, limits=WebLimits(allowed_domains=("ferries.example",)))
    web.search("Oslo-Kiel", max_results=99)
    assert site.searches[0].allowed_domains == ("ferries.example",)
    assert site.searches[0].max_results == 25


def test_the_ledger_compares_normalized_urls_and_is_bounded():
    assert normalize_url("HTTPS://Ferries.Example/Oslo#x") == "https://ferries.example/Oslo"
    assert normalize_url("javascript:alert(1)") is None
    ledger = UrlLedger()
    ledger.add_text(" ".join(f"https://h{i}.example/" for i in range(25_000)))
    assert len(ledger) == 20_000


# --- the request field -------------------------------------------------------------------


def test_the_web_field_is_validated():
    assert AgentRequest(prompt="p", web={}).web.search is True
    with pytest.raises(ValidationError, match="cannot both be set"):
        AgentRequest(prompt="p", web={"allowed_domains": ["a.com"], "blocked_domains": ["b.com"]})
    with pytest.raises(ValidationError, match="enable search, fetch or both"):
        AgentRequest(prompt="p", web={"search": False, "fetch": False})
    with pytest.raises(ValidationError, match="is not a domain"):
        AgentRequest(prompt="p", web={"allowed_domains": ["https://a.com"]})
    with pytest.raises(ValidationError, match="Extra inputs"):
        AgentRequest(prompt="p", web={"crawl": True})
    with pytest.raises(RequestValidationError) as e:
        check_web(AgentRequest(prompt="p", loop="claude_code", web={}))
    assert e.value.field == "web"


# --- end to end: a cell searches, fetches in parallel, filters, prints one line -------------

CELL = (
    "import asyncio\n"
    "hits = await web_search(query='Bergen-Stavanger Oslo-Kiel')\n"
    "pages = await asyncio.gather(*[web_fetch(url=h['url']) for h in hits])\n"
    "rows = [ln for p in pages for ln in p['text'].splitlines() if ln.count('|') == 3\n"
    "        and ':' in ln]\n"
    "print(len(pages), 'pages;', ' '.join(r.strip('| ').replace(' | ', '=') for r in rows))\n"
    "try:\n"
    "    await web_fetch(url='https://elsewhere.example/secret')\n"
    "except ToolError as e:\n"
    "    print('refused:', e)\n"
)


def _turn(*content: dict[str, Any], expect: dict[str, Any]) -> dict[str, Any]:
    uses = any(b["type"] == "tool_use" for b in content)
    return {
        "expect": {"operation": "InvokeModel", **expect},
        "response": {
            "status": 200,
            "headers": {"Content-Type": "application/json"},
            "body": {
                "id": "msg_bdrk_01" + "w" * 22,
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5-20250929",
                "content": list(content),
                "stop_reason": "tool_use" if uses else "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 900, "output_tokens": 120},
            },
        },
    }


FIXTURE = {
    "name": "invoke_web_ferries",
    "calls": [{"prompt": "When do the Bergen and Oslo ferries leave?", "mode": "ptc"}],
    "turns": [
        _turn(
            {
                "type": "tool_use",
                "id": "toolu_bdrk_01web",
                "name": "execute_code",
                "input": {"code": CELL},
            },
            expect={
                "tools": ["execute_code"],
                "system_contains": [
                    "async def web_search(query: str, max_results: int = 5)",
                    "async def web_fetch(url: str)",
                ],
            },
        ),
        _turn(
            {"type": "text", "text": "Bergen-Stavanger leaves 07:30, Oslo-Kiel 14:00."},
            expect={
                "tool_results": [
                    {
                        "is_error": False,
                        "contains": [
                            "2 pages; Bergen-Stavanger=07:30 Oslo-Kiel=14:00",
                            "refused: web_fetch: url_not_in_prior_context",
                        ],
                    }
                ],
                "body_lacks": ["FILLER-PARAGRAPH"],  # the pages stayed in the sandbox
            },
        ),
    ],
}


@pytest.mark.sandbox
def test_a_cell_searches_fetches_and_filters_and_only_its_print_reaches_the_model(sandbox):
    site = Site()
    played = play(
        FIXTURE,
        loop="messages",
        sandbox=sandbox,
        bedrock=bedrock_client(),
        extra_deps={"web_search": site, "web_fetcher": site},
        web={"max_uses": 5},
    )
    sandbox.stop_session(played.session_id)
    result = played.runs[0].result
    assert result.text == "Bergen-Stavanger leaves 07:30, Oslo-Kiel 14:00."
    assert sorted(site.fetched) == [
        "https://ferries.example/bergen",
        "https://ferries.example/oslo",
    ]
    assert [s.query for s in site.searches] == ["Bergen-Stavanger Oslo-Kiel"]
    # the pages (tens of kilobytes) never reached the model: its second request is small
    assert len(played.replay.exchanges[1].body) < len(PAGES["https://ferries.example/oslo"][1])


@pytest.mark.parametrize(
    ("web", "loop", "field"),
    [
        ({"allowed_domains": ["a.com"], "blocked_domains": ["b.com"]}, "messages", "web"),
        ({"max_uses": 0}, "messages", "web.max_uses"),
        ({"search": [1]}, "converse", "web.search"),
        ({}, "claude_code", "web"),
    ],
)
def test_invoke_and_jobs_answer_400_naming_the_web_field(api, web, loop, field):
    for route in ("invoke", "jobs_post"):
        resp = api.call(route, body={"prompt": "hi", "loop": loop, "web": web})
        assert resp.status == 400, resp.body
        assert resp.error["field"] == field, resp.body


def test_direct_mode_gives_the_model_the_same_tools_bound_to_the_turn():
    from code_exec.loops.toolbox import DirectTools

    site = Site()
    tools = DirectTools(WebSession(site, site).tools())
    assert [s.name for s in tools.specs] == ["web_search", "web_fetch"]
    refused = tools.run("web_fetch", {"url": "https://ferries.example/oslo"})
    assert refused.is_error and "url_not_in_prior_context" in refused.text
    found = tools.run("web_search", {"query": "Oslo-Kiel"})
    assert not found.is_error and "https://ferries.example/oslo" in found.text
    page = tools.run("web_fetch", {"url": "https://ferries.example/oslo"})
    assert "| Oslo-Kiel | 14:00 |" in page.text  # direct mode: the page enters the context
