"""Dynamic filtering: ``web_search`` / ``web_fetch`` called from code execution, served here.

Anthropic's ``web_search_20260209`` / ``20260318`` and ``web_fetch_20260209`` / ``20260309`` /
``20260318`` let Claude write code in the code execution container that calls the web tools;
the raw results stay in the container and only what the code prints enters the context. Here
that is programmatic tool calling with the gateway as the tool's server: the tools are async
functions in the container's Python runner (bridged,
:mod:`code_exec.anthropic.client_tool_relay`); a cell that awaits one pauses, and instead of
answering ``tool_use`` to the client the turn runs the call itself (:class:`CodeWeb`, over
:class:`~code_exec.ptc.web_tools.WebSession`), hands the result to the cell as a JSON string
and lets it run on.

The response shows each call as a ``server_tool_use`` block whose ``caller`` names the code
execution use (``{"type": "code_execution_20260120", "tool_id": <srvtoolu id>}``), followed by
its ``web_search_tool_result`` / ``web_fetch_tool_result`` (with the same ``caller``), before
the code execution result; a tool with ``response_inclusion: "excluded"`` (the ``20260318``
versions) has that pair dropped once the code execution call completed in the same response.
``usage.server_tool_use`` counts the requests. The fetch rule holds: a URL may be fetched when
it appeared in a user message or in a web tool result of the conversation, or was returned by a
search or fetch of this request (URLs the model itself wrote do not count).

A version callable from code defaults to ``allowed_callers: ["direct",
"code_execution_20260120"]`` (the older ones to ``["direct"]``); a request whose web tools may
be called from code and that has no code execution entry runs ``code_execution_20260120``, as
Anthropic runs code for dynamic filtering without one.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from code_exec.anthropic.ids import SERVER_PREFIX, _token
from code_exec.anthropic.web_direct import seen_urls as direct_seen_urls
from code_exec.anthropic.web_tools import WebTool, encode
from code_exec.ptc import PendingCall
from code_exec.ptc.bridge import MAX_CALLS_PER_ROUND
from code_exec.ptc.web_tools import (
    FETCH,
    SEARCH,
    UrlLedger,
    Use,
    WebLimits,
    WebSession,
    fetch_value,
    search_value,
)

__all__ = ["CodeFunction", "CodeWeb", "Served", "code_functions", "seen_urls"]

logger = logging.getLogger(__name__)

_DESCRIPTIONS = {
    SEARCH: (
        "Search the web. Returns a JSON list of results, best first: {title, url, text "
        "(an extract of the page), page_age}. max_results: 1 to 25 (default 5)."
    ),
    FETCH: (
        "Fetch a web page whose URL appeared in the conversation or in a web_search or "
        "web_fetch result. Returns JSON {url, title, media_type, text (the page as plain "
        "text), data_base64 (PDFs), retrieved_at}. Filter the text in code and print only "
        "what the answer needs."
    ),
}
_SCHEMAS = {
    SEARCH: {
        "type": "object",
        "properties": {"query": {"type": "string"}, "max_results": {"type": "integer"}},
        "required": ["query"],
    },
    FETCH: {
        "type": "object",
        "properties": {"url": {"type": "string"}},
        "required": ["url"],
    },
}


@dataclass(frozen=True)
class CodeFunction:
    """A web tool as the code execution tool's description lists it (an async function)."""

    name: str
    description: str
    input_schema: dict[str, Any]


def code_functions(tools: Iterable[WebTool]) -> list[CodeFunction]:
    """The functions the model's code may call for ``tools`` (callable from code)."""
    return [CodeFunction(t.name, _DESCRIPTIONS[t.name], _SCHEMAS[t.name]) for t in tools]


def _excluded(tool: WebTool) -> bool:
    """Its nested pairs are dropped once the code execution call completed."""
    return tool.entry.get("response_inclusion") == "excluded"


