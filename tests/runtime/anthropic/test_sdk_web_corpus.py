"""Web search and fetch called directly, end to end over the real backends, offline: the search
is ``InvokeWebSearch`` answered by the emulator over the corpus fixture (through the deployed
``AgentCoreWebSearch`` and its boto3 client), the fetch is the SSRF-guarded fetcher reaching
the corpus server on 127.0.0.1 through the stub resolver (``.test`` names only). Only the
model's turns are recorded (inline); every connect is checked to stay on loopback."""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Iterator

import pytest
from anthropic import types
from code_exec.web.fetcher import Fetcher
from code_exec.web.guard import Guard, LoopbackCorpus

from emulators.web_corpus import CorpusServer

from ..web.conftest import CONNECTS, stub_resolver
from .conftest import MODEL, Server, fixture, model_turn, text, tool_use

pytestmark = [pytest.mark.sandbox, pytest.mark.filterwarnings("ignore:The model")]

URL = "https://gardenguild.test/tomatoes"


@pytest.fixture
def corpus(server: Server) -> Iterator[CorpusServer]:
    with CorpusServer() as site:
        fetcher = Fetcher(Guard(stub_resolver, corpus=LoopbackCorpus(site.port, site.domains)))
        server.services.override(web_fetcher=fetcher)
        server.services.__dict__.pop("web_search", None)  # the deployed backend (emulator)
        CONNECTS.clear()
        yield site
        outside = [a for a in CONNECTS if not ipaddress.ip_address(a[0].split("%")[0]).is_loopback]
        assert outside == [], f"a connect left loopback: {outside}"


def test_search_then_fetch_over_the_emulator_and_the_corpus(
    server: Server, corpus: CorpusServer
) -> None:
    turns = fixture(
        model_turn(tool_use("web_search", {"query": "growing tomatoes in containers"}, "S")),
        model_turn(
            tool_use("web_fetch", {"url": URL}, "F"),
            expect={"body_contains": ["Growing tomatoes in containers", URL]},
        ),
        model_turn(text("Use a large pot."), expect={"body_contains": [f"Fetched {URL}"]}),
    )
    with server.replay(turns):
        r = server.client().messages.create(
            model=MODEL,
            max_tokens=1024,
            tools=[
                {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
                {"type": "web_fetch_20250910", "name": "web_fetch"},
            ],
            messages=[{"role": "user", "content": "How do I grow tomatoes in containers?"}],
        )
    search = next(b for b in r.content if isinstance(b, types.WebSearchToolResultBlock))
    assert isinstance(search.content, list) and URL in [h.url for h in search.content]
    fetched = next(b for b in r.content if isinstance(b, types.WebFetchToolResultBlock))
    assert isinstance(fetched.content, types.WebFetchBlock)
    assert fetched.content.url == URL and "tomato" in fetched.content.content.source.data.lower()
    assert [(h.split(":")[0], p) for h, _, p in corpus.requests] == [
        ("gardenguild.test", "/tomatoes")
    ]
    assert r.usage.server_tool_use is not None
    assert (
        r.usage.server_tool_use.web_search_requests,
        r.usage.server_tool_use.web_fetch_requests,
    ) == (1, 1)


def test_a_pdf_is_a_base64_document_for_the_client_and_the_model(
    server: Server, corpus: CorpusServer
) -> None:
    pdf = "https://northwind-analytics.test/investors/annual-report-2025.pdf"
    turns = fixture(
        model_turn(tool_use("web_fetch", {"url": pdf}, "P")),
        model_turn(
            text("The report is attached."),
            expect={"body_contains": ['"application/pdf"', '"document"']},
        ),
    )
    with server.replay(turns) as replay:
        r = server.client().beta.messages.create(
            model=MODEL,
            max_tokens=1024,
            tools=[
                {"type": "web_fetch_20260309", "name": "web_fetch", "allowed_callers": ["direct"]}
            ],
            messages=[{"role": "user", "content": f"Summarise {pdf}"}],
        )
    [fetched] = [b for b in r.content if b.type == "web_fetch_tool_result"]
    source = fetched.content.content.source  # type: ignore[union-attr]
    assert (source.type, source.media_type) == ("base64", "application/pdf")
    assert base64.b64decode(source.data).startswith(b"%PDF")
    [result] = replay.exchanges[1].request["messages"][-1]["content"]
    assert result["content"][0]["source"]["data"] == source.data
