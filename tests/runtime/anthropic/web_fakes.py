"""In-test web backends for the direct web tool tests: a search over a three-page corpus and a
fetcher serving the same pages, both implementing the shared protocols
(:class:`code_exec.web.search.WebSearch`, :class:`code_exec.web.fetch.WebFetcher`) without any
network, and recording what they were asked (so a test proves what was never fetched)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from code_exec.web.types import FetchedDocument, SearchHit, SearchRequest, WebToolError

PAGES = {
    "https://docs.example.com/agentcore/web-search": (
        "AgentCore web search",
        "InvokeWebSearch returns up to 25 results with a title, a URL and an extract. "
        "See https://docs.example.com/agentcore/limits for the limits.",
    ),
    "https://docs.example.com/agentcore/limits": (
        "AgentCore limits",
        "A web search query is at most 200 characters. Results: 1 to 25.",
    ),
    "https://blog.other.org/search-news": (
        "Search news",
        "Web search came to Bedrock AgentCore in 2026.",
    ),
}
RETRIEVED_AT = "2026-12-07T02:00:00Z"


@dataclass
class FakeSearch:
    """A ``WebSearch`` over :data:`PAGES` (every page matches; domain rules applied)."""

    requests: list[SearchRequest] = field(default_factory=list)

    def search(self, request: SearchRequest) -> list[SearchHit]:
        from code_exec.web.domains import allowed, parse_rules

        self.requests.append(request)
        allow = parse_rules(request.allowed_domains)
        block = parse_rules(request.blocked_domains, name="blocked_domains")
        return [
            SearchHit(title=title, url=url, text=text, page_age="2026-11-30")
            for url, (title, text) in PAGES.items()
            if allowed(url, allow, block)
        ][: request.max_results]


@dataclass
class FakeFetcher:
    """A ``WebFetcher`` serving :data:`PAGES`; any other URL is ``url_not_accessible``."""

    fetched: list[str] = field(default_factory=list)

    def fetch(
        self,
        url: str,
        *,
        allowed_domains: Sequence[str] = (),
        blocked_domains: Sequence[str] = (),
        max_bytes: int | None = None,
    ) -> FetchedDocument:
        self.fetched.append(url)
        if url not in PAGES:
            raise WebToolError("url_not_accessible", "no such page")
        title, text = PAGES[url]
        return FetchedDocument(url, title, "text/plain", text, None, RETRIEVED_AT)


def install(server: Any) -> tuple[FakeSearch, FakeFetcher]:
    """Fresh fakes as the ``/v1/messages`` function's web backends."""
    search, fetcher = FakeSearch(), FakeFetcher()
    server.services.override(web_search=search, web_fetcher=fetcher)
    return search, fetcher
