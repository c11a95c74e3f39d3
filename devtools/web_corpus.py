"""The web filtering benchmark's corpus: five long harbour reports, each with one table.

Each page is a few thousand words of deterministic prose (seeded, so every run and every
recording sees the same bytes) with one Markdown table of the port's 2025 traffic in the
middle. The benchmark task is to fetch the five pages and extract one row from each table
into one table (:data:`EXPECTED_TABLE`).

:class:`CorpusWeb` serves the pages in memory through the ``WebSearch`` and ``WebFetcher``
protocols (``code_exec.web``): no packet leaves the machine, and a call costs what the
protocol costs, so what a benchmark measures around it is the gateway's own overhead.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EXPECTED_TABLE", "PAGES", "PORTS", "CorpusWeb", "page_url"]

PORTS = {  # port: (ships, tonnage in kt, busiest month)
    "Bergen": (4211, 18_530, "July"),
    "Gdansk": (6120, 52_870, "October"),
    "Porto": (3307, 15_240, "August"),
    "Tallinn": (5018, 21_660, "June"),
    "Valencia": (7455, 81_090, "May"),
}
_WORDS = [
    "harbour",
    "quay",
    "crane",
    "berth",
    "tide",
    "pilot",
    "ferry",
    "cargo",
    "container",
    "bulk",
    "tanker",
    "dredging",
    "channel",
    "breakwater",
    "customs",
    "warehouse",
    "shipping",
    "schedule",
    "vessel",
    "terminal",
    "mooring",
    "lighthouse",
    "wharf",
    "freight",
    "logistics",
    "rail",
    "hinterland",
    "authority",
    "investment",
    "season",
    "weather",
    "winter",
    "summer",
    "passenger",
    "cruise",
    "fishing",
    "fleet",
    "maintenance",
    "survey",
    "draught",
    "depth",
    "tug",
    "barge",
    "lock",
    "canal",
]


def page_url(port: str) -> str:
    return f"https://ports.example/reports/{port.lower()}-2025"


def _prose(rng: random.Random, paragraphs: int) -> str:
    out = []
    for _ in range(paragraphs):
        sentences = []
        for _ in range(rng.randint(5, 9)):
            words = [rng.choice(_WORDS) for _ in range(rng.randint(9, 18))]
            sentences.append(" ".join(words).capitalize() + ".")
        out.append(" ".join(sentences))
    return "\n\n".join(out)


def _page(port: str) -> str:
    rng = random.Random(f"harbour-{port}")
    ships, tonnage, month = PORTS[port]
    table = (
        "| Port | Ships 2025 | Tonnage (kt) | Busiest month |\n"
        "|---|---|---|---|\n"
        f"| {port} | {ships} | {tonnage} | {month} |"
    )
    return (
        f"# Port of {port}: annual report 2025\n\n{_prose(rng, 14)}\n\n"
        f"## Traffic in 2025\n\n{table}\n\n{_prose(rng, 14)}\n"
    )


PAGES = {page_url(p): (f"Port of {p}: annual report 2025", _page(p)) for p in PORTS}
EXPECTED_TABLE = (
    "| Port | Ships 2025 | Tonnage (kt) | Busiest month |\n|---|---|---|---|\n"
    + "\n".join(f"| {p} | {s} | {t} | {m} |" for p, (s, t, m) in PORTS.items())
)


@dataclass
class CorpusWeb:
    """The corpus as a ``WebSearch`` and a ``WebFetcher`` (in memory), timing each call."""

    calls: list[tuple[str, float]] = field(default_factory=list)  # (tool, seconds)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def search(self, request: Any) -> list[Any]:
        from code_exec.web.types import SearchHit

        start = time.perf_counter()
        words = [w for w in request.query.lower().split() if len(w) > 2]
        hits = [
            SearchHit(title, url, text[:300], "2026-01-15T00:00:00Z")
            for url, (title, text) in PAGES.items()
            if any(w in title.lower() or w in text.lower() for w in words)
        ][: request.max_results]
        self._timed("web_search", start)
        return hits

    def fetch(self, url: str, **_: Any) -> Any:
        from code_exec.web.types import FetchedDocument, WebToolError

        start = time.perf_counter()
        if url not in PAGES:
            raise WebToolError("url_not_accessible", "not in the corpus")
        title, text = PAGES[url]
        self._timed("web_fetch", start)
        return FetchedDocument(url, title, "text/plain", text, None, "2026-12-07T00:00:00Z")

    def _timed(self, tool: str, start: float) -> None:
        with self._lock:
            self.calls.append((tool, time.perf_counter() - start))
