"""``InvokeWebSearch`` over a local corpus fixture, so web search runs offline.

The corpus is a directory with ``index.json`` (``{"pages": [{"url", "title", "publishedAt",
"file", "contentType"}]}``) and the page files (``tests/fixtures/web_corpus`` by default;
``CODE_INTERPRETER_EMULATOR_WEB_CORPUS`` or ``--web-corpus`` to change it). The same pages
are served over HTTP by :mod:`emulators.web_corpus` for the fetcher.

Relevance (documented so tests can reason about the order): the query and each page are
split into lower-case words (letters and digits), common English stop words dropped; a page
scores, for each distinct query word it contains, ``idf * (3 * [word in title] +
log(1 + occurrences in text))`` with ``idf = log(1 + N / pages containing the word)``. Pages
scoring 0 are not results; ties go to the newer page, then the URL. ``maxResults``
(default 25) cuts the list after the filters: ``domainFilter.include`` / ``exclude`` (a
domain also matches its subdomains) and ``publishedDateFilter`` (inclusive bounds; a page
without a date never passes a date filter). Validation follows the service model: a bad
field is a ``ValidationException`` with ``reason`` FieldValidationFailed naming the field;
``publishedAfter`` later than ``publishedBefore`` is one too. Only ``web-search.v1`` exists.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .exceptions import ResourceNotFoundException, ValidationException

if TYPE_CHECKING:
    from .backend import CodeInterpreterBackend
    from .responses import Request, Response

__all__ = ["DEFAULT_CORPUS", "WEB_SEARCH_IDS", "Corpus", "invoke_web_search", "load_corpus"]

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "web_corpus"
WEB_SEARCH_IDS = frozenset({"web-search.v1"})
EXTRACT_CHARS = 1200
_WORD = re.compile(r"[a-z0-9]+")
_DOMAIN = re.compile(
    r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
_STOP = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "how",
        "in",
        "is",
        "it",
        "of",
        "on",
        "or",
        "the",
        "this",
        "to",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "with",
    }
)
_SKIP = {"script", "style", "nav", "header", "footer", "title", "head"}


class _Text(HTMLParser):
    """The visible text of a page, without navigation, header and footer."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in _SKIP:
            self._skipping += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP and self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self._skipping and data.strip():
            self.parts.append(data.strip())


@dataclass(frozen=True)
class Page:
    url: str
    host: str
    title: str
    text: str
    published: datetime | None
    title_words: frozenset[str]
    counts: Counter[str]


@dataclass(frozen=True)
class Corpus:
    pages: tuple[Page, ...]
    document_frequency: Counter[str]

    def search(self, query: str) -> list[tuple[float, Page]]:
        words = {w for w in _WORD.findall(query.lower()) if w not in _STOP}
        n = len(self.pages)
        scored = []
        for page in self.pages:
            score = 0.0
            for w in words:
                if w in page.counts or w in page.title_words:
                    idf = math.log(1 + n / max(1, self.document_frequency[w]))
                    score += idf * (3 * (w in page.title_words) + math.log(1 + page.counts[w]))
            if score > 0:
                scored.append((score, page))
        newest = datetime.min.replace(tzinfo=UTC)
        scored.sort(key=lambda sp: (-sp[0], -(sp[1].published or newest).timestamp(), sp[1].url))
        return scored


def _page(root: Path, entry: dict[str, Any]) -> Page:
    raw = (root / entry["file"]).read_bytes()
    kind = str(entry.get("contentType", ""))
    if "html" in kind:
        parser = _Text()
        parser.feed(raw.decode("utf-8", errors="replace"))
        text = " ".join(parser.parts)
    elif kind.startswith("text/"):
        text = raw.decode("utf-8", errors="replace")
    else:
        text = ""  # a PDF is found by its title
    title = str(entry["title"])
    published = entry.get("publishedAt")
    return Page(
        url=str(entry["url"]),
        host=(urlsplit(str(entry["url"])).hostname or "").lower(),
        title=title,
        text=" ".join(text.split()),
        published=_parse_time(published) if published else None,
        title_words=frozenset(_WORD.findall(title.lower())),
        counts=Counter(_WORD.findall(text.lower())),
    )


