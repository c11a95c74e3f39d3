"""Web search: one interface, and its backend over AgentCore's ``InvokeWebSearch``.

``InvokeWebSearch`` (``POST /web-search/{webSearchId}/invoke``) searches inside the AWS
boundary: a query of 1-200 characters, ``maxResults`` 1-25, domain include/exclude filters
(a root domain matching its subdomains, as Anthropic's ``allowed_domains`` do) and
published-date filters; results carry a title, a URL, a text extract and ``publishedAt``.
Its client is bound to the request's deadline (:mod:`code_exec.clients`) and retries
throttles and 5xx with botocore's standard backoff while the deadline allows (a search is
read-only, so a retry is safe). What is left is translated here, once:

* throttled -> ``WebToolError('too_many_requests')``; 5xx, transport failures and a
  missing or unknown search tool -> ``unavailable``; a query over 200 characters ->
  ``query_too_long`` (checked before the call); any other validation failure ->
  ``invalid_tool_input``. The model sees these as ``web_search_tool_result_error``.
* AccessDenied -> :class:`~code_exec.exceptions.DependencyAccessDeniedError` (a deployment
  error the caller must see, 502), and a passed deadline -> ``DeadlineExceededError``:
  both end the turn.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from code_exec import clients
from code_exec.dependency_errors import dependency_error
from code_exec.exceptions import (
    DeadlineExceededError,
    DependencyAccessDeniedError,
    DependencyThrottledError,
)
from code_exec.web.domains import allowed, parse_rules
from code_exec.web.types import SearchHit, SearchRequest, WebToolError

__all__ = [
    "DEFAULT_WEB_SEARCH_ID",
    "MAX_QUERY_CHARS",
    "MAX_RESULTS",
    "AgentCoreWebSearch",
    "WebSearch",
    "make_search_client",
]

logger = logging.getLogger(__name__)

DEFAULT_WEB_SEARCH_ID = "web-search.v1"
MAX_QUERY_CHARS = 200  # InvokeWebSearchInputSearchQueryString max
MAX_RESULTS = 25  # InvokeWebSearchInputMaxResultsInteger max
# A result's extract is attacker-controlled page text: bound it before it goes anywhere.
MAX_TEXT_CHARS = 20_000
MAX_TITLE_CHARS = 500
MAX_URL_CHARS = 2_048
_ATTEMPTS = 3
_CONFIG = Config(connect_timeout=5, read_timeout=30, user_agent_extra="bedrock-code-execution")


class WebSearch(Protocol):
    """Search the web; hits in ranked order, at most ``request.max_results``.

    Raises:
        WebToolError: what the model is shown (``query_too_long``, ``too_many_requests``,
            ``unavailable``, ``invalid_tool_input``).
        CodeExecError: only a failure that ends the turn (access denied, deadline passed).
    """

    def search(self, request: SearchRequest) -> list[SearchHit]: ...


def make_search_client(region: str | None = None) -> Any:
    """A ``bedrock-agentcore`` client for searches: short timeouts, standard retries, bound
    to the request's deadline (the sandbox's client keeps its 900 s read timeout)."""
    return clients.make("bedrock-agentcore", config=_CONFIG, attempts=_ATTEMPTS, region_name=region)


class AgentCoreWebSearch:
    """:class:`WebSearch` over ``bedrock-agentcore`` ``InvokeWebSearch``.

    Args:
        client: a ``bedrock-agentcore`` client (:func:`make_search_client`).
        web_search_id: the search tool to invoke (``web-search.v1``, AWS-managed).
    """

    def __init__(self, client: Any, *, web_search_id: str = DEFAULT_WEB_SEARCH_ID) -> None:
        self.client = client
        self.web_search_id = web_search_id

    def search(self, request: SearchRequest) -> list[SearchHit]:
        """Run one search (see :class:`WebSearch`)."""
        params = self._params(request)
        try:
            reply = self.client.invoke_web_search(**params)
        except (ClientError, BotoCoreError) as e:
            raise _translate(e) from e
        # Path rules (``example.com/blog``) are applied here: the service filters by domain.
        allow = parse_rules(request.allowed_domains, name="allowed_domains")
        block = parse_rules(request.blocked_domains, name="blocked_domains")
        hits = [_hit(r) for r in reply.get("results") or []]
        return [h for h in hits if h is not None and allowed(h.url, allow, block)][
            : request.max_results
        ]

    def _params(self, request: SearchRequest) -> dict[str, Any]:
        query = request.query.strip() if isinstance(request.query, str) else ""
        if not query:
            raise WebToolError("invalid_tool_input", "the query is empty")
        if len(query) > MAX_QUERY_CHARS:
            raise WebToolError("query_too_long", f"the query has {len(query)} characters")
        if not 1 <= request.max_results <= MAX_RESULTS:
            raise WebToolError("invalid_tool_input", f"max_results must be 1..{MAX_RESULTS}")
        if request.allowed_domains and request.blocked_domains:
            raise WebToolError("invalid_tool_input", "allowed_domains and blocked_domains")
        params: dict[str, Any] = {
            "webSearchId": self.web_search_id,
            "searchQuery": query,
            "maxResults": request.max_results,
        }
        domain_filter: dict[str, list[str]] = {}
        if request.allowed_domains:
            domain_filter["include"] = _hosts(request.allowed_domains, "allowed_domains")
        if request.blocked_domains:
            domain_filter["exclude"] = _hosts(request.blocked_domains, "blocked_domains")
        filters: dict[str, Any] = {"domainFilter": domain_filter} if domain_filter else {}
        dates = {
            name: _instant(value, field)
            for name, value, field in (
                ("publishedAfter", request.published_after, "published_after"),
                ("publishedBefore", request.published_before, "published_before"),
            )
            if value
        }
        if len(dates) == 2 and dates["publishedAfter"] > dates["publishedBefore"]:
            raise WebToolError("invalid_tool_input", "published_after is after published_before")
        if dates:
            filters["publishedDateFilter"] = dates
        if filters:
            params["filters"] = filters
        return params


def _instant(value: str, field: str) -> datetime:
    """An ISO 8601 date or time (a date means midnight UTC; no zone means UTC)."""
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as e:
        raise WebToolError("invalid_tool_input", f"{field} is not an ISO 8601 date") from e
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _hosts(entries: Sequence[str], name: str) -> list[str]:
    """The host part of each rule, once each, as the service's ``DomainList`` wants it."""
    return list(dict.fromkeys(rule.host for rule in parse_rules(entries, name=name)))


