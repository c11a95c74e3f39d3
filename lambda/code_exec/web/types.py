"""The values the web backends exchange, and the one error the model is shown.

The error codes are Anthropic's, copied from the ``anthropic`` SDK's
``WebSearchToolResultErrorCode`` and ``WebFetchToolResultErrorCode`` (SDK 2.14.0; a test
compares them with the installed SDK), so a backend failure renders as the exact
``web_search_tool_result_error`` / ``web_fetch_tool_result_error`` block.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "FETCH_ERROR_CODES",
    "SEARCH_ERROR_CODES",
    "FetchErrorCode",
    "FetchedDocument",
    "SearchErrorCode",
    "SearchHit",
    "SearchRequest",
    "WebToolError",
]

SearchErrorCode = Literal[
    "invalid_tool_input",
    "unavailable",
    "max_uses_exceeded",
    "too_many_requests",
    "query_too_long",
    "request_too_large",
]
FetchErrorCode = Literal[
    "invalid_tool_input",
    "url_too_long",
    "url_not_allowed",
    "url_not_in_prior_context",
    "url_not_accessible",
    "unsupported_content_type",
    "too_many_requests",
    "max_uses_exceeded",
    "unavailable",
    "content_too_large",
]

SEARCH_ERROR_CODES: frozenset[str] = frozenset(SearchErrorCode.__args__)  # type: ignore[attr-defined]
FETCH_ERROR_CODES: frozenset[str] = frozenset(FetchErrorCode.__args__)  # type: ignore[attr-defined]


class WebToolError(Exception):
    """A search or fetch failure the model is shown as a ``*_tool_result_error`` block.

    Attributes:
        error_code: one of Anthropic's codes (``SEARCH_ERROR_CODES | FETCH_ERROR_CODES``).
        message: what went wrong, for logs only: the model sees the code, never this text
            (it may quote attacker-controlled content).
    """

    def __init__(self, error_code: SearchErrorCode | FetchErrorCode, message: str = "") -> None:
        if error_code not in SEARCH_ERROR_CODES | FETCH_ERROR_CODES:
            raise ValueError(f"not an Anthropic web tool error code: {error_code!r}")
        super().__init__(f"{error_code}: {message}" if message else error_code)
        self.error_code: SearchErrorCode | FetchErrorCode = error_code
        self.message = message


@dataclass(frozen=True)
class SearchRequest:
    """One web search, as the tool's parameters and the model's input give it.

    ``allowed_domains`` / ``blocked_domains``: domains without scheme; a domain also matches
    its subdomains (Anthropic's and InvokeWebSearch's rule); at most one of them is set.
    ``user_location``: Anthropic's ``user_location`` object, passed through for backends
    that can use it (InvokeWebSearch has no such parameter). ``published_after`` /
    ``published_before``: ISO 8601 dates or times, inclusive (InvokeWebSearch's date filter;
    Anthropic's tools have none, the product's own ``web_search`` built-in may pass them).
    """

    query: str
    max_results: int = 5
    allowed_domains: tuple[str, ...] = ()
    blocked_domains: tuple[str, ...] = ()
    user_location: dict[str, Any] | None = None
    published_after: str | None = None
    published_before: str | None = None


@dataclass(frozen=True)
class SearchHit:
    """One search result: ``text`` is the page extract, ``page_age`` its publication time
    (ISO 8601) when known."""

    title: str
    url: str
    text: str
    page_age: str | None = None


@dataclass(frozen=True)
class FetchedDocument:
    """One fetched page.

    ``media_type`` is ``"text/plain"`` (``text`` set: HTML already converted to text) or
    ``"application/pdf"`` (``data_base64`` set), the two document sources Anthropic's
    ``web_fetch_result`` carries. ``url`` is the final URL after redirects;
    ``retrieved_at`` an ISO 8601 UTC timestamp.
    """

    url: str
    title: str | None
    media_type: str
    text: str | None
    data_base64: str | None
    retrieved_at: str
