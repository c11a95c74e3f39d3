"""Anthropic's web search and web fetch server tools: their entries, the stand-ins the model on
Bedrock sees, and the blocks in Anthropic's shapes.

Bedrock has no server tools, so, as for code execution, the model is given client tools of
the same names that stand for them (``web_search {query}``, ``web_fetch {url}``); a call of
one becomes a ``server_tool_use`` block (``srvtoolu_`` id) run here (:mod:`.web_direct`).

Every version the SDK has is parsed here, in one place, with the fields its type lists:
``web_search_20250305`` / ``20260209`` / ``20260318`` (``max_uses``, ``allowed_domains``,
``blocked_domains``, ``user_location``; ``response_inclusion`` on ``20260318``) and
``web_fetch_20250910`` / ``20260209`` / ``20260309`` / ``20260318`` (also ``citations``,
``max_content_tokens``, ``url_sources``; ``use_cache`` from ``20260309``;
``response_inclusion`` on ``20260318``).

**Opaque fields** (the gateway is stateless; the client's history must rebuild what the model
saw): ``encrypted_content`` of a ``web_search_result`` is ``bcx1.`` + base64url(zlib(JSON
``{"text": <the extract the model read>}``)); ``encrypted_index`` of a
``web_search_result_location`` citation is ``bcx1.`` + base64url(JSON of Bedrock's
``search_result_location`` indices). They are encoded, not encrypted: whatever a client puts
there is text it could as well have written in its own message, so integrity protects nothing
(a forged search result can make a URL fetchable, as a user message naming it can).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from dataclasses import dataclass
from typing import Any

from code_exec.exceptions import RequestValidationError

__all__ = [
    "DYNAMIC_VERSIONS",
    "RESULT_TYPES",
    "WEB_FETCH",
    "WEB_NAMES",
    "WEB_SEARCH",
    "WEB_VERSIONS",
    "WebTool",
    "bedrock_citation",
    "client_citation",
    "decode",
    "encode",
    "parse_web_tool",
]

WEB_SEARCH = "web_search"
WEB_FETCH = "web_fetch"
WEB_NAMES = frozenset({WEB_SEARCH, WEB_FETCH})
RESULT_TYPES = {WEB_SEARCH: "web_search_tool_result", WEB_FETCH: "web_fetch_tool_result"}
WEB_VERSIONS = {
    WEB_SEARCH: ("20250305", "20260209", "20260318"),
    WEB_FETCH: ("20250910", "20260209", "20260309", "20260318"),
}
# The versions Anthropic runs with dynamic filtering (callable from code execution).
DYNAMIC_VERSIONS = {
    WEB_SEARCH: ("20260209", "20260318"),
    WEB_FETCH: ("20260209", "20260309", "20260318"),
}
_TYPE = re.compile(r"^(web_search|web_fetch)_(\d{8})$")
_COMMON = {
    "type", "name", "allowed_callers", "allowed_domains", "blocked_domains", "cache_control",
    "defer_loading", "max_uses", "strict",
}  # fmt: skip
# search_profile ("fast"): sent by Claude Code's WebSearch tool, not in the SDK; accepted, no effect
_SEARCH_FIELDS = {*_COMMON, "user_location", "search_profile"}
_FETCH_FIELDS = {*_COMMON, "citations", "max_content_tokens", "url_sources"}
_CALLERS = (
    "direct", "code_execution_20250825", "code_execution_20260120", "code_execution_20260521",
)  # fmt: skip
_LOCATION = {"type", "city", "region", "country", "timezone"}
_SOURCE_KEYS = ("user_input", "client_tool_results", "server_tool_results")
_PREFIX = "bcx1."
_MAX_OPAQUE = 1_000_000  # characters of an opaque field a client may send back

_DESCRIPTIONS = {
    WEB_SEARCH: (
        "Search the web for current information. Returns search results (title, URL and an "
        "extract of each page) that you can cite. Use it when the answer needs information "
        "that may be recent or that you do not know."
    ),
    WEB_FETCH: (
        "Fetch the full content of a web page or PDF by URL. Only URLs that already appeared "
        "in the conversation (the user's messages, tool results, earlier search or fetch "
        "results) can be fetched."
    ),
}
_SCHEMAS = {
    WEB_SEARCH: {
        "type": "object",
        "properties": {"query": {"type": "string", "description": "The search query"}},
        "required": ["query"],
    },
    WEB_FETCH: {
        "type": "object",
        "properties": {"url": {"type": "string", "description": "The URL to fetch"}},
        "required": ["url"],
    },
}


@dataclass(frozen=True)
class WebTool:
    """A ``web_search_*`` / ``web_fetch_*`` entry of the request's ``tools``, checked."""

    name: str  # web_search | web_fetch
    version: str
    direct: bool  # the model may call it (allowed_callers has "direct")
    callers: frozenset[str]  # code execution versions that may call it from code
    entry: dict[str, Any]  # as sent

    @property
    def type(self) -> str:
        return f"{self.name}_{self.version}"

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self.name]

    @property
    def input_schema(self) -> dict[str, Any]:
        return _SCHEMAS[self.name]

    @property
    def dynamic(self) -> bool:
        return self.version in DYNAMIC_VERSIONS[self.name]

    @property
    def max_uses(self) -> int | None:
        value = self.entry.get("max_uses")
        return value if isinstance(value, int) else None

    @property
    def citations(self) -> bool:
        """Citations of fetched documents (off unless ``citations.enabled``)."""
        config = self.entry.get("citations")
        return isinstance(config, dict) and bool(config.get("enabled"))

    def domains(self, kind: str) -> tuple[str, ...]:
        return tuple(self.entry.get(f"{kind}_domains") or ())

    def bedrock(self) -> dict[str, Any]:
        """The stand-in client tool the model on Bedrock is given."""
        tool: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "input_schema": self.input_schema,
        }
        if self.entry.get("cache_control"):
            tool["cache_control"] = self.entry["cache_control"]
        return tool


