"""Web search and web fetch called by the model directly: run here, answered in Anthropic's
result blocks, and shown to the model on Bedrock as what it can cite.

:class:`DirectWeb` runs one request's calls: ``max_uses`` per tool (past it,
``max_uses_exceeded``), the domain rules (``url_not_allowed``), Anthropic's fetch rule (a URL
may be fetched only if it already appeared in the conversation: a user message, a client tool
result, a web search or fetch result, each source as ``url_sources`` allows; else
``url_not_in_prior_context``), and the usage counters.

:func:`model_result` is what the model on Bedrock reads for a result block, the same for a
block just made and for one a client sends back: search results as ``search_result`` blocks
with citations on (the model cites them; :func:`~.web_tools.client_citation` shows the client
``web_search_result_location``), a fetched page as a ``document`` block when the tool has
citations on (``char_location`` citations), else as text; a PDF always as a document.

Fetched pages and search extracts are attacker-controlled: bounded by ``max_content_tokens``
(about 4 characters a token) and by :data:`MAX_PAGE_CHARS` / :data:`MAX_HIT_CHARS`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from code_exec.anthropic import wire
from code_exec.anthropic.ids import bedrock_tool_id
from code_exec.anthropic.web_tools import (
    RESULT_TYPES,
    WEB_FETCH,
    WEB_NAMES,
    WEB_SEARCH,
    WebTool,
    decode,
    encode,
)
from code_exec.ptc.web_tools import normalize_url, urls_in
from code_exec.web.domains import allowed, parse_rules
from code_exec.web.types import SearchRequest, WebToolError

__all__ = ["MAX_HIT_CHARS", "MAX_PAGE_CHARS", "DirectWeb", "model_result", "seen_urls"]

logger = logging.getLogger(__name__)

MAX_HIT_CHARS = 4_000  # characters of one search result's extract the model reads
MAX_PAGE_CHARS = 200_000  # characters of a fetched page (under any max_content_tokens)
MAX_URL = 250  # Anthropic's web fetch refuses longer URLs (url_too_long)
MAX_RESULTS = 5  # search results per search


def _urls(text: str) -> set[str]:
    return {k for u in urls_in(text) if (k := normalize_url(u))}


def _texts(content: Any) -> str:
    """The text of a tool result's ``content`` (a string or blocks)."""
    if isinstance(content, str):
        return content
    return " ".join(str(b.get("text") or b.get("source") or "") for b in content or [])


def _takes(rule: dict[str, Any] | None, name: str) -> bool:
    """Whether a ``url_sources`` tool filter lets tool ``name``'s results contribute."""
    if rule is None or rule.get("type") == "all":
        return True
    names = {str(t.get("name")) for t in rule.get("tools") or []}
    if rule.get("type") == "only":
        return name in names
    if rule.get("type") == "except":
        return name not in names
    return False


def seen_urls(messages: list[wire.Message], sources: dict[str, Any] | None) -> set[str]:
    """The URLs the conversation showed, from the sources ``url_sources`` allows (all when
    absent); never what the model wrote (its text or tool input)."""
    sources = sources or {}
    user = (sources.get("user_input") or {}).get("type", "all") == "all"
    names: dict[str, str] = {}  # tool_use id -> tool name
    seen: set[str] = set()
    for message in messages:
        for block in message.blocks():
            if isinstance(block, wire.ToolUseBlock | wire.ServerToolUseBlock):
                names[block.id] = block.name
            elif message.role == "user" and isinstance(block, wire.ToolResultBlock):
                if _takes(sources.get("client_tool_results"), names.get(block.tool_use_id, "")):
                    seen |= _urls(_texts(block.content))
            elif isinstance(block, wire.WebResultBlock):
                name = names.get(block.tool_use_id, block.type.removesuffix("_tool_result"))
                if _takes(sources.get("server_tool_results"), name):
                    seen |= result_urls(block.model_dump(exclude_none=True))
            elif message.role == "user" and user and not isinstance(block, wire.ToolResultBlock):
                seen |= _urls(str(block.model_dump(exclude_none=True)))
    return seen


def result_urls(block: dict[str, Any]) -> set[str]:
    """URLs a web result block makes fetchable: each search hit's, a fetched page's and the
    links written in it."""
    content = block.get("content")
    if isinstance(content, list):
        return {k for hit in content if (k := normalize_url(str(hit.get("url") or "")))}
    if not isinstance(content, dict) or content.get("type") != "web_fetch_result":
        return set()
    out = {k} if (k := normalize_url(str(content.get("url") or ""))) else set()
    source = (content.get("content") or {}).get("source") or {}
    if source.get("type") == "text":
        out |= _urls(str(source.get("data") or ""))
    return out


def _error(name: str, code: str) -> dict[str, Any]:
    return {"type": f"{RESULT_TYPES[name]}_error", "error_code": code}


