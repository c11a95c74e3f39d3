"""Tool search (``tool_search_tool_regex_20251119``, ``tool_search_tool_bm25_20251119``) and
``defer_loading``, done here as Anthropic's API does them.

A tool with ``defer_loading: true`` is not given to the model until it is discovered. The
model is given a stand-in client tool named like the search tool (``tool_search_tool_regex``
``{pattern, limit?}`` or ``tool_search_tool_bm25`` ``{query, limit?}``); its call is answered
here, like code execution: a ``server_tool_use`` (``srvtoolu_`` id) and a
``tool_search_tool_result`` holding ``tool_reference`` blocks, and from the next model call on
the referenced tools are in the tool list Bedrock is sent. The endpoint is stateless, so which
tools are loaded is read again from every request's history: the ``tool_reference`` blocks of
its ``tool_search_tool_result`` blocks, and those a client's own search returns in a
``tool_result`` (custom tool search, as Claude Code's ``ToolSearch`` does).

Anthropic's rules (https://platform.claude.com/docs/en/agents-and-tools/tool-use/tool-search-tool):
both variants search tool names, descriptions, argument names and argument descriptions;
regex patterns are Python ``re.search`` patterns, matched case-insensitively, at most 200
characters; BM25 queries are natural language, at most 500 characters; ``limit`` is 1 to
10,000, 5 by default; a search that matches nothing is an empty ``tool_references`` list,
not an error; a bad input is a ``tool_search_tool_result_error`` (``invalid_tool_input``
with a message); every tool deferred, or a reference to a tool the request does not define,
is a 400.

Only deferred tools are searched (the others are loaded already). A pattern runs on
``re`` with no timeout, so each field searched is cut to :data:`FIELD_LIMIT` characters and
the search stops with ``execution_time_exceeded`` past :data:`TIME_LIMIT` seconds (checked
between fields).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from code_exec.anthropic import wire
from code_exec.anthropic.bm25 import bm25_scores, tokenize
from code_exec.exceptions import RequestValidationError

__all__ = [
    "BM25",
    "NAMES",
    "REGEX",
    "Searchable",
    "discovered",
    "loaded_by",
    "references",
    "render",
    "search",
    "search_tool",
    "stand_in",
    "tool_reference_text",
]

REGEX = "tool_search_tool_regex"
BM25 = "tool_search_tool_bm25"
NAMES = frozenset({REGEX, BM25})
_TYPES = {
    "tool_search_tool_regex_20251119": REGEX,
    "tool_search_tool_regex": REGEX,
    "tool_search_tool_bm25_20251119": BM25,
    "tool_search_tool_bm25": BM25,
}
_FIELDS = {"type", "name", "allowed_callers", "cache_control", "defer_loading", "strict"}
MAX_PATTERN = 200
MAX_QUERY = 500
DEFAULT_LIMIT = 5
MAX_LIMIT = 10_000
FIELD_LIMIT = 4_000
TIME_LIMIT = 2.0


@dataclass(frozen=True)
class Searchable:
    """A deferred tool as the search sees it: its name and the texts searched."""

    name: str
    fields: tuple[str, ...]  # name, description, argument names and their descriptions

    @classmethod
    def of(
        cls, name: str, description: str = "", schema: dict[str, Any] | None = None
    ) -> Searchable:
        fields = [name, description]
        properties = (schema or {}).get("properties")
        if isinstance(properties, dict):
            for arg, spec in properties.items():
                fields.append(str(arg))
                if isinstance(spec, dict) and isinstance(spec.get("description"), str):
                    fields.append(spec["description"])
        return cls(name, tuple(f[:FIELD_LIMIT] for f in fields if f))


def search_tool(entry: dict[str, Any], where: str) -> str:
    """The name of the tool search entry ``entry`` (its type's variant), checked.

    Raises:
        RequestValidationError: an unknown type, a wrong name or an unknown field (400).
    """
    name = _TYPES.get(str(entry.get("type")))
    if name is None:
        raise RequestValidationError(
            f"unknown tool search tool type {entry.get('type')!r}; allowed: "
            + ", ".join(sorted(_TYPES)),
            field=f"{where}.type",
        )
    extra = set(entry) - _FIELDS
    if extra:
        raise RequestValidationError(
            f"{where}.{sorted(extra)[0]}: Extra inputs are not permitted", field=where
        )
    if entry.get("name") != name:
        raise RequestValidationError(
            f"the name of a {entry['type']} tool must be {name!r}", field=f"{where}.name"
        )
    return name


def stand_in(name: str, deferred: int) -> dict[str, Any]:
    """The client tool the model on Bedrock calls in place of the search tool ``name``."""
    regex = name == REGEX
    key, limit = ("pattern", MAX_PATTERN) if regex else ("query", MAX_QUERY)
    how = (
        f"a Python re.search regular expression (case-insensitive, at most {limit} "
        'characters), e.g. "weather", "get_.*_data" or "slack|discord"'
        if regex
        else f"natural-language keywords (at most {limit} characters), e.g. "
        '"weather forecast for a city"'
    )
    return {
        "name": name,
        "description": (
            f"Search the {deferred} tools that are available but not loaded yet (their names, "
            "descriptions and argument names and descriptions). The tools found are loaded "
            "and callable right after this search; call them as usual. Search again with "
            "other words if nothing fits. The query is " + how + "."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                key: {"type": "string", "description": "What to search for."},
                "limit": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_LIMIT,
                    "description": f"The most tools to return (default {DEFAULT_LIMIT}).",
                },
            },
            "required": [key],
        },
    }


def _error(code: str, message: str) -> dict[str, Any]:
    return {"type": "tool_search_tool_result_error", "error_code": code, "error_message": message}


def _found(names: Iterable[str]) -> dict[str, Any]:
    return {
        "type": "tool_search_tool_search_result",
        "tool_references": [{"type": "tool_reference", "tool_name": n} for n in names],
    }


def search(
    name: str,
    tool_input: dict[str, Any],
    catalog: Iterable[Searchable],
    *,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """The ``content`` of the ``tool_search_tool_result`` answering a search (Anthropic's
    ``tool_search_tool_search_result``, or ``tool_search_tool_result_error``)."""
    key, most = ("pattern", MAX_PATTERN) if name == REGEX else ("query", MAX_QUERY)
    text = tool_input.get(key)
    if not isinstance(text, str) or not text.strip():
        return _error("invalid_tool_input", f"{key} must be a non-empty string")
    if len(text) > most:
        return _error("invalid_tool_input", f"{key} is longer than {most} characters")
    limit = tool_input.get("limit", DEFAULT_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        return _error("invalid_tool_input", f"limit must be an integer from 1 to {MAX_LIMIT}")
    tools = list(catalog)
    if name == BM25:
        return _found(_bm25(text, tools)[:limit])
    try:
        pattern = re.compile(text, re.IGNORECASE)
    except re.error as e:
        return _error("invalid_tool_input", f"Invalid regular expression pattern: {e}")
    started, found = clock(), list[str]()
    for tool in tools:
        if len(found) >= limit:
            break
        for field in tool.fields:
            if clock() - started > TIME_LIMIT:
                return _error("execution_time_exceeded", "the search took too long")
            if pattern.search(field):
                found.append(tool.name)
                break
    return _found(found)


def _bm25(query: str, tools: list[Searchable]) -> list[str]:
    """The tools sharing a word with ``query``, best BM25 score first (ties: request order)."""
    words = tokenize(query)
    documents = [tokenize(" ".join(t.fields)) for t in tools]
    scores = bm25_scores(documents, words)
    hits = [i for i, d in enumerate(documents) if set(words) & set(d)]
    return [tools[i].name for i in sorted(hits, key=lambda i: (-scores[i], i))]


def loaded_by(content: dict[str, Any]) -> list[str]:
    """The tools a server tool result's ``content`` loads (none but for a search result)."""
    if content.get("type") != "tool_search_tool_search_result":
        return []
    return [str(r.get("tool_name")) for r in content.get("tool_references") or []]


def render(content: dict[str, Any]) -> str:
    """What the model reads for a search result (errors are rendered by the caller)."""
    names = [r.get("tool_name") for r in content.get("tool_references") or []]
    if not names:
        return "No tools matched. Search again with other words."
    return "Tools loaded, callable now: " + ", ".join(str(n) for n in names)


def tool_reference_text(block: dict[str, Any]) -> dict[str, Any]:
    """A ``tool_reference`` block of a client's ``tool_result``, as text the model reads (the
    tool itself is in its tool list from then on)."""
    return {"type": "text", "text": f"Tool loaded, callable now: {block.get('tool_name')}"}


def references(messages: Iterable[wire.Message]) -> list[tuple[str, str]]:
    """Every tool a request's history references, with where: ``tool_reference`` blocks in
    ``tool_search_tool_result`` blocks and in the content of ``tool_result`` blocks."""
    found: list[tuple[str, str]] = []
    for i, message in enumerate(messages):
        for j, block in enumerate(message.blocks()):
            where = f"messages.{i}.content.{j}"
            if isinstance(block, wire.ServerResultBlock):
                refs = block.content.get("tool_references")
            elif isinstance(block, wire.ToolResultBlock) and isinstance(block.content, list):
                refs = block.content
            else:
                continue
            for ref in refs if isinstance(refs, list) else []:
                if isinstance(ref, dict) and ref.get("type") == "tool_reference":
                    found.append((str(ref.get("tool_name")), where))
    return found


def discovered(
    request: wire.MessagesRequest, names: set[str], deferred: set[str]
) -> frozenset[str]:
    """The deferred tools the request's history has loaded (``names``: the request's tools).

    Raises:
        RequestValidationError: every tool is deferred, or a reference names no tool (400).
    """
    if request.tools and len(deferred) >= len(request.tools):
        raise RequestValidationError(
            "At least one tool must have defer_loading=false. All tools cannot be deferred.",
            field="tools",
        )
    loaded = set()
    for name, where in references(request.messages):
        if name not in names:
            raise RequestValidationError(
                f"Tool reference {name!r} not found in available tools", field=where
            )
        loaded.add(name)
    return frozenset(loaded & deferred)