def _fail(message: str, where: str) -> RequestValidationError:
    return RequestValidationError(message, field=where)


def _check_domains(entry: dict[str, Any], where: str) -> None:
    for kind in ("allowed_domains", "blocked_domains"):
        value = entry.get(kind)
        if value is not None and (
            not isinstance(value, list) or any(not isinstance(d, str) or not d for d in value)
        ):
            raise _fail(f"{kind} must be a list of domain names", f"{where}.{kind}")
    if entry.get("allowed_domains") and entry.get("blocked_domains"):
        raise _fail("allowed_domains and blocked_domains cannot both be set", where)


def _check_options(entry: dict[str, Any], where: str) -> None:
    for key in ("max_uses", "max_content_tokens"):
        value = entry.get(key)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 1
        ):
            raise _fail(f"{key} must be a positive integer", f"{where}.{key}")
    location = entry.get("user_location")
    if location is not None and (
        not isinstance(location, dict)
        or location.get("type") != "approximate"
        or set(location) - _LOCATION
    ):
        raise _fail(
            'user_location must be {"type": "approximate", city, region, country, timezone}',
            f"{where}.user_location",
        )
    citations = entry.get("citations")
    if citations is not None and (not isinstance(citations, dict) or set(citations) - {"enabled"}):
        raise _fail('citations must be {"enabled": bool}', f"{where}.citations")
    if "use_cache" in entry and not isinstance(entry["use_cache"], bool):
        raise _fail("use_cache must be a boolean", f"{where}.use_cache")
    if entry.get("response_inclusion", "full") not in ("full", "excluded"):
        raise _fail(
            "response_inclusion must be 'full' or 'excluded'", f"{where}.response_inclusion"
        )
    sources = entry.get("url_sources")
    if sources is not None:
        if not isinstance(sources, dict) or set(sources) - set(_SOURCE_KEYS):
            raise _fail(
                "url_sources takes user_input, client_tool_results, server_tool_results",
                f"{where}.url_sources",
            )
        for key, value in sources.items():
            kinds = ("all", "none") if key == "user_input" else ("all", "none", "only", "except")
            if not isinstance(value, dict) or value.get("type") not in kinds:
                raise _fail(
                    f"url_sources.{key}.type must be one of {kinds}", f"{where}.url_sources"
                )


