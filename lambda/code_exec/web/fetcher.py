"""The real web fetcher (placeholder until the SSRF-guarded fetcher lands on this branch)."""

from __future__ import annotations

from collections.abc import Sequence

from code_exec.web.fetch import WebFetcher
from code_exec.web.types import FetchedDocument, WebToolError

__all__ = ["make_fetcher"]


class _NotYet:
    """Answers every fetch with ``unavailable``: the real fetcher replaces this."""

    def fetch(
        self,
        url: str,
        *,
        allowed_domains: Sequence[str] = (),
        blocked_domains: Sequence[str] = (),
        max_bytes: int | None = None,
    ) -> FetchedDocument:
        raise WebToolError("unavailable", "web fetch is not built yet")


def make_fetcher() -> WebFetcher:
    """The deployment's fetcher."""
    return _NotYet()