class DirectWeb:
    """The web tool calls the model makes in one request."""

    def __init__(
        self,
        tools: tuple[WebTool, ...],
        messages: list[wire.Message],
        usage: Any,
        *,
        search: Callable[[], Any],
        fetcher: Callable[[], Any],
    ) -> None:
        self.tools = {t.name: t for t in tools if t.direct}
        self.usage = usage
        self._search, self._fetcher = search, fetcher
        self.uses = {name: 0 for name in WEB_NAMES}
        fetch = self.tools.get(WEB_FETCH)
        self.seen = seen_urls(messages, fetch.entry.get("url_sources") if fetch else None)

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self.tools)

    def run(self, name: str, tool_input: dict[str, Any]) -> dict[str, Any] | list[dict[str, Any]]:
        """The result ``content`` of one call (a list of hits, a page, or an error)."""
        tool = self.tools[name]
        self.uses[name] += 1
        try:
            if tool.max_uses is not None and self.uses[name] > tool.max_uses:
                raise WebToolError("max_uses_exceeded", f"max_uses is {tool.max_uses}")
            if name == WEB_SEARCH:
                return self._search_hits(tool, tool_input)
            return self._fetch(tool, tool_input)
        except WebToolError as e:
            logger.info("%s failed: %s", name, e)
            return _error(name, e.error_code)

    def _search_hits(self, tool: WebTool, tool_input: dict[str, Any]) -> list[dict[str, Any]]:
        query = tool_input.get("query")
        if not isinstance(query, str) or not query.strip():
            raise WebToolError("invalid_tool_input", "query must be a non-empty string")
        self.usage.web_search_requests += 1
        hits = self._search().search(
            SearchRequest(
                query=query,
                max_results=MAX_RESULTS,
                allowed_domains=tool.domains("allowed"),
                blocked_domains=tool.domains("blocked"),
                user_location=tool.entry.get("user_location"),
            )
        )
        out = []
        for hit in hits:
            text = hit.text[:MAX_HIT_CHARS]
            out.append(
                {
                    "type": "web_search_result",
                    "url": hit.url,
                    "title": hit.title,
                    "page_age": hit.page_age,
                    "encrypted_content": encode({"text": text}, compress=True),
                }
            )
            if key := normalize_url(hit.url):
                self.seen.add(key)
        return out

    def _fetch(self, tool: WebTool, tool_input: dict[str, Any]) -> dict[str, Any]:
        url = tool_input.get("url")
        if not isinstance(url, str) or not url.strip():
            raise WebToolError("invalid_tool_input", "url must be a non-empty string")
        if len(url) > MAX_URL:
            raise WebToolError("url_too_long", f"{len(url)} characters")
        allow = parse_rules(tool.domains("allowed"), name="allowed_domains")
        block = parse_rules(tool.domains("blocked"), name="blocked_domains")
        if not allowed(url, allow, block):
            raise WebToolError("url_not_allowed", "the tool's domain rules refuse it")
        if normalize_url(url) not in self.seen:
            raise WebToolError("url_not_in_prior_context", "not seen in the conversation")
        self.usage.web_fetch_requests += 1
        doc = self._fetcher().fetch(
            url,
            allowed_domains=tool.domains("allowed"),
            blocked_domains=tool.domains("blocked"),
        )
        if doc.media_type == "application/pdf" and doc.data_base64:
            source = {"type": "base64", "media_type": "application/pdf", "data": doc.data_base64}
        else:
            limit = MAX_PAGE_CHARS
            if isinstance(tool.entry.get("max_content_tokens"), int):
                limit = min(limit, 4 * int(tool.entry["max_content_tokens"]))
            source = {"type": "text", "media_type": "text/plain", "data": (doc.text or "")[:limit]}
        document: dict[str, Any] = {"type": "document", "source": source}
        if doc.title:
            document["title"] = doc.title
        if tool.entry.get("citations") is not None:
            document["citations"] = {"enabled": tool.citations}
        result = {
            "type": "web_fetch_result",
            "url": doc.url,
            "retrieved_at": doc.retrieved_at,
            "content": document,
        }
        self.seen |= result_urls({"content": result})
        return result


# --- what the model reads -----------------------------------------------------------------


def model_result(block: dict[str, Any], where: str = "messages") -> dict[str, Any]:
    """The ``tool_result`` standing for a web result block in what the model on Bedrock reads.

    Raises:
        RequestValidationError: an ``encrypted_content`` this deployment did not write.
    """
    content = block.get("content")
    result: dict[str, Any] = {
        "type": "tool_result",
        "tool_use_id": bedrock_tool_id(str(block["tool_use_id"])),
    }
    if isinstance(content, dict) and str(content.get("type", "")).endswith("_error"):
        result["content"] = [{"type": "text", "text": f"error: {content.get('error_code')}"}]
        result["is_error"] = True
    elif isinstance(content, list):
        result["content"] = [
            _search_result(hit, f"{where}.content.{i}") for i, hit in enumerate(content)
        ] or [{"type": "text", "text": "No results."}]
    else:
        result["content"] = [_page(content or {})]
    return result


def _search_result(hit: dict[str, Any], where: str) -> dict[str, Any]:
    text = decode(str(hit.get("encrypted_content")), f"{where}.encrypted_content", compress=True)
    body = str(text.get("text") or "")[:MAX_HIT_CHARS] or "(no extract)"
    if hit.get("page_age"):
        body = f"{body}\n\n(page age: {hit['page_age']})"
    return {
        "type": "search_result",
        "source": str(hit.get("url") or ""),
        "title": str(hit.get("title") or hit.get("url") or ""),
        "content": [{"type": "text", "text": body}],
        "citations": {"enabled": True},
    }


def _page(result: dict[str, Any]) -> dict[str, Any]:
    document = dict(result.get("content") or {})
    source = dict(document.get("source") or {})
    if source.get("type") == "text":
        source["data"] = str(source.get("data") or "")[:MAX_PAGE_CHARS]
    cited = bool((document.get("citations") or {}).get("enabled"))
    if source.get("type") == "text" and not cited:
        title = f" ({document['title']})" if document.get("title") else ""
        head = f"Fetched {result.get('url')}{title}, retrieved {result.get('retrieved_at')}:"
        return {"type": "text", "text": f"{head}\n\n{source.get('data') or '(empty page)'}"}
    out: dict[str, Any] = {"type": "document", "source": source}
    if document.get("title"):
        out["title"] = str(document["title"])[:500]
    if cited:
        out["citations"] = {"enabled": True}
    return out