def _hit(result: dict[str, Any]) -> SearchHit | None:
    """One service result as a hit (None: no usable http(s) URL to cite)."""
    url = str(result.get("url") or "")
    if not url.startswith(("https://", "http://")) or len(url) > MAX_URL_CHARS:
        return None
    published = result.get("publishedAt")
    page_age = published.isoformat() if isinstance(published, datetime) else None
    title = str(result.get("title") or url)[:MAX_TITLE_CHARS]
    return SearchHit(title, url, str(result.get("text") or "")[:MAX_TEXT_CHARS], page_age)


def _translate(exc: ClientError | BotoCoreError) -> Exception:
    """The error a failed ``InvokeWebSearch`` becomes (see the module docstring)."""
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code == "ValidationException":
            fields = exc.response.get("fieldList") or []
            if any(str(f.get("name", "")).endswith("searchQuery") for f in fields):
                return WebToolError("query_too_long", "the service refused the query")
            return WebToolError("invalid_tool_input", "the service refused the search")
        if code == "ResourceNotFoundException":
            logger.error("InvokeWebSearch: no web search tool of this id (check the deployment)")
            return WebToolError("unavailable", "the web search tool was not found")
    error = dependency_error(exc)
    if isinstance(error, DeadlineExceededError | DependencyAccessDeniedError):
        return error
    if isinstance(error, DependencyThrottledError):
        return WebToolError("too_many_requests", "InvokeWebSearch was throttled")
    logger.warning("InvokeWebSearch failed: %s", type(exc).__name__)
    return WebToolError("unavailable", "InvokeWebSearch failed")
