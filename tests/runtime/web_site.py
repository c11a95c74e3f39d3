"""A tiny web for the web tool tests: two long pages with a one-row table each, and a third
page only a link in the first names. ``Site`` implements the ``WebSearch`` and ``WebFetcher``
protocols in memory, so no packet leaves the machine, and records what it was asked."""

from __future__ import annotations

import threading
from typing import Any

from code_exec.web.types import FetchedDocument, SearchHit, SearchRequest, WebToolError

FILLER = "FILLER-PARAGRAPH about the harbour, its history and its many fine boats. " * 80
PAGES = {
    "https://ferries.example/bergen": (
        "Bergen ferries",
        f"{FILLER}\n| Route | Departs |\n|---|---|\n| Bergen-Stavanger | 07:30 |\n{FILLER}\n"
        "More at https://ferries.example/archive",
    ),
    "https://ferries.example/oslo": (
        "Oslo ferries",
        f"{FILLER}\n| Route | Departs |\n|---|---|\n| Oslo-Kiel | 14:00 |\n{FILLER}",
    ),
    "https://ferries.example/archive": ("Archive", "old timetables"),
}


class Site:
    """A tiny web: search matches page text, fetch returns the page (counting both)."""

    def __init__(self) -> None:
        self.searches: list[SearchRequest] = []
        self.fetched: list[str] = []
        self._lock = threading.Lock()

    def search(self, request: SearchRequest) -> list[SearchHit]:
        with self._lock:
            self.searches.append(request)
        words = request.query.lower().split()
        hits = [
            SearchHit(title, url, text[:200], "2026-01-05")
            for url, (title, text) in PAGES.items()
            if any(w in text.lower() for w in words) and "archive" not in url
        ]
        return hits[: request.max_results]

    def fetch(self, url: str, **_: Any) -> FetchedDocument:
        with self._lock:
            self.fetched.append(url)
        page = url.partition("#")[0]  # a fragment is not sent (as HTTP clients do)
        if page not in PAGES:
            raise WebToolError("url_not_accessible", "no such page")
        title, text = PAGES[page]
        return FetchedDocument(page, title, "text/plain", text, None, "2026-12-07T00:00:00Z")