def parse_web_tool(entry: dict[str, Any], where: str) -> WebTool:
    """Check one web tool entry against its version's fields (the SDK's types).

    ``allowed_callers`` defaults to ``["direct"]``, and for the dynamic-filtering versions to
    ``["direct", "code_execution_20260120"]``.

    Raises:
        RequestValidationError: naming ``<where>.<field>`` (400).
    """
    kind = str(entry.get("type", ""))
    m = _TYPE.match(kind)
    if not m or m.group(2) not in WEB_VERSIONS[m.group(1)]:
        known = [f"{n}_{v}" for n, vs in WEB_VERSIONS.items() for v in vs]
        raise _fail(f"unknown web tool type {kind!r}; allowed: {', '.join(known)}", f"{where}.type")
    name, version = m.group(1), m.group(2)
    allowed = set(_SEARCH_FIELDS if name == WEB_SEARCH else _FETCH_FIELDS)
    if name == WEB_FETCH and version >= "20260309":
        allowed.add("use_cache")
    if version == "20260318":
        allowed.add("response_inclusion")
    extra = sorted(set(entry) - allowed)
    if extra:
        raise _fail(f"{where}.{extra[0]}: Extra inputs are not permitted", f"{where}.{extra[0]}")
    if entry.get("name") != name:
        raise _fail(f"the tool's name must be {name!r}", f"{where}.name")
    _check_domains(entry, where)
    _check_options(entry, where)
    dynamic = version in DYNAMIC_VERSIONS[name]
    callers = entry.get("allowed_callers")
    if callers is None:
        callers = ["direct", "code_execution_20260120"] if dynamic else ["direct"]
    if not isinstance(callers, list) or not callers or any(c not in _CALLERS for c in callers):
        raise _fail(
            f"allowed_callers must be a non-empty list of {', '.join(_CALLERS)}",
            f"{where}.allowed_callers",
        )
    code = frozenset(c.removeprefix("code_execution_") for c in callers if c != "direct")
    return WebTool(name, version, "direct" in callers, code, dict(entry))


# --- opaque fields ------------------------------------------------------------------------


def encode(value: dict[str, Any], *, compress: bool = False) -> str:
    """An opaque field (see the module docstring)."""
    raw = json.dumps(value, separators=(",", ":")).encode()
    if compress:
        raw = zlib.compress(raw)
    return _PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(opaque: str, where: str, *, compress: bool = False) -> dict[str, Any]:
    """The value of an opaque field a client sent back.

    Raises:
        RequestValidationError: not one this deployment wrote (400 naming ``where``).
    """
    if not isinstance(opaque, str) or not opaque.startswith(_PREFIX) or len(opaque) > _MAX_OPAQUE:
        raise _fail("not a value this deployment wrote", where)
    data = opaque[len(_PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
        if compress:
            decompressor = zlib.decompressobj()
            raw = decompressor.decompress(raw, 4 * _MAX_OPAQUE)
        value = json.loads(raw)
    except (binascii.Error, zlib.error, ValueError) as e:
        raise _fail(f"not a value this deployment wrote ({type(e).__name__})", where) from e
    if not isinstance(value, dict):
        raise _fail("not a value this deployment wrote", where)
    return value


# --- citations ----------------------------------------------------------------------------


def client_citation(citation: dict[str, Any]) -> dict[str, Any]:
    """A citation of the model's text as the client sees it: Bedrock's
    ``search_result_location`` of a web search result becomes ``web_search_result_location``;
    other citations (``char_location`` of a fetched document, ...) are as the model wrote them."""
    if citation.get("type") != "search_result_location":
        return citation
    source = str(citation.get("source") or "")
    if not source.startswith(("http://", "https://")):
        return citation  # a search_result block of the client's own
    index = {
        k: citation.get(k) for k in ("search_result_index", "start_block_index", "end_block_index")
    }
    return {
        "type": "web_search_result_location",
        "url": source,
        "title": citation.get("title"),
        "cited_text": str(citation.get("cited_text") or ""),
        "encrypted_index": encode(index),
    }


def bedrock_citation(citation: dict[str, Any], where: str) -> dict[str, Any]:
    """The inverse of :func:`client_citation`, for a history sent back."""
    if citation.get("type") != "web_search_result_location":
        return citation
    index = decode(str(citation.get("encrypted_index")), f"{where}.encrypted_index")
    out: dict[str, Any] = {
        "type": "search_result_location",
        "source": citation.get("url"),
        "cited_text": citation.get("cited_text", ""),
        **{
            k: int(index.get(k) or 0)
            for k in ("search_result_index", "start_block_index", "end_block_index")
        },
    }
    if citation.get("title") is not None:
        out["title"] = citation["title"]
    return out
