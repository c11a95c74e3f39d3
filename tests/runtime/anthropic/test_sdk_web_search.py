"""Web search called directly by the model, through the real ``anthropic`` SDK under strict
response validation: every ``web_search_*`` version, whole and streamed, the history sent
back, ``max_uses``, domain rules, citations and usage.

The model's turns are replayed (``anthropic_web_search.json``, written by
``tests/fixtures/bedrock/_author_web.py``); the search runs on an in-test backend
(:mod:`.web_fakes`) injected as the function's ``web_search`` service.
"""

from __future__ import annotations

import anthropic
import pytest
from anthropic import types
from anthropic.types import beta as beta_types

from devtools.bedrock_replay import load_fixture

from .conftest import MODEL, Server, fixture, model_turn, text, tool_use
from .web_fakes import PAGES, install

pytestmark = [pytest.mark.sandbox, pytest.mark.filterwarnings("ignore:The model")]

VERSIONS = ("20250305", "20260209", "20260318")
PROMPT = "What does AgentCore web search return? Search the web."


def _tool(version: str, **options: object) -> dict:
    # allowed_callers "direct": the dynamic-filtering versions' calls from code are tested
    # in test_sdk_web_filtering.py
    callers = {} if version == "20250305" else {"allowed_callers": ["direct"]}
    return {"type": f"web_search_{version}", "name": "web_search", **callers, **options}


def _create(server: Server, version: str, **kwargs: object) -> types.Message:
    client = server.client()
    if version == "20250305":
        return client.messages.create(model=MODEL, max_tokens=1024, **kwargs)  # type: ignore[call-overload]
    message = client.beta.messages.create(model=MODEL, max_tokens=1024, **kwargs)  # type: ignore[call-overload]
    return message  # type: ignore[no-any-return]


@pytest.mark.parametrize("version", VERSIONS)
def test_search_results_citations_and_usage_in_anthropics_shapes(
    server: Server, version: str
) -> None:
    search, _ = install(server)
    with server.replay("anthropic_web_search", turns=slice(0, 2)) as replay:
        r = _create(
            server,
            version,
            tools=[_tool(version, user_location={"type": "approximate", "country": "DE"})],
            messages=[{"role": "user", "content": PROMPT}],
        )
    use, result, answer = r.content[1], r.content[2], r.content[4]
    assert use.type == "server_tool_use" and use.name == "web_search"
    assert use.id.startswith("srvtoolu_") and use.input == {"query": "AgentCore web search"}
    assert result.type == "web_search_tool_result" and result.tool_use_id == use.id
    assert isinstance(result.content, list) and len(result.content) == len(PAGES)
    assert [h.url for h in result.content] == list(PAGES)
    assert {h.page_age for h in result.content} == {"2026-11-30"}
    assert all(h.encrypted_content.startswith("bcx1.") for h in result.content)
    assert answer.type == "text" and answer.citations
    [cite] = answer.citations
    assert cite.type == "web_search_result_location"
    assert cite.url == "https://docs.example.com/agentcore/web-search"
    assert cite.cited_text.startswith("InvokeWebSearch returns up to 25 results")
    assert r.stop_reason == "end_turn" and r.container is None  # no sandbox for a search
    assert r.usage.server_tool_use is not None
    assert r.usage.server_tool_use.web_search_requests == 1
    assert r.usage.server_tool_use.web_fetch_requests == 0
    [request] = search.requests
    assert request.query == "AgentCore web search" and request.user_location == {
        "type": "approximate",
        "country": "DE",
    }
    sent = replay.exchanges[1].request
    [results] = [b for b in sent["messages"][-1]["content"] if b["type"] == "tool_result"]
    hits = results["content"]
    assert [h["type"] for h in hits] == ["search_result"] * 3
    assert hits[0]["source"] == "https://docs.example.com/agentcore/web-search"
    assert hits[0]["content"][0]["text"].startswith(PAGES[hits[0]["source"]][1])


def test_streamed_search_events_add_up_to_the_same_message(server: Server) -> None:
    install(server)
    with (
        server.replay("anthropic_web_search", turns=slice(0, 2)),
        server.client().messages.stream(
            model=MODEL,
            max_tokens=1024,
            tools=[_tool("20250305")],
            messages=[{"role": "user", "content": PROMPT}],
        ) as stream,
    ):
        events = list(stream)
        final = stream.get_final_message()
    starts = [e.content_block.type for e in events if e.type == "content_block_start"]
    assert starts == ["text", "server_tool_use", "web_search_tool_result", "text", "text"]
    deltas = [e.delta.type for e in events if e.type == "content_block_delta"]
    assert "citations_delta" in deltas and "input_json_delta" in deltas
    cite = next(e for e in events if e.type == "citation")
    assert cite.citation.type == "web_search_result_location"
    assert isinstance(final.content[2], types.WebSearchToolResultBlock)
    assert final.content[4].citations is not None
    assert final.content[4].citations[0].type == "web_search_result_location"
    assert final.usage.server_tool_use is not None
    assert final.usage.server_tool_use.web_search_requests == 1


