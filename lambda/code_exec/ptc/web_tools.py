"""``web_search`` and ``web_fetch`` as bridged PTC tools: code calls them, this process runs them.

A cell awaits ``web_search(query=...)`` / ``web_fetch(url=...)`` like any bridged tool; the
call is relayed out of the sandbox and runs here, with this process's backends
(:class:`~code_exec.web.search.WebSearch`, :class:`~code_exec.web.fetch.WebFetcher`), and only
what the code prints reaches the model. The raw results stay in the sandbox: this is
Anthropic's *dynamic filtering* (its web tools' ``20260209`` versions), and the product's own
loops get the same tools (``AgentRequest.web``).

One :class:`WebSession` serves one turn (or one ``/v1`` request): it keeps the use budget
(``max_uses`` per tool), the domain filters, the counters the response reports, and the
fetch rule Anthropic documents: a URL may be fetched only if it already appeared in the
conversation, or was returned by a search or a fetch of the same turn (:class:`UrlLedger`).
Calls of one round run in parallel threads, so the session's state is behind a lock.

Failures reach the code as ``ToolError`` whose message starts with Anthropic's error code
(``url_not_allowed``, ``max_uses_exceeded``, ...); a backend's own message never does (it may
quote attacker-controlled content).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from code_exec.exceptions import ToolError
from code_exec.ptc.registry import Tool
from code_exec.web.types import SearchRequest, WebToolError

__all__ = [
    "FETCH",
    "SEARCH",
    "UrlLedger",
    "Use",
    "WebLimits",
    "WebSession",
    "fetch_value",
    "search_value",
    "web_fetch",
    "web_search",
]

logger = logging.getLogger(__name__)

SEARCH = "web_search"
FETCH = "web_fetch"
_URL = re.compile(r"https?://[^\s<>\"'`\\^{}|]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""
_MAX_URL = 2048  # longer URLs are refused (url_too_long), as Anthropic's fetch does
_MAX_QUERY = 200  # InvokeWebSearch's limit (query_too_long past it)
_MAX_LEDGER = 20_000  # URLs remembered per session (a hostile page cannot grow it further)


def web_search(query: str, max_results: int = 5) -> list[dict[str, Any]]:
    """Search the web; the results stay in the code (print only what the answer needs).

    Args:
        query: What to search for (at most 200 characters).
        max_results: How many results, 1 to 25.

    Returns:
        A list of {"title", "url", "text", "page_age"} dicts, best match first.
    """
    raise NotImplementedError("the signature of a tool bound to a WebSession")


def web_fetch(url: str) -> dict[str, Any]:
    """Fetch a web page as text (a PDF as base64); only URLs already seen may be fetched.

    Args:
        url: An http(s) URL that appeared in the conversation or in a web_search or
            web_fetch result of this turn.

    Returns:
        A dict {"url", "title", "media_type", "text", "data_base64", "retrieved_at"}.
    """
    raise NotImplementedError("the signature of a tool bound to a WebSession")


def normalize_url(url: str) -> str | None:
    """The form URLs are compared in (scheme and host lowercased, no fragment); None if not
    an http(s) URL with a host."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    netloc = parts.netloc.lower()
    path = parts.path or "/"
    return urlunsplit((parts.scheme.lower(), netloc, path, parts.query, ""))


def urls_in(text: str) -> list[str]:
    """The http(s) URLs written in ``text`` (trailing punctuation dropped)."""
    return [m.group(0).rstrip(_TRAILING) for m in _URL.finditer(text)]


class UrlLedger:
    """The URLs a fetch may name: seen in the conversation, or returned by this session's tools."""

    def __init__(self, seen: Iterable[str] = (), *, store: set[str] | None = None) -> None:
        """``store``: a set of normalized URLs to share (another path's record of the turn)."""
        self._urls: set[str] = store if store is not None else set()
        self._lock = threading.Lock()
        self.add(seen)

    def add(self, urls: Iterable[str]) -> None:
        with self._lock:
            for url in urls:
                if len(self._urls) >= _MAX_LEDGER:
                    return
                key = normalize_url(url)
                if key is not None:
                    self._urls.add(key)

    def add_text(self, text: str) -> None:
        """Every URL written in ``text`` (a prompt, a fetched page)."""
        self.add(urls_in(text))

    def __contains__(self, url: object) -> bool:
        key = normalize_url(url) if isinstance(url, str) else None
        with self._lock:
            return key is not None and key in self._urls

    def __len__(self) -> int:
        return len(self._urls)


@dataclass(frozen=True)
class WebLimits:
    """What one session may do: per-tool use budgets and domain filters (at most one list)."""

    search_max_uses: int | None = None
    fetch_max_uses: int | None = None
    allowed_domains: tuple[str, ...] = ()
    blocked_domains: tuple[str, ...] = ()
    search_allowed_domains: tuple[str, ...] | None = None  # overrides per tool (``/v1``)
    search_blocked_domains: tuple[str, ...] | None = None
    user_location: dict[str, Any] | None = None


