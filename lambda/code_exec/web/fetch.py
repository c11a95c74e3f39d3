"""Web fetch: the interface every caller uses (the real fetcher lives in ``fetcher``).

A fetch refuses, before any packet leaves, every URL that is not ``http(s)`` to a public
address (see :mod:`code_exec.web.addresses`), and bounds what it reads in bytes and time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from code_exec.web.types import FetchedDocument

__all__ = ["WebFetcher"]


class WebFetcher(Protocol):
    """Fetch one URL and return it as a document the model can read.

    Raises:
        WebToolError: what the model is shown (``url_not_allowed``, ``url_not_accessible``,
            ``url_too_long``, ``unsupported_content_type``, ``content_too_large``,
            ``too_many_requests``, ``unavailable``, ``invalid_tool_input``).
        CodeExecError: only a failure that ends the turn (e.g. the request's deadline).
    """

    def fetch(
        self,
        url: str,
        *,
        allowed_domains: Sequence[str] = (),
        blocked_domains: Sequence[str] = (),
        max_bytes: int | None = None,
    ) -> FetchedDocument: ...
