"""The two tool searches as Anthropic describes them, and BM25 against a reference package."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from code_exec.anthropic import tool_search
from code_exec.anthropic.bedrock import request_body
from code_exec.anthropic.bm25 import bm25_scores, tokenize
from code_exec.anthropic.tool_search import BM25, REGEX, Searchable, search
from code_exec.anthropic.tools import plan_tools
from code_exec.anthropic.wire import MessagesRequest
from rank_bm25 import BM25Okapi

CATALOG = [
    Searchable.of(
        "get_weather",
        "Current conditions at a location.",
        {"properties": {"city": {"type": "string", "description": "A city name"}}},
    ),
    Searchable.of("get_stock_price", "Latest price of a ticker symbol."),
    Searchable.of("send_slack_message", "Post to a Slack channel."),
    Searchable.of("getWeatherForecast", "Five-day forecast for a city."),
]


def _names(content: dict[str, Any]) -> list[str]:
    assert content["type"] == "tool_search_tool_search_result", content
    return [r["tool_name"] for r in content["tool_references"]]


@pytest.mark.parametrize(
    ("pattern", "found"),
    [
        ("weather", ["get_weather", "getWeatherForecast"]),  # case-insensitive
        ("^get_.*_price$", ["get_stock_price"]),  # each field on its own
        ("slack|discord", ["send_slack_message"]),
        ("a city name", ["get_weather"]),  # argument descriptions are searched
        ("ticker", ["get_stock_price"]),
        ("nothing_like_this", []),  # not an error: an empty list
    ],
)
def test_regex_searches_names_descriptions_and_arguments(pattern: str, found: list[str]) -> None:
    assert _names(search(REGEX, {"pattern": pattern}, CATALOG)) == found


def test_limit_caps_the_results_and_defaults_to_five() -> None:
    many = [Searchable.of(f"tool_{i}", "does things") for i in range(8)]
    assert len(_names(search(REGEX, {"pattern": "tool"}, many))) == 5
    assert _names(search(REGEX, {"pattern": "tool", "limit": 2}, many)) == ["tool_0", "tool_1"]
    assert len(_names(search(BM25, {"query": "things", "limit": 7}, many))) == 7


@pytest.mark.parametrize(
    ("name", "tool_input", "message"),
    [
        (REGEX, {"pattern": "get_weather("}, "Invalid regular expression pattern: missing )"),
        (REGEX, {"pattern": "x" * 201}, "pattern is longer than 200 characters"),
        (BM25, {"query": "x " * 251}, "query is longer than 500 characters"),
        (REGEX, {"query": "weather"}, "pattern must be a non-empty string"),
        (BM25, {"query": "  "}, "query must be a non-empty string"),
        (REGEX, {"pattern": "a", "limit": 0}, "limit must be an integer from 1 to 10000"),
        (BM25, {"query": "a", "limit": True}, "limit must be an integer from 1 to 10000"),
    ],
)
def test_bad_input_is_an_invalid_tool_input_error(
    name: str, tool_input: dict[str, Any], message: str
) -> None:
    content = search(name, tool_input, CATALOG)
    assert content["type"] == "tool_search_tool_result_error"
    assert content["error_code"] == "invalid_tool_input"
    assert content["error_message"].startswith(message)


def test_a_search_past_its_time_stops_with_execution_time_exceeded() -> None:
    ticks = itertools.count(step=tool_search.TIME_LIMIT)  # every field takes the whole budget
    content = search(REGEX, {"pattern": "zzz"}, CATALOG, clock=lambda: float(next(ticks)))
    assert content["error_code"] == "execution_time_exceeded"


def test_bm25_ranks_by_score_and_finds_words_of_snake_and_camel_case_names() -> None:
    assert tokenize("getWeatherForecast get_stock-price") == [
        "get",
        "weather",
        "forecast",
        "get",
        "stock",
        "price",
    ]
    assert _names(search(BM25, {"query": "weather forecast for Paris"}, CATALOG)) == [
        "getWeatherForecast",
        "get_weather",
    ]
    assert _names(search(BM25, {"query": "quantum"}, CATALOG)) == []


def test_bm25_scores_are_rank_bm25s_okapi_scores() -> None:
    corpus = [tokenize(" ".join(t.fields)) for t in CATALOG] + [["city"] * 3, ["a", "b"]]
    for query in (["weather", "city"], ["price"], ["a", "city", "missing"], ["get"]):
        want = BM25Okapi(corpus).get_scores(query)
        assert bm25_scores(corpus, query) == pytest.approx(list(want), rel=1e-12, abs=1e-12)


def _request(**kwargs: Any) -> MessagesRequest:
    return MessagesRequest(
        model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}], **kwargs
    )


def test_the_model_gets_the_stand_in_and_only_the_tools_not_deferred() -> None:
    cache = {"type": "ephemeral"}
    tools = [
        {"type": "tool_search_tool_bm25", "name": "tool_search_tool_bm25", "cache_control": cache},
        {"name": "a", "input_schema": {"type": "object"}, "defer_loading": True},
        {"name": "b", "input_schema": {"type": "object"}},
        {"type": "bash_20250124", "name": "bash", "defer_loading": True},
    ]
    plan = plan_tools(_request(tools=tools))
    body = request_body(_request(), plan, [])
    [stand_in, b] = body["tools"]
    assert stand_in["name"] == "tool_search_tool_bm25" and stand_in["cache_control"] == cache
    assert stand_in["input_schema"]["required"] == ["query"]
    assert "Search the 2 tools" in stand_in["description"]
    assert b == {"name": "b", "input_schema": {"type": "object"}}
    loaded = request_body(_request(), plan.with_loaded(["bash", "a"]), [])
    assert [t["name"] for t in loaded["tools"]] == ["tool_search_tool_bm25", "b", "a", "bash"]


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"type": "tool_search_tool_regex_20251119", "name": "search"}, "tools.0.name"),
        ({"type": "tool_search_tool_bm25_20990101", "name": "x"}, "tools.0.type"),
        (
            {**{"type": "tool_search_tool_regex", "name": "tool_search_tool_regex"}, "x": 1},
            "tools.0",
        ),
    ],
)
def test_a_malformed_search_tool_is_a_400_naming_it(entry: dict[str, Any], field: str) -> None:
    from code_exec.exceptions import RequestValidationError

    with pytest.raises(RequestValidationError) as e:
        plan_tools(_request(tools=[entry, {"name": "b", "input_schema": {"type": "object"}}]))
    assert e.value.field == field