@dataclass
class Use:
    """One call the session served, for the caller's record (``/v1`` renders blocks of it)."""

    tool: str
    input: dict[str, Any]
    value: Any = None  # the hits (list[SearchHit]) or the FetchedDocument
    error_code: str | None = None


@dataclass
class WebSession:
    """The web tools of one turn (see the module docstring)."""

    search_backend: Any = None  # WebSearch, or None when the turn has no web_search
    fetch_backend: Any = None  # WebFetcher, or None when the turn has no web_fetch
    limits: WebLimits = field(default_factory=WebLimits)
    ledger: UrlLedger = field(default_factory=UrlLedger)
    search_requests: int = 0
    fetch_requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def tools(self) -> list[Tool]:
        """The bridged tools this session serves (their signature functions, bound here)."""
        out = []
        if self.search_backend is not None:
            tool = Tool.from_function(web_search, placement="bridged")
            out.append(dataclasses.replace(tool, target=self.search))
        if self.fetch_backend is not None:
            tool = Tool.from_function(web_fetch, placement="bridged")
            out.append(dataclasses.replace(tool, target=self.fetch))
        return out

    # --- the tools ------------------------------------------------------------------------

    def search(self, query: str, max_results: int = 5) -> list[dict[str, Any]]:
        """Run one search (a relayed call); the hits' URLs become fetchable."""
        return search_value(_raised(self.search_use(query, max_results)))

    def fetch(self, url: str) -> dict[str, Any]:
        """Fetch one URL the conversation or this session's results named."""
        return fetch_value(_raised(self.fetch_use(url)))

    def search_use(self, query: str, max_results: int = 5) -> Use:
        """One search as a :class:`Use`: its hits, or the error code the model is shown."""
        use = Use(SEARCH, {"query": query})
        try:
            if not query.strip():
                raise WebToolError("invalid_tool_input", "empty query")
            if len(query) > _MAX_QUERY:
                raise WebToolError("query_too_long", f"{len(query)} characters")
            self._spend(SEARCH)
            request = SearchRequest(
                query=query,
                max_results=min(max(int(max_results), 1), 25),
                allowed_domains=self._domains("allowed"),
                blocked_domains=self._domains("blocked"),
                user_location=self.limits.user_location,
            )
            hits = list(self.search_backend.search(request))
        except WebToolError as e:
            return _failed(use, e)
        except Exception:
            logger.warning("web search failed", exc_info=True)
            return _failed(use, WebToolError("unavailable"))
        self.ledger.add(h.url for h in hits)
        use.value = hits
        return use

    def fetch_use(self, url: str) -> Use:
        """One fetch as a :class:`Use`: the document, or the error code the model is shown."""
        use = Use(FETCH, {"url": url})
        try:
            if len(url) > _MAX_URL:
                raise WebToolError("url_too_long", f"{len(url)} characters")
            if normalize_url(url) is None:
                raise WebToolError("invalid_tool_input", "not an http(s) URL")
            if url not in self.ledger:
                raise WebToolError("url_not_in_prior_context")
            self._spend(FETCH)
            doc = self.fetch_backend.fetch(
                url,
                allowed_domains=self.limits.allowed_domains,
                blocked_domains=self.limits.blocked_domains,
            )
        except WebToolError as e:
            return _failed(use, e)
        except Exception:
            logger.warning("web fetch failed", exc_info=True)
            return _failed(use, WebToolError("unavailable"))
        if doc.text:
            self.ledger.add_text(doc.text)
        use.value = doc
        return use

    # --- plumbing -------------------------------------------------------------------------

    def _domains(self, kind: str) -> tuple[str, ...]:
        override = getattr(self.limits, f"search_{kind}_domains")
        return override if override is not None else getattr(self.limits, f"{kind}_domains")

    def _spend(self, tool: str) -> None:
        """Count a use, or refuse it past the tool's ``max_uses`` (not counted then)."""
        with self._lock:
            used = self.search_requests if tool == SEARCH else self.fetch_requests
            cap = self.limits.search_max_uses if tool == SEARCH else self.limits.fetch_max_uses
            if cap is not None and used >= cap:
                raise WebToolError("max_uses_exceeded", f"{tool}: {cap} uses")
            if tool == SEARCH:
                self.search_requests += 1
            else:
                self.fetch_requests += 1


def search_value(use: Use) -> list[dict[str, Any]]:
    """What code receives of a search: one dict per hit."""
    return [
        {"title": h.title, "url": h.url, "text": h.text, "page_age": h.page_age} for h in use.value
    ]


def fetch_value(use: Use) -> dict[str, Any]:
    """What code receives of a fetch."""
    doc = use.value
    return {
        "url": doc.url,
        "title": doc.title,
        "media_type": doc.media_type,
        "text": doc.text,
        "data_base64": doc.data_base64,
        "retrieved_at": doc.retrieved_at,
    }


def _failed(use: Use, error: WebToolError) -> Use:
    logger.info("%s refused: %s", use.tool, error.error_code)
    use.error_code = error.error_code
    return use


def _raised(use: Use) -> Use:
    """``use``, or its error as the ``ToolError`` code receives (the code, never a message)."""
    if use.error_code:
        raise ToolError(f"{use.tool}: {use.error_code}")
    return use