def seen_urls(messages: list[Any], tools: Iterable[WebTool], direct: Any = None) -> UrlLedger:
    """The URLs a fetch from code may name: those the conversation showed, from the sources the
    fetch tool's ``url_sources`` allows (:func:`.web_direct.seen_urls`: user messages, tool
    results, web results; never what the model wrote). When the model may also fetch directly
    (``direct``: the request's ``DirectWeb``), both paths share one record, so a URL either
    path's search returned may be fetched by the other in the same request."""
    fetch = next((t for t in tools if t.name == FETCH), None)
    if direct is not None and FETCH in direct.tools:
        return UrlLedger(store=direct.seen)
    sources = fetch.entry.get("url_sources") if fetch is not None else None
    return UrlLedger(direct_seen_urls(messages, sources))


@dataclass
class Served:
    """What serving a round's web calls gave: blocks for the response, outcomes for the cell
    (call id -> outcome), and the calls left for the client."""

    blocks: list[dict[str, Any]] = field(default_factory=list)
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    rest: list[PendingCall] = field(default_factory=list)


class CodeWeb:
    """The web tools callable from code in one request (see the module docstring)."""

    def __init__(
        self,
        tools: Iterable[WebTool],
        *,
        caller_type: str,
        search: Callable[[], Any],
        fetcher: Callable[[], Any],
        ledger: UrlLedger,
    ) -> None:
        self.tools = {t.name: t for t in tools}
        self.caller_type = caller_type
        search_tool, fetch_tool = self.tools.get(SEARCH), self.tools.get(FETCH)
        limits = WebLimits(
            search_max_uses=search_tool.entry.get("max_uses") if search_tool else None,
            fetch_max_uses=fetch_tool.entry.get("max_uses") if fetch_tool else None,
            allowed_domains=fetch_tool.domains("allowed") if fetch_tool else (),
            blocked_domains=fetch_tool.domains("blocked") if fetch_tool else (),
            search_allowed_domains=search_tool.domains("allowed") if search_tool else None,
            search_blocked_domains=search_tool.domains("blocked") if search_tool else None,
            user_location=search_tool.entry.get("user_location") if search_tool else None,
        )
        self.session = WebSession(
            search_backend=search_tool and _Lazy(search),
            fetch_backend=fetch_tool and _Lazy(fetcher),
            limits=limits,
            ledger=ledger,
        )
        self._excluded: set[str] = set()  # ids of nested blocks to drop once the cell ends

    @property
    def search_requests(self) -> int:
        return self.session.search_requests

    @property
    def fetch_requests(self) -> int:
        return self.session.fetch_requests

    def serve(self, calls: list[PendingCall], use_id: str) -> Served:
        """Run the round's web calls (in parallel); leave the client's calls for the client."""
        served = Served(rest=[c for c in calls if c.tool not in self.tools])
        mine = [c for c in calls if c.tool in self.tools]
        if not mine:
            return served
        for call in mine[MAX_CALLS_PER_ROUND:]:  # a round past the cap: refused, not run
            use = Use(call.tool, dict(call.input), error_code="too_many_requests")
            served.outcomes[call.id] = _refusal(use)
            served.blocks += self._blocks(use, use_id)
        mine = mine[:MAX_CALLS_PER_ROUND]
        with ThreadPoolExecutor(max_workers=min(len(mine), 8), thread_name_prefix="web") as pool:
            # each call in a copy of this context: the request's deadline bounds its backend
            futures = [pool.submit(contextvars.copy_context().run, self._run, c) for c in mine]
            results = [f.result() for f in futures]
        for call, (outcome, use) in zip(mine, results, strict=True):
            served.outcomes[call.id] = outcome
            blocks = self._blocks(use, use_id)
            if _excluded(self.tools[call.tool]):
                self._excluded.update(b.get("id") or b["tool_use_id"] for b in blocks)
            served.blocks += blocks
        return served

    def completed(self, blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``blocks`` without the nested pairs of ``response_inclusion: "excluded"`` tools (the
        code execution call they served has completed)."""
        return [b for b in blocks if (b.get("id") or b.get("tool_use_id")) not in self._excluded]

    def _run(self, call: PendingCall) -> tuple[dict[str, Any], Use]:
        """One call: its outcome for the cell (the value as a JSON string, or a
        ``ToolError`` naming the error code) and its :class:`Use` for the blocks."""
        args = dict(call.input)
        if call.tool == SEARCH:
            query, count = args.pop("query", None), args.pop("max_results", 5)
            if isinstance(query, str) and _is_int(count) and not args:
                use = self.session.search_use(query, count)
            else:
                use = Use(SEARCH, dict(call.input), error_code="invalid_tool_input")
            value: Any = None if use.error_code else search_value(use)
        else:
            url = args.pop("url", None)
            if isinstance(url, str) and not args:
                use = self.session.fetch_use(url)
            else:
                use = Use(FETCH, dict(call.input), error_code="invalid_tool_input")
            value = None if use.error_code else fetch_value(use)
        if use.error_code:
            return _refusal(use), use
        return {"ok": True, "value": json.dumps(value)}, use

    def _blocks(self, use: Use, use_id: str) -> list[dict[str, Any]]:
        caller = {"type": self.caller_type, "tool_id": use_id}
        block_id = SERVER_PREFIX + _token()
        call = {"type": "server_tool_use", "id": block_id, "name": use.tool, "input": use.input}
        if use.tool == SEARCH:
            content: Any = (
                {"type": "web_search_tool_result_error", "error_code": use.error_code}
                if use.error_code
                else [_hit(h) for h in use.value]
            )
        else:
            content = (
                {"type": "web_fetch_tool_result_error", "error_code": use.error_code}
                if use.error_code
                else self._document(use.value)
            )
        result = {
            "type": f"{use.tool}_tool_result",
            "tool_use_id": block_id,
            "content": content,
            "caller": caller,
        }
        return [{**call, "caller": caller}, result]

    def _document(self, doc: Any) -> dict[str, Any]:
        tool = self.tools[FETCH]
        if doc.media_type == "application/pdf":
            source = {"type": "base64", "media_type": "application/pdf", "data": doc.data_base64}
        else:
            text = doc.text or ""
            cap = tool.entry.get("max_content_tokens")
            if isinstance(cap, int) and cap > 0:
                text = text[: cap * 4]  # about 4 characters a token
            source = {"type": "text", "media_type": "text/plain", "data": text}
        document: dict[str, Any] = {"type": "document", "source": source, "title": doc.title}
        citations = tool.entry.get("citations")
        if isinstance(citations, dict) and "enabled" in citations:
            document["citations"] = {"enabled": bool(citations["enabled"])}
        return {
            "type": "web_fetch_result",
            "url": doc.url,
            "retrieved_at": doc.retrieved_at,
            "content": document,
        }


class _Lazy:
    """A backend made on first use (a request that never calls it builds no client)."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make, self._made = make, None

    def _get(self) -> Any:
        if self._made is None:
            self._made = self._make()
        return self._made

    def search(self, request: Any) -> Any:
        return self._get().search(request)

    def fetch(self, url: str, **kwargs: Any) -> Any:
        return self._get().fetch(url, **kwargs)


def _refusal(use: Use) -> dict[str, Any]:
    """The outcome code receives for a refused or failed call: ``ToolError`` naming the code."""
    return {"ok": False, "error": {"type": "ToolError", "message": f"{use.tool}: {use.error_code}"}}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _hit(hit: Any) -> dict[str, Any]:
    """A search hit in Anthropic's shape (``encrypted_content`` as :mod:`.web_tools` encodes it)."""
    return {
        "type": "web_search_result",
        "url": hit.url,
        "title": hit.title,
        "page_age": hit.page_age,
        "encrypted_content": encode({"text": hit.text}, compress=True),
    }