@functools.cache
def load_corpus(root: Path = DEFAULT_CORPUS) -> Corpus:
    """The corpus under ``root`` (read once per process)."""
    index = json.loads((root / "index.json").read_text())
    pages = tuple(_page(root, entry) for entry in index["pages"])
    df: Counter[str] = Counter()
    for page in pages:
        df.update(set(page.counts) | page.title_words)
    return Corpus(pages, df)


def _parse_time(value: Any) -> datetime:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _domains(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or not 1 <= len(value) <= 100:
        raise ValidationException(f"{field} must be a list of 1 to 100 domains", field=field)
    for item in value:
        if not isinstance(item, str) or not 1 <= len(item) <= 253 or not _DOMAIN.fullmatch(item):
            raise ValidationException(f"{field} has an invalid domain name", field=field)
    return [d.lower() for d in value]


def _under(host: str, domains: list[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


def _bounds(dates: Any) -> tuple[datetime | None, datetime | None]:
    if not isinstance(dates, dict):
        raise ValidationException("publishedDateFilter must be an object", field="filters")
    bounds = []
    for name in ("publishedAfter", "publishedBefore"):
        raw = dates.get(name)
        try:
            bounds.append(None if raw is None else _parse_time(raw))
        except (ValueError, TypeError, OverflowError) as e:
            field = f"filters.publishedDateFilter.{name}"
            raise ValidationException(f"{name} is not a timestamp", field=field) from e
    after, before = bounds
    if after and before and after > before:
        raise ValidationException(
            "publishedAfter is later than publishedBefore",
            field="filters.publishedDateFilter.publishedAfter",
        )
    return after, before


def invoke_web_search(backend: CodeInterpreterBackend, req: Request) -> Response:
    """``POST /web-search/{webSearchId}/invoke`` (see the module docstring)."""
    from .responses import Response  # the wire module imports this one

    search_id = req.params["webSearchId"]
    if search_id not in WEB_SEARCH_IDS:
        raise ResourceNotFoundException(f"Web search tool {search_id} was not found")
    body = req.json()
    query = body.get("searchQuery")
    if not isinstance(query, str) or not 1 <= len(query) <= 200:
        raise ValidationException("searchQuery must have 1 to 200 characters", field="searchQuery")
    limit = body.get("maxResults", 25)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 25:
        raise ValidationException("maxResults must be between 1 and 25", field="maxResults")
    filters = body.get("filters") or {}
    if not isinstance(filters, dict):
        raise ValidationException("filters must be an object", field="filters")
    domain = filters.get("domainFilter") or {}
    if not isinstance(domain, dict):
        raise ValidationException("domainFilter must be an object", field="filters.domainFilter")
    include = (
        _domains(domain["include"], "filters.domainFilter.include") if "include" in domain else None
    )
    exclude = (
        _domains(domain["exclude"], "filters.domainFilter.exclude") if "exclude" in domain else []
    )
    after, before = (
        _bounds(filters["publishedDateFilter"])
        if "publishedDateFilter" in filters
        else (None, None)
    )
    results = []
    for _, page in load_corpus(backend.config.web_corpus_path).search(query):
        if include is not None and not _under(page.host, include):
            continue
        if _under(page.host, exclude):
            continue
        if after or before:
            if page.published is None or (after and page.published < after):
                continue
            if before and page.published > before:
                continue
        item: dict[str, Any] = {
            "title": page.title,
            "url": page.url,
            "text": page.text[:EXTRACT_CHARS],
        }
        if page.published is not None:
            item["publishedAt"] = _ts(page.published)
        results.append(item)
        if len(results) == limit:
            break
    return Response.json({"results": results})
