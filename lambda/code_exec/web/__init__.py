"""Web search and web fetch backends for the server tools Bedrock lacks (issue 17).

One small interface each (:class:`~code_exec.web.search.WebSearch`,
:class:`~code_exec.web.fetch.WebFetcher`) so the ``/v1/messages`` server tools, the
dynamic-filtering versions and the product's own loops call the same backends, and tests
inject fakes through :class:`~code_exec.services.Services`. Failures the model should see
are :class:`~code_exec.web.types.WebToolError` with Anthropic's error codes.
"""

from __future__ import annotations

from code_exec.web.types import (
    FETCH_ERROR_CODES,
    SEARCH_ERROR_CODES,
    FetchedDocument,
    SearchHit,
    SearchRequest,
    WebToolError,
)

__all__ = [
    "FETCH_ERROR_CODES",
    "SEARCH_ERROR_CODES",
    "FetchedDocument",
    "SearchHit",
    "SearchRequest",
    "WebToolError",
]