def test_the_history_sent_back_rebuilds_what_the_model_saw(server: Server) -> None:
    """The gateway keeps nothing: the results and citations the client sends back become the
    search results and citations the model first saw (turn 3 checks the request)."""
    install(server)
    client = server.client()
    messages: list = [{"role": "user", "content": PROMPT}]
    with server.replay("anthropic_web_search", turns=slice(0, 3)) as replay:
        first = client.messages.create(
            model=MODEL, max_tokens=1024, tools=[_tool("20250305")], messages=messages
        )
        messages += [
            {
                "role": "assistant",
                "content": [b.model_dump(exclude_none=True) for b in first.content],
            },
            {"role": "user", "content": "Thanks. How long can a query be?"},
        ]
        second = client.messages.create(
            model=MODEL, max_tokens=1024, tools=[_tool("20250305")], messages=messages
        )
    assert second.content[0].type == "text" and "200 characters" in second.content[0].text
    seen, again = replay.exchanges[1].request["messages"], replay.exchanges[2].request["messages"]
    assert again[: len(seen)] == seen  # the same turns, rebuilt from the client's copy
    cited = again[len(seen)]["content"][1]["citations"][0]
    assert cited == replay.turns[1]["response"]["body"]["content"][1]["citations"][0]


def test_max_uses_past_the_limit_is_an_error_result(server: Server) -> None:
    search, _ = install(server)
    turns = fixture(
        model_turn(
            tool_use("web_search", {"query": "one"}, "A"),
            tool_use("web_search", {"query": "two"}, "B"),
            expect={"tools": ["web_search"]},
        ),
        model_turn(
            text("Only one search was allowed."), expect={"body_contains": ["max_uses_exceeded"]}
        ),
    )
    with server.replay(turns):
        r = server.client().messages.create(
            model=MODEL,
            max_tokens=1024,
            tools=[_tool("20250305", max_uses=1)],
            messages=[{"role": "user", "content": PROMPT}],
        )
    results = [b for b in r.content if isinstance(b, types.WebSearchToolResultBlock)]
    assert isinstance(results[0].content, list)
    assert isinstance(results[1].content, types.WebSearchToolResultErrorObject)
    assert results[1].content.error_code == "max_uses_exceeded"
    assert len(search.requests) == 1
    assert r.usage.server_tool_use is not None
    assert r.usage.server_tool_use.web_search_requests == 1


def test_domain_rules_reach_the_backend(server: Server) -> None:
    search, _ = install(server)
    turns = fixture(
        model_turn(tool_use("web_search", {"query": "news"}, "C")),
        model_turn(text("Done."), expect={"body_lacks": ["docs.example.com"]}),
    )
    with server.replay(turns):
        r = server.client().beta.messages.create(
            model=MODEL,
            max_tokens=1024,
            tools=[_tool("20260318", blocked_domains=["example.com"])],
            messages=[{"role": "user", "content": "news?"}],
        )
    result = r.content[1]
    assert isinstance(result, beta_types.BetaWebSearchToolResultBlock)
    assert isinstance(result.content, list)
    assert [h.url for h in result.content] == ["https://blog.other.org/search-news"]
    assert search.requests[0].blocked_domains == ("example.com",)


@pytest.mark.parametrize(
    ("tool", "field"),
    [
        ({"allowed_domains": ["a.com"], "blocked_domains": ["b.com"]}, "tools.0"),
        ({"max_uses": 0}, "tools.0.max_uses"),
        ({"user_location": {"type": "exact"}}, "tools.0.user_location"),
        ({"citations": {"enabled": True}}, "tools.0.citations"),
        ({"name": "search"}, "tools.0.name"),
    ],
)
def test_bad_tool_entries_are_400s_naming_the_field(server: Server, tool: dict, field: str) -> None:
    with pytest.raises(anthropic.BadRequestError) as err:
        server.client().messages.create(
            model=MODEL,
            max_tokens=10,
            tools=[{**_tool("20250305"), **tool}],  # type: ignore[list-item]
            messages=[{"role": "user", "content": "hi"}],
        )
    assert field in err.value.message


def test_an_unknown_version_is_a_400_listing_the_known_ones(server: Server) -> None:
    with pytest.raises(anthropic.BadRequestError) as err:
        server.client().messages.create(
            model=MODEL,
            max_tokens=10,
            tools=[{"type": "web_search_20990101", "name": "web_search"}],  # type: ignore[list-item]
            messages=[{"role": "user", "content": "hi"}],
        )
    assert "web_search_20250305" in err.value.message and "tools.0.type" in err.value.message


def test_the_recording_answers_only_stand_in_tools() -> None:
    data = load_fixture("anthropic_web_search")
    assert data["turns"][0]["expect"]["tools"] == ["web_search"]


