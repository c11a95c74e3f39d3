"""The request surface of ``POST /v1/messages``: what this deployment does with each top-level
field, each tool type and each ``anthropic-beta`` value a client may send.

One row per name, each with its disposition and the documentation it rests on:

* ``passed``: handed to Bedrock as Anthropic's Messages body on ``InvokeModel`` (Bedrock's own
  documentation of that body, or of the feature on ``InvokeModel``, says it takes it);
* ``implemented``: done here, because Bedrock has no such thing (code execution, containers,
  context editing, thinking ``display``);
* ``ignored``: accepted, with no effect (Anthropic's own accounting and routing);
* ``refused``: a 400 that names the field and says why (nothing runs it on Bedrock, and it is
  not emulated here yet);
* ``dropped`` (betas only): not sent to Bedrock and with no effect here; the response says so
  in the :data:`DROPPED_HEADER` header. A beta nobody listed is dropped too, never a 400:
  clients (Claude Code first) send betas of their own, and forwarding one Bedrock does not
  know fails the model call ("invalid beta flag").

Validation reads this table (:func:`refusal`, :func:`tool_row`, :func:`split_betas`), and
``docs/anthropic-api.md`` is generated from it (``python -m devtools.surface_doc``; a test
fails when the document is stale), so the table is the one place a decision is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from code_exec.anthropic.errors import ThreadUnsupportedError
from code_exec.exceptions import RequestValidationError

__all__ = [
    "BETAS",
    "DROPPED_HEADER",
    "FIELDS",
    "TOOLS",
    "Betas",
    "Row",
    "refusal",
    "refuse_unsupported",
    "split_betas",
    "tool_row",
]

Disposition = Literal["passed", "implemented", "ignored", "refused", "dropped"]
DROPPED_HEADER = "anthropic-beta-dropped"

# Bedrock's documentation.
BR_BODY = (
    "https://docs.aws.amazon.com/bedrock/latest/userguide/"
    "model-parameters-anthropic-claude-messages-request-response.html"
)
BR_INVOKE = (
    "https://docs.aws.amazon.com/bedrock/latest/APIReference/"
    "API_runtime_InvokeModelWithResponseStream.html"
)
BR_THINKING = (
    "https://docs.aws.amazon.com/bedrock/latest/userguide/claude-messages-extended-thinking.html"
)
BR_SIGNATURE = (
    "https://docs.aws.amazon.com/bedrock/latest/userguide/claude-messages-thinking-encryption.html"
)
BR_COMPACTION = (
    "https://docs.aws.amazon.com/bedrock/latest/userguide/claude-messages-compaction.html"
)
BR_STRUCTURED = (
    "https://docs.aws.amazon.com/bedrock/latest/userguide/claude-messages-structured-outputs.html"
)
BR_TOOLS = (
    "https://docs.aws.amazon.com/bedrock/latest/userguide/"
    "model-parameters-anthropic-claude-messages-tool-use.html"
)
# Anthropic's documentation.
_A = "https://platform.claude.com/docs/en"
A_CREATE = f"{_A}/api/messages/create"
A_BETAS = f"{_A}/api/beta-headers"
A_ON_BEDROCK = f"{_A}/build-with-claude/claude-on-amazon-bedrock"
A_CONTEXT_EDITING = f"{_A}/build-with-claude/context-editing"
A_COMPACTION = f"{_A}/build-with-claude/compaction"
A_THINKING = f"{_A}/build-with-claude/extended-thinking"
A_CACHING = f"{_A}/build-with-claude/prompt-caching"
A_CODE_EXECUTION = f"{_A}/agents-and-tools/tool-use/code-execution-tool"
A_PTC = f"{_A}/agents-and-tools/tool-use/programmatic-tool-calling"
A_TOOL_SEARCH = f"{_A}/agents-and-tools/tool-use/tool-search-tool"
A_WEB_SEARCH = f"{_A}/agents-and-tools/tool-use/web-search-tool"
A_WEB_FETCH = f"{_A}/agents-and-tools/tool-use/web-fetch-tool"
A_MCP = f"{_A}/agents-and-tools/mcp-connector"
A_MEMORY = f"{_A}/agents-and-tools/tool-use/memory-tool"
A_ADVISOR = f"{_A}/agents-and-tools/tool-use/advisor-tool"
A_FILES = f"{_A}/build-with-claude/files"
A_CLAUDE_CODE = "https://docs.claude.com/en/docs/claude-code/llm-gateway"
HERE = "docs/anthropic-api.md"  # this deployment's own behaviour, described in the document


@dataclass(frozen=True)
class Row:
    """One name of the request surface.

    Attributes:
        name: the field, the tool ``type`` (a trailing ``*`` matches a prefix), or the beta.
        disposition: what is done with it (module docstring).
        why: one sentence a reader (and a 400's message) can act on.
        source: the documentation the decision rests on.
    """

    name: str
    disposition: Disposition
    why: str
    source: str

    def matches(self, name: str) -> bool:
        if self.name.endswith("*"):
            return name.startswith(self.name[:-1])
        return name == self.name


_IGNORED = "Anthropic's own accounting or routing; Bedrock bills and routes by its own rules"
_TOOL_SEARCH_HERE = (
    "Bedrock runs tool search on InvokeModel for some Claude models only (Anthropic's page: "
    "Claude Opus 4.5 at first, beta `tool-search-tool-2025-10-19`), and not over the tools "
    "this deployment gives the model (code execution's stand-ins, tools callable from code); "
    "so it is done here for every model: the model is given a stand-in search tool, the "
    "regex or BM25 search runs here over the deferred tools, and the tools its "
    "`tool_reference` blocks name join the model's tool list (`anthropic/tool_search.py`)"
)

FIELDS: tuple[Row, ...] = (
    Row("model", "implemented", "resolved to a Bedrock model id the deployment may invoke "
        "(the InvokeModel modelId, not a body field)", BR_INVOKE),
    Row("max_tokens", "passed", "", BR_BODY),
    Row("messages", "implemented", "passed, with server tool blocks turned into the client tool "
        "blocks the model on Bedrock knows, context edits applied first, and a mid-conversation "
        "system message (`role: system`, text only) given as user text at its place", BR_BODY),
    Row("system", "passed", "", BR_BODY),
    Row("stop_sequences", "passed", "", BR_BODY),
    Row("temperature", "passed", "", BR_BODY),
    Row("top_p", "passed", "", BR_BODY),
    Row("top_k", "passed", "", BR_BODY),
    Row("tool_choice", "passed", "checked against the request's tools first", BR_BODY),
    Row("tools", "implemented", "each tool type as the tool table says", BR_BODY),
    Row("thinking", "passed", "`display` is implemented here (Bedrock's body has no such "
        "field): `omitted` returns each thinking block with empty text and its signature, "
        "which carries the full thinking; `summarized` and `updates` (which Claude Code "
        "2.1.332 asks for with non-default models) return the thinking as Bedrock writes it",
        BR_THINKING),
    Row("output_config", "passed", "", BR_STRUCTURED),
    Row("stream", "implemented", "every Bedrock call streams; a whole response is added up",
        BR_INVOKE),
    Row("container", "implemented", "the code execution sandbox (AgentCore Code Interpreter)",
        A_CODE_EXECUTION),
    Row("context_management", "implemented", "`clear_tool_uses_20250919` and "
        "`clear_thinking_20251015` are applied here to the history before it reaches the "
        "model; `compact_20260112` is refused", A_CONTEXT_EDITING),
    Row("cache_control", "ignored", "top-level automatic caching is not in Bedrock's body; "
        "`cache_control` on blocks and tools is passed", A_CACHING),
    Row("metadata", "ignored", _IGNORED, A_CREATE),
    Row("service_tier", "ignored", _IGNORED, A_CREATE),
    Row("speed", "ignored", _IGNORED, A_CREATE),
    Row("inference_geo", "ignored", _IGNORED, A_CREATE),
    Row("diagnostics", "ignored", _IGNORED, A_CREATE),
    Row("user_profile_id", "ignored", _IGNORED, A_CREATE),
    Row("workspace_id", "ignored", _IGNORED, A_CREATE),
    Row("billing_policy", "ignored", _IGNORED, A_CREATE),
    Row("fallback_credit_token", "ignored", _IGNORED, A_CREATE),
    Row("fallbacks", "refused", "server-side model fallbacks are not implemented on this "
        "deployment: the model named is the model called", A_CREATE),
    Row("mcp_servers", "refused", "the MCP connector is not available on this deployment: "
        "nothing on Bedrock connects to MCP servers", A_MCP),
    Row("compaction", "refused", "compaction is not available on this deployment yet "
        "(Bedrock runs it on InvokeModel for a few models; its blocks are not handled here)",
        BR_COMPACTION),
    Row("output_format", "refused", "use output_config.format (output_format is the "
        "deprecated spelling, not in Bedrock's body)", BR_STRUCTURED),
    Row("thread", "refused", "conversations are not held server-side here: send the whole "
        "conversation in messages", A_CREATE),
)  # fmt: skip

# Web search and web fetch: Anthropic's docs say neither is available on Amazon Bedrock; here
# the model is given stand-in tools and the gateway runs them (code_exec.anthropic.web_tools).
_WEB_SEARCH = (
    "emulated (not available on Amazon Bedrock, per Anthropic): the model is given a "
    "stand-in tool, the search runs on AgentCore InvokeWebSearch; results, errors, "
    "citations and usage in Anthropic's shapes"
)
_WEB_FETCH = (
    "emulated (not available on Amazon Bedrock, per Anthropic): the model is given a "
    "stand-in tool, the gateway fetches (SSRF-guarded) only URLs already in the "
    "conversation"
)
_DYNAMIC = "; direct calls as the first version, calls from code execution (dynamic filtering)"
_DYNAMIC_318 = _DYNAMIC + " with `response_inclusion`"
_USE_CACHE = "; `use_cache` accepted (nothing is cached: every fetch is fresh)"

TOOLS: tuple[Row, ...] = (
    Row("custom", "passed", "sent as name, description, input_schema and cache_control; "
        "`defer_loading` is implemented here (the tool reaches the model once a "
        "`tool_reference` in the history discovers it), `allowed_callers` too (programmatic "
        "tool calling)", BR_BODY),
    Row("code_execution_*", "implemented", "emulated: the model is given client stand-in "
        "tools, the code runs in the sandbox", A_CODE_EXECUTION),
    Row("bash_*", "passed", "an Anthropic-defined client tool: the client runs it", BR_BODY),
    Row("text_editor_*", "passed", "an Anthropic-defined client tool: the client runs it",
        BR_BODY),
    Row("computer_2*", "passed", "an Anthropic-defined client tool: the client runs it",
        BR_BODY),
    Row("memory_*", "passed", "an Anthropic-defined client tool: the client runs it", A_MEMORY),
    *(
        Row(f"web_search_{v}", "implemented", _WEB_SEARCH + why, A_WEB_SEARCH)
        for v, why in (("20250305", ""), ("20260209", _DYNAMIC), ("20260318", _DYNAMIC_318))
    ),
    *(
        Row(f"web_fetch_{v}", "implemented", _WEB_FETCH + why, A_WEB_FETCH)
        for v, why in (
            ("20250910", ""),
            ("20260209", _DYNAMIC),
            ("20260309", _USE_CACHE + _DYNAMIC),
            ("20260318", _USE_CACHE + _DYNAMIC_318),
        )
    ),
    Row("web_search_*", "refused", "an unknown web search version (the versions above are "
        "implemented)", A_WEB_SEARCH),
    Row("web_fetch_*", "refused", "an unknown web fetch version (the versions above are "
        "implemented)", A_WEB_FETCH),
    Row("tool_search_tool_*", "implemented", _TOOL_SEARCH_HERE, A_TOOL_SEARCH),
    Row("mcp_toolset", "refused", "the MCP connector is not available on this deployment",
        A_MCP),
    Row("advisor_*", "refused", "a server tool nothing on Bedrock runs", A_ADVISOR),
    Row("browser_toolset_*", "refused", "a server toolset nothing on Bedrock runs", A_CREATE),
    Row("computer_toolset_*", "refused", "a server toolset nothing on Bedrock runs", A_CREATE),
)  # fmt: skip

_ANTHROPIC_ONLY = "an Anthropic-side feature with no effect here"
_PASSED = "Claude on Bedrock takes it in `anthropic_beta`"

BETAS: tuple[Row, ...] = (
    Row("computer-use-2025-01-24", "passed", _PASSED, BR_BODY),
    Row("computer-use-2025-11-24", "passed", _PASSED, BR_BODY),
    Row("context-1m-2025-08-07", "passed", _PASSED, BR_BODY),
    Row("context-management-2025-06-27", "passed", _PASSED + "; the edits themselves are "
        "applied here", BR_BODY),
    Row("fine-grained-tool-streaming-2025-05-14", "passed", _PASSED, BR_BODY),
    Row("interleaved-thinking-2025-05-14", "passed", _PASSED, BR_THINKING),
    Row("token-efficient-tools-2025-02-19", "passed", _PASSED, BR_BODY),
    Row("tool-examples-2025-10-29", "passed", _PASSED, A_ON_BEDROCK),
    Row("tool-search-tool-2025-10-19", "implemented", "tool search is done here whatever "
        "the header (Bedrock's beta name for it; not sent: no tool search reaches Bedrock)",
        A_TOOL_SEARCH),
    Row("code-execution-2025-05-22", "implemented", "code execution is emulated",
        A_CODE_EXECUTION),
    Row("code-execution-2025-08-25", "implemented", "code execution is emulated",
        A_CODE_EXECUTION),
    Row("files-api-2025-04-14", "implemented", "`/v1/files` is served here", A_FILES),
    Row("advanced-tool-use-2025-11-20", "implemented", "Anthropic's name for tool search, "
        "programmatic tool calling and tool examples: the first two are done here whatever "
        "the header; not sent to Bedrock, whose own names are `tool-search-tool-2025-10-19` "
        "and `tool-examples-2025-10-29`", A_TOOL_SEARCH),
    Row("claude-code-20250219", "dropped", "sent by Claude Code on every request; "
        + _ANTHROPIC_ONLY, A_CLAUDE_CODE),
    Row("thinking-token-count-2026-05-13", "dropped", "sent by Claude Code; "
        + _ANTHROPIC_ONLY, A_BETAS),
    Row("per-turn-control-2026-07-01", "dropped", "sent by Claude Code; a system message's "
        "`clear_at` and `output_config` are applied here whatever the header", A_BETAS),
    Row("mid-conversation-tool-changes-2026-07-01", "dropped", "sent by Claude Code; tool "
        "additions and removals in system messages are refused (400 naming the message)",
        A_BETAS),
    Row("computer-use-2024-10-22", "dropped", "Claude 3.5 Sonnet v2's computer use; "
        + _ANTHROPIC_ONLY, A_BETAS),
    Row("output-128k-2025-02-19", "dropped", "Claude 3.7 Sonnet only; " + _ANTHROPIC_ONLY,
        A_BETAS),
    Row("dev-full-thinking-2025-05-14", "dropped", _ANTHROPIC_ONLY, A_BETAS),
    Row("mcp-client-2025-04-04", "dropped", "the MCP connector is refused", A_MCP),
    Row("mcp-client-2025-11-20", "dropped", "the MCP connector is refused", A_MCP),
    Row("compact-2026-01-12", "dropped", "compaction is refused", A_COMPACTION),
    Row("structured-outputs-2025-11-13", "dropped", "structured outputs are GA "
        "(`output_config.format`)", BR_STRUCTURED),
    Row("prompt-caching-2024-07-31", "dropped", "prompt caching is GA", A_CACHING),
    Row("extended-cache-ttl-2025-04-11", "dropped", "the 1-hour TTL is GA", A_CACHING),
    Row("pdfs-2024-09-25", "dropped", "PDF support is GA", A_BETAS),
    Row("token-counting-2024-11-01", "dropped", "token counting is GA", A_BETAS),
    Row("message-batches-2024-09-24", "dropped", "batches are not served here", A_BETAS),
    Row("skills-2025-10-02", "dropped", "served here: /v1/skills, container.skills", A_BETAS),
    Row("effort-2025-11-24", "dropped", "effort is GA (`output_config.effort`)", A_BETAS),
    Row("*", "dropped", "any other beta: " + _ANTHROPIC_ONLY, A_BETAS),
)  # fmt: skip


def _find(rows: tuple[Row, ...], name: str) -> Row | None:
    exact = next((r for r in rows if r.name == name), None)
    return exact or next((r for r in rows if r.name.endswith("*") and r.matches(name)), None)


def field_row(name: str) -> Row:
    """The row of top-level field ``name`` (every field of ``MessagesRequest`` has one)."""
    row = _find(FIELDS, name)
    if row is None:
        raise KeyError(name)
    return row


def refusal(name: str) -> str | None:
    """The 400 message for a top-level field this deployment refuses, else None."""
    row = _find(FIELDS, name)
    if row is None or row.disposition != "refused":
        return None
    return f"{name} is not supported on this deployment: {row.why}"


def tool_row(kind: str) -> Row | None:
    """The row of a tool ``type`` (None for a type nobody listed: Bedrock then decides)."""
    return _find(TOOLS, kind)


@dataclass(frozen=True)
class Betas:
    """An ``anthropic-beta`` header, sorted out (each list in the header's order)."""

    passed: tuple[str, ...] = ()
    implemented: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()


def split_betas(header: str | None) -> Betas:
    """Which betas go to Bedrock, which act here, which are dropped (unknown ones included)."""
    names = dict.fromkeys(b.strip() for b in (header or "").split(",") if b.strip())
    out: dict[str, list[str]] = {"passed": [], "implemented": [], "dropped": []}
    for name in names:
        row = _find(BETAS, name)
        disposition = row.disposition if row is not None else "dropped"
        out[disposition if disposition in out else "dropped"].append(name)
    return Betas(tuple(out["passed"]), tuple(out["implemented"]), tuple(out["dropped"]))


def refuse_unsupported(request: Any) -> None:
    """Raise the 400 of the first field of ``request`` the table refuses (``thread``: its own
    error type; ``thread: false`` is fine)."""
    if request.thread is not None and request.thread is not False:
        raise ThreadUnsupportedError(
            "thread is not supported on this deployment: send the whole conversation in messages",
            field="thread",
        )
    for row in FIELDS:
        if row.name == "thread":
            continue  # refused above
        message = refusal(row.name)
        if message is not None and getattr(request, row.name) is not None:
            raise RequestValidationError(message, field=row.name)
