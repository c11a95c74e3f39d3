"""Tool search and ``defer_loading`` through the real ``anthropic`` SDK (strict validation).

Deferred tools never reach the model until a search finds them; the search runs here
(``code_exec.anthropic.tool_search``) and answers in Anthropic's blocks: ``server_tool_use``
(``srvtoolu_`` id), then ``tool_search_tool_result`` holding ``tool_reference`` s. The endpoint
is stateless: each request re-reads which tools are loaded from the history it is sent (the
replayed turns' ``expect`` says which tools each model call was offered).
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest
from anthropic import types
from anthropic.types import beta as beta_types

from .conftest import MODEL, Server, fixture, model_turn, text, tool_use

pytestmark = [pytest.mark.filterwarnings("ignore:The model")]

REGEX = {"type": "tool_search_tool_regex_20251119", "name": "tool_search_tool_regex"}
BM25 = {"type": "tool_search_tool_bm25_20251119", "name": "tool_search_tool_bm25"}
WEATHER = {
    "name": "get_weather",
    "description": "Get the current weather at a location.",
    "input_schema": {
        "type": "object",
        "properties": {
            "location": {"type": "string", "description": "City and country."},
            "units": {"type": "string"},
        },
        "required": ["location"],
    },
    "defer_loading": True,
}
STOCKS = {
    "name": "get_stock_price",
    "description": "Latest price of a ticker symbol.",
    "input_schema": {"type": "object", "properties": {"ticker": {"type": "string"}}},
    "defer_loading": True,
}
CODE = {"type": "code_execution_20260120", "name": "code_execution", "defer_loading": True}
FROM_CODE = {**WEATHER, "allowed_callers": ["code_execution_20260120"]}
SUNNY = json.dumps({"temperature": 18, "units": "c", "conditions": "sunny"})


def _create(client: Any, stream: bool, **kwargs: Any) -> tuple[Any, list[str]]:
    """The message, and the SSE event types when streamed (the SDK accumulates them)."""
    if not stream:
        return client.create(**kwargs), []
    with client.stream(**kwargs) as s:
        kinds = [e.type for e in s]
        return s.get_final_message(), kinds


def _references(block: Any) -> list[str]:
    return [r.tool_name for r in block.content.tool_references]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_regex_search_loads_a_deferred_client_tool_across_requests(
    server: Server, stream: bool
) -> None:
    c = server.client().messages
    tools = [REGEX, WEATHER, STOCKS]
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "What is the weather in San Francisco?"}
    ]
    with server.replay("anthropic_tool_search_regex") as replay:
        r, kinds = _create(c, stream, model=MODEL, max_tokens=1024, tools=tools, messages=messages)
        [said, search, found, call] = r.content
        assert isinstance(said, types.TextBlock)
        assert isinstance(search, types.ServerToolUseBlock)
        assert search.name == "tool_search_tool_regex" and search.input == {"pattern": "weather"}
        assert search.id.startswith("srvtoolu_")
        assert isinstance(found, types.ToolSearchToolResultBlock)
        assert found.tool_use_id == search.id
        assert isinstance(found.content, types.ToolSearchToolSearchResultBlock)
        assert found.content.tool_references == [
            types.ToolReferenceBlock(type="tool_reference", tool_name="get_weather")
        ]
        assert isinstance(call, types.ToolUseBlock) and call.name == "get_weather"
        assert (r.stop_reason, r.container) == ("tool_use", None)  # no sandbox was needed
        assert r.usage.server_tool_use is not None
        assert r.usage.server_tool_use.web_search_requests == 0
        if stream:  # the result block comes whole in its start, like the other server tools
            assert kinds.count("content_block_start") == 4
            assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
        server.new_instance()  # nothing is remembered between requests
        messages += [
            {"role": "assistant", "content": r.content},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call.id, "content": SUNNY}],
            },
        ]
        r, _ = _create(c, stream, model=MODEL, max_tokens=1024, tools=tools, messages=messages)
    assert [b.type for b in r.content] == ["text"] and r.stop_reason == "end_turn"
    assert replay.served == 3  # each turn's expect: get_weather offered once found, not before


@pytest.mark.sandbox
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_bm25_search_loads_deferred_code_execution_and_a_tool_called_from_code(
    server: Server, stream: bool
) -> None:
    c = server.client().beta.messages
    tools = [BM25, CODE, FROM_CODE, STOCKS]
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "Use Python code to get the weather in Paris."}
    ]
    with server.replay("anthropic_tool_search_bm25") as replay:
        r, _ = _create(
            c,
            stream,
            model=MODEL,
            max_tokens=1024,
            tools=tools,
            messages=messages,
            betas=["advanced-tool-use-2025-11-20"],
        )
        search, found, said, code, call = r.content
        assert isinstance(search, beta_types.BetaServerToolUseBlock)
        assert search.name == "tool_search_tool_bm25"
        assert search.input == {"query": "run python code weather", "limit": 3}
        assert isinstance(found, beta_types.BetaToolSearchToolResultBlock)
        assert sorted(_references(found)) == ["code_execution", "get_weather"]
        assert isinstance(said, beta_types.BetaTextBlock)
        assert isinstance(code, beta_types.BetaServerToolUseBlock) and code.name == "code_execution"
        assert isinstance(call, beta_types.BetaToolUseBlock) and call.name == "get_weather"
        assert call.caller is not None and call.caller.type == "code_execution_20260120"
        assert r.stop_reason == "tool_use" and r.container is not None
        server.new_instance()
        messages += [
            {"role": "assistant", "content": r.content},
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": call.id,
                        "content": json.dumps({"temperature": 12, "conditions": "drizzle"}),
                    }
                ],
            },
        ]
        r, _ = _create(
            c,
            stream,
            model=MODEL,
            max_tokens=1024,
            tools=tools,
            messages=messages,
            container=r.container.id,
            betas=["advanced-tool-use-2025-11-20"],
        )
    result, answer = r.content
    assert isinstance(result, beta_types.BetaCodeExecutionToolResultBlock)
    assert result.tool_use_id == code.id
    assert result.content.type == "code_execution_result"
    assert result.content.stdout == "Paris, FR: 12 C\n"
    assert isinstance(answer, beta_types.BetaTextBlock) and r.stop_reason == "end_turn"
    assert replay.served == 3
    assert "advanced-tool-use" not in replay.exchanges[0].body.decode()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_bad_regex_is_an_error_block_the_model_reads(server: Server, stream: bool) -> None:
    with server.replay("anthropic_tool_search_bad_regex") as replay:
        r, _ = _create(
            server.client().messages,
            stream,
            model=MODEL,
            max_tokens=1024,
            tools=[REGEX, {**WEATHER, "defer_loading": True}],
            messages=[{"role": "user", "content": "Find a weather tool."}],
        )
    search, failed, answer = r.content
    assert isinstance(search, types.ServerToolUseBlock)
    assert isinstance(failed, types.ToolSearchToolResultBlock)
    assert isinstance(failed.content, types.ToolSearchToolResultErrorObject)
    assert failed.content.error_code == "invalid_tool_input"
    assert failed.content.error_message is not None
    assert failed.content.error_message.startswith("Invalid regular expression pattern: missing )")
    assert isinstance(answer, types.TextBlock) and r.stop_reason == "end_turn"
    assert replay.served == 2


def test_a_clients_own_search_loads_tools_with_tool_reference_blocks(server: Server) -> None:
    """Custom tool search (Claude Code's ``ToolSearch``): the client's ``tool_result`` holds
    ``tool_reference`` blocks; the model reads them as text and gets the tool from then on."""
    finder = {
        "name": "find_tools",
        "description": "Find tools by keyword.",
        "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
    }
    tools = [finder, WEATHER]
    first = model_turn(
        tool_use("find_tools", {"q": "weather"}, "Find0000000000000000000"),
        expect={"tools": ["find_tools"], "body_lacks": ["get_weather"]},
    )
    second = model_turn(
        text("Found it."),
        expect={
            "tools": ["find_tools", "get_weather"],
            "tool_results": [{"is_error": False, "contains": ["get_weather"]}],
            "body_lacks": ["tool_reference", "defer_loading"],
        },
    )
    c = server.client()
    with server.replay(fixture(first, second)) as replay:
        r = c.messages.create(
            model=MODEL,
            max_tokens=256,
            tools=tools,
            messages=[{"role": "user", "content": "weather?"}],
        )
        [call] = r.content
        assert isinstance(call, types.ToolUseBlock)
        reference = {"type": "tool_reference", "tool_name": "get_weather"}
        r = c.messages.create(
            model=MODEL,
            max_tokens=256,
            tools=tools,
            messages=[
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": r.content},
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": call.id, "content": [reference]}
                    ],
                },
            ],
        )
    assert r.content[0].type == "text" and replay.served == 2


@pytest.mark.parametrize(
    ("tools", "messages", "message", "field"),
    [
        (
            [{**REGEX, "defer_loading": True}, WEATHER],
            [{"role": "user", "content": "hi"}],
            "At least one tool must have defer_loading=false. All tools cannot be deferred.",
            "",  # Anthropic's message as it is (it names the tools already)
        ),
        (
            [REGEX, WEATHER],
            [
                {"role": "user", "content": "hi"},
                {
                    "role": "assistant",
                    "content": [
                        {
                            "type": "server_tool_use",
                            "id": "srvtoolu_01",
                            "name": "tool_search_tool_regex",
                            "input": {"pattern": "x"},
                        },
                        {
                            "type": "tool_search_tool_result",
                            "tool_use_id": "srvtoolu_01",
                            "content": {
                                "type": "tool_search_tool_search_result",
                                "tool_references": [
                                    {"type": "tool_reference", "tool_name": "unknown_tool"}
                                ],
                            },
                        },
                    ],
                },
                {"role": "user", "content": "and?"},
            ],
            "Tool reference 'unknown_tool' not found in available tools",
            "messages.1.content.1: ",
        ),
    ],
    ids=["all_deferred", "unknown_reference"],
)
def test_anthropics_documented_400s(
    server: Server, tools: list[Any], messages: list[Any], message: str, field: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as e:
        server.client().messages.create(model=MODEL, max_tokens=64, tools=tools, messages=messages)
    assert e.value.body["error"]["type"] == "invalid_request_error"
    assert e.value.body["error"]["message"] == f"{field}{message}"