def test_claude_codes_web_search_entry_is_accepted() -> None:
    """What Claude Code 2.1.328's WebSearch tool sends in its sub-request (read from the pinned
    CLI): ``max_uses: 8``, the domain lists when set, ``search_profile`` when set."""
    from code_exec.anthropic.tools import plan_tools
    from code_exec.anthropic.wire import MessagesRequest

    entry = {
        "type": "web_search_20250305",
        "name": "web_search",
        "allowed_domains": ["docs.example.com"],
        "max_uses": 8,
        "search_profile": "fast",
    }
    request = MessagesRequest.model_validate(
        {
            "model": MODEL,
            "max_tokens": 10,
            "messages": [{"role": "user", "content": "Perform a web search for the query: x"}],
            "tools": [entry],
            "tool_choice": {"type": "tool", "name": "web_search"},
        }
    )
    plan = plan_tools(request)
    [tool] = plan.direct_web
    assert tool.max_uses == 8 and tool.domains("allowed") == ("docs.example.com",)
    assert [t["name"] for t in plan.bedrock_tools()] == ["web_search"]
    assert "search_profile" not in str(plan.bedrock_tools())


def test_an_encrypted_content_this_deployment_did_not_write_is_a_400(server: Server) -> None:
    hit = {"type": "web_search_result", "url": "https://a.test/", "title": "A"}
    history = [
        {"role": "user", "content": PROMPT},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "server_tool_use",
                    "id": "srvtoolu_01x",
                    "name": "web_search",
                    "input": {"query": "q"},
                },
                {
                    "type": "web_search_tool_result",
                    "tool_use_id": "srvtoolu_01x",
                    "content": [{**hit, "encrypted_content": "Eo8BCioIAhgBIiQ"}],
                },
            ],
        },
        {"role": "user", "content": "and?"},
    ]
    with pytest.raises(anthropic.BadRequestError) as err:
        server.client().messages.create(
            model=MODEL, max_tokens=10, tools=[_tool("20250305")], messages=history
        )
    assert "messages.1.content.1.content.0.encrypted_content" in err.value.message


def test_a_search_left_unanswered_runs_in_the_continuation_without_a_container(
    server: Server,
) -> None:
    """A ``pause_turn`` (or a turn that ended on a client tool) can leave a search unanswered;
    the client sends the turn back and the gateway runs it first, then calls the model."""
    search, _ = install(server)
    history = [
        {"role": "user", "content": PROMPT},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "I'll search for that."},
                {
                    "type": "server_tool_use",
                    "id": "srvtoolu_bdrk_01PAUSED",
                    "name": "web_search",
                    "input": {"query": "AgentCore web search"},
                },
            ],
        },
    ]
    with server.replay("anthropic_web_search", turns=slice(1, 2)) as replay:
        r = server.client().messages.create(
            model=MODEL, max_tokens=1024, tools=[_tool("20250305")], messages=history
        )
    assert r.content[0].type == "web_search_tool_result"
    assert r.content[0].tool_use_id == "srvtoolu_bdrk_01PAUSED"
    assert [q.query for q in search.requests] == ["AgentCore web search"]
    assert r.container is None and r.usage.server_tool_use is not None
    assert r.usage.server_tool_use.web_search_requests == 1
    sent = replay.exchanges[0].request["messages"]
    assert sent[1]["content"][1] == {
        "type": "tool_use",
        "id": "toolu_bdrk_01PAUSED",
        "name": "web_search",
        "input": {"query": "AgentCore web search"},
    }
    assert sent[2]["content"][0]["tool_use_id"] == "toolu_bdrk_01PAUSED"


def test_web_search_next_to_code_execution(server: Server) -> None:
    """Both server tools in one request: the model sees both sets of stand-ins; the search
    runs here, the command in the container, and usage counts each."""
    install(server)
    turns = fixture(
        model_turn(
            tool_use("web_search", {"query": "AgentCore limits"}, "W"),
            expect={"tools": ["bash_code_execution", "text_editor_code_execution", "web_search"]},
        ),
        model_turn(tool_use("bash_code_execution", {"command": "echo $((200 / 8))"}, "B")),
        model_turn(text("25 per search."), expect={"body_contains": ["25"]}),
    )
    with server.replay(turns):
        r = server.client().beta.messages.create(
            model=MODEL,
            max_tokens=1024,
            tools=[
                {"type": "code_execution_20250825", "name": "code_execution"},
                _tool("20260209"),
            ],
            betas=["code-execution-2025-08-25"],
            messages=[{"role": "user", "content": PROMPT}],
        )
    kinds = [b.type for b in r.content]
    assert kinds == [
        "server_tool_use",
        "web_search_tool_result",
        "server_tool_use",
        "bash_code_execution_tool_result",
        "text",
    ]
    assert r.content[3].content.stdout == "25\n"  # type: ignore[union-attr]
    assert r.container is not None
    usage = r.usage.server_tool_use
    assert usage is not None and usage.web_search_requests == 1
    assert usage.model_extra == {"code_execution_requests": 1}
