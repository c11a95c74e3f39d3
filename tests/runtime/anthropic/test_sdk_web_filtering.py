"""Dynamic filtering through the real ``anthropic`` SDK (strict response validation).

``web_search_20260209`` / ``web_fetch_20260209`` (and the ``20260318`` versions with
``response_inclusion``) are callable from the code execution container: the model's cell awaits
``web_search`` / ``web_fetch``, the gateway serves each call (the web backends are a small
in-memory site: no packet leaves the machine), and only what the cell prints reaches the model.
The response shows each call as a nested ``server_tool_use`` whose ``caller`` is the code
execution use, with its result block; ``usage.server_tool_use`` counts them. The model's turns
are recorded (Bedrock's wire shape); the code runs for real in the emulator.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from anthropic.types import (
    CodeExecutionToolResultBlock,
    ServerToolUseBlock,
    TextBlock,
    WebFetchToolResultBlock,
    WebSearchToolResultBlock,
)

from ..web_site import FILLER, Site
from .conftest import MODEL, Server, fixture, model_turn, text, tool_use

pytestmark = [pytest.mark.sandbox, pytest.mark.filterwarnings("ignore:The model")]

CELL = (
    "import asyncio, json\n"
    "hits = json.loads(await web_search({'query': 'Bergen-Stavanger Oslo-Kiel'}))\n"
    "pages = await asyncio.gather(*[web_fetch({'url': h['url']}) for h in hits])\n"
    "texts = [json.loads(p)['text'] for p in pages]\n"
    "rows = sorted(ln.strip('| ').replace(' | ', '=') for t in texts\n"
    "              for ln in t.splitlines() if ln.count('|') == 3 and ':' in ln)\n"
    "print(len(pages), 'pages;', ' '.join(rows))\n"
    "try:\n"
    "    await web_fetch(url='https://elsewhere.example/secret')\n"
    "except ToolError as e:\n"
    "    print('refused:', e)\n"
)
PRINTED = "2 pages; Bergen-Stavanger=07:30 Oslo-Kiel=14:00"
ANSWER = "Bergen-Stavanger leaves at 07:30 and Oslo-Kiel at 14:00."
PROMPT = "When do the Bergen and Oslo ferries leave?"


def _recording() -> dict[str, Any]:
    return fixture(
        model_turn(
            text("I'll search and keep only the timetable rows."),
            tool_use("code_execution", {"code": CELL}, "webcell"),
            expect={
                # the default allowed_callers: from code, and directly (the stand-ins)
                "tools": [
                    "bash_code_execution",
                    "text_editor_code_execution",
                    "code_execution",
                    "web_search",
                    "web_fetch",
                ],
                "body_contains": [
                    "async def web_search(input: dict) -> str",
                    "async def web_fetch(input: dict) -> str",
                ],
                "body_lacks": ["web_search_2026", "web_fetch_2026", "response_inclusion"],
            },
        ),
        model_turn(
            text(ANSWER),
            expect={
                "tool_results": [
                    {
                        "is_error": False,
                        "contains": [PRINTED, "refused: web_fetch: url_not_in_prior_context"],
                    }
                ],
                "body_lacks": ["FILLER-PARAGRAPH"],  # the pages stayed in the container
            },
        ),
        name="anthropic_web_filtering",
    )


@pytest.fixture
def site(server: Server) -> Iterator[Site]:
    site = Site()
    server.services.override(web_search=site, web_fetcher=site)
    try:
        yield site
    finally:
        server.services.reset()
        server.services.override(bedrock=server.bedrock)


def _tools(search: str, fetch: str, **extra: Any) -> list[dict[str, Any]]:
    return [
        {"type": search, "name": "web_search", **extra},
        {"type": fetch, "name": "web_fetch", **extra},
    ]


def _nested(content: list[Any], code_use: ServerToolUseBlock) -> list[Any]:
    return [b for b in content if getattr(b, "caller", None) is not None]


def test_code_calls_web_tools_and_only_its_printout_reaches_the_model(server, site):
    client = server.client()
    with server.replay(_recording()) as replay:
        r = client.messages.create(
            model=MODEL,
            max_tokens=2048,
            tools=_tools("web_search_20260209", "web_fetch_20260209"),
            messages=[{"role": "user", "content": PROMPT}],
        )
    replay.assert_done()
    code_use = next(b for b in r.content if isinstance(b, ServerToolUseBlock))
    assert code_use.name == "code_execution" and code_use.caller is None
    nested = _nested(r.content, code_use)
    assert [b.type for b in nested] == ["server_tool_use", "web_search_tool_result"] + [
        "server_tool_use",
        "web_fetch_tool_result",
    ] * 3
    for block in nested:
        assert block.caller.type == "code_execution_20260120"
        assert block.caller.tool_id == code_use.id
    uses = {b.id: b for b in nested if isinstance(b, ServerToolUseBlock)}
    results = [b for b in nested if not isinstance(b, ServerToolUseBlock)]
    assert all(res.tool_use_id in uses for res in results)
    search = next(b for b in results if isinstance(b, WebSearchToolResultBlock))
    assert uses[search.tool_use_id].input == {"query": "Bergen-Stavanger Oslo-Kiel"}
    assert sorted(hit.url for hit in search.content) == [
        "https://ferries.example/bergen",
        "https://ferries.example/oslo",
    ]
    fetched = [b for b in results if isinstance(b, WebFetchToolResultBlock)]
    pages = [b.content for b in fetched if b.content.type == "web_fetch_result"]
    assert sorted(p.url for p in pages) == sorted(h.url for h in search.content)
    assert all(FILLER in p.content.source.data for p in pages)  # raw pages: in the response
    refused = [b.content for b in fetched if b.content.type == "web_fetch_tool_result_error"]
    assert [e.error_code for e in refused] == ["url_not_in_prior_context"]
    outcome = next(b for b in r.content if isinstance(b, CodeExecutionToolResultBlock))
    assert outcome.tool_use_id == code_use.id and PRINTED in outcome.content.stdout
    # the nested blocks come between the code execution use and its result
    order = [id(b) for b in r.content]
    assert order.index(id(code_use)) < order.index(id(nested[0]))
    assert order.index(id(nested[-1])) < order.index(id(outcome))
    assert isinstance(r.content[-1], TextBlock) and r.content[-1].text == ANSWER
    assert r.usage.server_tool_use.web_search_requests == 1
    assert r.usage.server_tool_use.web_fetch_requests == 2
    assert sorted(site.fetched) == [
        "https://ferries.example/bergen",
        "https://ferries.example/oslo",
    ]

    # the response goes back as history: the nested blocks validate, and never reach the model
    follow_up = fixture(
        model_turn(
            text("Yes: both leave daily."),
            expect={"contains": [PRINTED, ANSWER], "body_lacks": ["FILLER-PARAGRAPH"]},
        )
    )
    with server.replay(follow_up) as replay:
        again = client.messages.create(
            model=MODEL,
            max_tokens=2048,
            container=r.container.id,
            tools=_tools("web_search_20260209", "web_fetch_20260209"),
            messages=[
                {"role": "user", "content": PROMPT},
                {"role": "assistant", "content": r.content},
                {"role": "user", "content": "Daily?"},
            ],
        )
    replay.assert_done()
    assert again.content[-1].text == "Yes: both leave daily."
    assert again.usage.server_tool_use.web_fetch_requests == 0


def test_response_inclusion_excluded_drops_the_nested_pairs_when_the_stream_completes(server, site):
    client = server.client()
    with (
        server.replay(_recording()) as replay,
        client.messages.stream(
            model=MODEL,
            max_tokens=2048,
            tools=_tools(
                "web_search_20260318", "web_fetch_20260318", response_inclusion="excluded"
            ),
            messages=[{"role": "user", "content": PROMPT}],
        ) as stream,
    ):
        events = list(stream)
        final = stream.get_final_message()
    replay.assert_done()
    assert [b.type for b in final.content] == [
        "text",
        "server_tool_use",
        "code_execution_tool_result",
        "text",
    ]
    assert PRINTED in final.content[2].content.stdout
    started = [e.content_block.type for e in events if e.type == "content_block_start"]
    assert "web_fetch_tool_result" not in started and "web_search_tool_result" not in started
    assert final.usage.server_tool_use.web_search_requests == 1
    assert final.usage.server_tool_use.web_fetch_requests == 2


def test_full_inclusion_streams_the_nested_blocks_whole(server, site):
    client = server.client()
    with (
        server.replay(_recording()) as replay,
        client.beta.messages.stream(
            model=MODEL,
            max_tokens=2048,
            tools=_tools("web_search_20260318", "web_fetch_20260309"),
            messages=[{"role": "user", "content": PROMPT}],
        ) as stream,
    ):
        final = stream.get_final_message()
    replay.assert_done()
    kinds = [b.type for b in final.content]
    assert kinds.count("web_fetch_tool_result") == 3 and kinds.count("web_search_tool_result") == 1
    nested = [b for b in final.content if getattr(b, "caller", None) is not None]
    assert {b.caller.type for b in nested} == {"code_execution_20260120"}


def test_a_web_tool_entry_is_validated_like_anthropics(server):
    client = server.client()
    bad = [
        ({"type": "web_search_20260209", "name": "web_search", "response_inclusion": "full"},
         "response_inclusion"),
        ({"type": "web_fetch_20260209", "name": "web_fetch", "use_cache": False}, "use_cache"),
        ({"type": "web_search_20260209", "name": "web_search", "allowed_domains": ["a.com"],
          "blocked_domains": ["b.com"]}, "cannot both be set"),
        ({"type": "web_search_20260209", "name": "web_search", "max_uses": 0}, "max_uses"),
        ({"type": "web_search_20260101", "name": "web_search"}, "unknown web tool type"),
    ]  # fmt: skip
    for tool, why in bad:
        with pytest.raises(anthropic.BadRequestError) as e:
            client.messages.create(
                model=MODEL,
                max_tokens=64,
                tools=[tool],
                messages=[{"role": "user", "content": "hi"}],
            )
        assert why in json.dumps(e.value.body), (tool, e.value.body)


def test_a_round_is_capped_and_bad_input_is_an_error_block_not_a_backend_call():
    from code_exec.anthropic.web_code import CodeWeb
    from code_exec.anthropic.web_tools import parse_web_tool
    from code_exec.ptc import PendingCall
    from code_exec.ptc.bridge import MAX_CALLS_PER_ROUND
    from code_exec.ptc.web_tools import UrlLedger

    site = Site()
    tool = parse_web_tool({"type": "web_search_20260209", "name": "web_search"}, "tools.0")
    web = CodeWeb(
        [tool],
        caller_type="code_execution_20260120",
        search=lambda: site,
        fetcher=lambda: site,
        ledger=UrlLedger(),
    )
    calls = [PendingCall("e" * 16, "web_search", {"query": 5})]  # not a string
    calls += [
        PendingCall(f"{i:016x}", "web_search", {"query": "Oslo-Kiel"})
        for i in range(MAX_CALLS_PER_ROUND + 1)
    ]
    calls += [PendingCall("f" * 16, "get_weather", {"city": "Oslo"})]  # the client's
    served = web.serve(calls, "srvtoolu_code")
    assert [c.tool for c in served.rest] == ["get_weather"]
    refused = sorted(o["error"]["message"] for o in served.outcomes.values() if not o["ok"])
    assert refused == ["web_search: invalid_tool_input"] + ["web_search: too_many_requests"] * 2
    assert len(site.searches) == web.search_requests == MAX_CALLS_PER_ROUND - 1
    errors = [b["content"] for b in served.blocks if b["type"] == "web_search_tool_result"]
    assert sum(isinstance(c, dict) for c in errors) == 3  # error objects, rendered as blocks
    assert all(b["caller"]["tool_id"] == "srvtoolu_code" for b in served.blocks)


def test_direct_calls_and_calls_from_code_share_the_fetchable_urls():
    from code_exec.anthropic.usage import Usage
    from code_exec.anthropic.web_code import seen_urls
    from code_exec.anthropic.web_direct import DirectWeb
    from code_exec.anthropic.web_tools import parse_web_tool

    fetch = parse_web_tool({"type": "web_fetch_20260209", "name": "web_fetch"}, "tools.0")
    direct = DirectWeb((fetch,), [], Usage(), search=lambda: None, fetcher=lambda: None)
    ledger = seen_urls([], (fetch,), direct)
    assert "https://ferries.example/oslo" not in ledger
    direct.seen.add("https://ferries.example/oslo")  # a direct search of this request found it
    assert "https://ferries.example/oslo" in ledger
    ledger.add(["https://ferries.example/bergen"])  # a search from code found this one
    assert "https://ferries.example/bergen" in direct.seen
    only_code = parse_web_tool(
        {
            "type": "web_fetch_20260209",
            "name": "web_fetch",
            "allowed_callers": ["code_execution_20260120"],
        },
        "tools.0",
    )
    no_direct = DirectWeb((only_code,), [], Usage(), search=lambda: None, fetcher=lambda: None)
    own = seen_urls([], (only_code,), no_direct)  # no direct fetch: a record of its own
    own.add(["https://ferries.example/bergen"])
    assert "https://ferries.example/bergen" in own and not no_direct.seen


MIXED_CELL = (
    "import asyncio, json\n"
    "hits, weather = await asyncio.gather(\n"
    "    web_search({'query': 'Oslo-Kiel'}), get_weather({'city': 'Oslo'}))\n"
    "print(len(json.loads(hits)), 'hit;', weather)\n"
)


def test_a_round_mixing_web_and_client_calls_pauses_for_the_client_only(server, site):
    weather = {
        "name": "get_weather",
        "description": "The weather in a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        "allowed_callers": ["code_execution_20260120"],
    }
    tools = [
        {"type": "code_execution_20260120", "name": "code_execution"},
        {"type": "web_search_20260318", "name": "web_search", "response_inclusion": "excluded"},
        weather,
    ]
    recording = fixture(
        model_turn(tool_use("code_execution", {"code": MIXED_CELL}, "mixed")),
        model_turn(
            text("One ferry page; Oslo is sunny."),
            expect={"tool_results": [{"is_error": False, "contains": ["1 hit; sunny"]}]},
        ),
    )
    client = server.client()
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Ferries and weather?"}]
    with server.replay(recording) as replay:
        first = client.messages.create(model=MODEL, max_tokens=2048, tools=tools, messages=messages)
        assert first.stop_reason == "tool_use"
        code_use = next(b for b in first.content if isinstance(b, ServerToolUseBlock))
        kinds = [(b.type, getattr(b, "name", None)) for b in first.content]
        # the web pair stays (the cell paused before completing), then the client's call
        assert kinds == [
            ("server_tool_use", "code_execution"),
            ("server_tool_use", "web_search"),
            ("web_search_tool_result", None),
            ("tool_use", "get_weather"),
        ]
        call = first.content[-1]
        assert call.caller.tool_id == code_use.id and first.content[1].caller.tool_id == code_use.id
        assert first.usage.server_tool_use.web_search_requests == 1
        messages += [
            {"role": "assistant", "content": first.content},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}],
            },
        ]
        second = client.messages.create(
            model=MODEL,
            max_tokens=2048,
            tools=tools,
            messages=messages,
            container=first.container.id,
        )
    replay.assert_done()
    outcome = next(b for b in second.content if isinstance(b, CodeExecutionToolResultBlock))
    assert outcome.tool_use_id == code_use.id and "1 hit; sunny" in outcome.content.stdout
    assert second.content[-1].text == "One ferry page; Oslo is sunny."
    assert second.usage.server_tool_use.web_search_requests == 0
    assert len(site.searches) == 1  # the search ran once, in the first request
