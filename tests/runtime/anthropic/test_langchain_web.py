"""LangChain's ``ChatAnthropic`` pointed at the deployment with Anthropic's web search server
tool: the search runs here (in-test backend), LangChain gets Anthropic's blocks and the answer
with its ``web_search_result_location`` citations, then sends the whole turn back as history."""

from __future__ import annotations

import pytest

from .conftest import MODEL, Server
from .web_fakes import install

pytestmark = [pytest.mark.sandbox, pytest.mark.filterwarnings("ignore:The model")]

PROMPT = "What does AgentCore web search return? Search the web."


def test_chat_anthropic_searches_cites_and_sends_the_turn_back(server: Server) -> None:
    from langchain_anthropic import ChatAnthropic
    from langchain_core.messages import HumanMessage

    search, _ = install(server)
    llm = ChatAnthropic(
        model=MODEL,
        base_url=server.url,
        api_key=server.keys["alice"],
        max_retries=0,
        max_tokens=1024,
    ).bind_tools([{"type": "web_search_20250305", "name": "web_search", "max_uses": 2}])
    with server.replay("anthropic_web_search") as replay:
        first = llm.invoke([HumanMessage(PROMPT)])
        blocks = [b for b in first.content if isinstance(b, dict)]
        kinds = [b["type"] for b in blocks]
        assert kinds == ["text", "server_tool_use", "web_search_tool_result", "text", "text"]
        [cite] = blocks[4]["citations"]
        assert cite["type"] == "web_search_result_location"
        assert first.usage_metadata is not None and first.usage_metadata["output_tokens"] > 0
        second = llm.invoke([HumanMessage(PROMPT), first, HumanMessage("How long can a query be?")])
    assert "200 characters" in str(second.content)
    assert [r.query for r in search.requests] == ["AgentCore web search"]
    # turn 3 of the recording checks the rebuilt history (search_result blocks, citations)
    assert len(replay.exchanges) == 3
