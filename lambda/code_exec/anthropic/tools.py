"""The request's tools, sorted out: which code execution version, which client tools the model
sees, which are callable from code (programmatic tool calling), and what Bedrock is sent.

Anthropic's code execution tool never reaches Bedrock (Bedrock has no server tools). In its
place the model is given client tools that stand for the server tool's sub-tools:

- 20250522: ``code_execution {code}`` (Python);
- 20250825: ``bash_code_execution``, ``text_editor_code_execution`` (and ``code_execution``
  when tools are callable from code);
- 20260120, 20260521: ``bash_code_execution``, ``text_editor_code_execution`` and
  ``code_execution``, a Python REPL whose state persists.

A client tool whose ``allowed_callers`` names a code execution version is an async function
in that REPL; the model learns its signature from the ``code_execution`` description. It is
a model tool too only when ``allowed_callers`` also says ``direct`` (or is absent). A request
with such tools and no code execution entry runs as if the newest version they name were
listed (Anthropic's API accepts that too).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from code_exec.anthropic import tool_search
from code_exec.anthropic.prompts import BASH_TOOL, EDITOR_TOOL, python_tool
from code_exec.anthropic.surface import refuse_unsupported, tool_row
from code_exec.anthropic.web_code import code_functions
from code_exec.anthropic.web_tools import WebTool, parse_web_tool
from code_exec.anthropic.wire import MessagesRequest
from code_exec.exceptions import RequestValidationError

__all__ = [
    "BASH",
    "CODE_EXECUTION",
    "EDITOR",
    "SERVER_TOOL_NAMES",
    "VERSIONS",
    "ClientTool",
    "ToolPlan",
    "plan_tools",
]

VERSIONS = ("20250522", "20250825", "20260120", "20260521")
CODE_EXECUTION = "code_execution"
BASH = "bash_code_execution"
EDITOR = "text_editor_code_execution"
CODE_EXECUTION_TOOLS = frozenset({CODE_EXECUTION, BASH, EDITOR})
SERVER_TOOL_NAMES = CODE_EXECUTION_TOOLS | tool_search.NAMES
_CE_TYPE = re.compile(r"^code_execution_(\d{8})$")
_CE_FIELDS = {"type", "name", "allowed_callers", "cache_control", "defer_loading", "strict"}
_CUSTOM_FIELDS = {
    "type", "name", "description", "input_schema", "allowed_callers", "cache_control",
    "defer_loading", "eager_input_streaming", "input_examples", "strict",
}  # fmt: skip
_CALLERS = ("direct", *(f"code_execution_{v}" for v in VERSIONS[1:]))
# What a custom tool keeps on its way to Bedrock (the rest is Anthropic-side metadata).
_TO_BEDROCK = ("name", "description", "input_schema", "cache_control")
# What an Anthropic-defined client tool (bash, text editor, ...) loses on its way to Bedrock.
_NOT_TO_BEDROCK = ("defer_loading", "allowed_callers")
_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")


@dataclass(frozen=True)
class ClientTool:
    """A tool the client runs: called by the model directly, from code, or both."""

    name: str
    description: str
    input_schema: dict[str, Any]
    direct: bool
    callers: frozenset[str]  # code execution versions that may call it from code
    strict: bool
    bedrock: dict[str, Any]  # the definition as Bedrock is sent it

    @property
    def programmatic(self) -> bool:
        return bool(self.callers)


@dataclass(frozen=True)
class ToolPlan:
    """What the request's ``tools`` amount to."""

    version: str | None = None  # code execution version, explicit or implied
    client_tools: tuple[ClientTool, ...] = ()
    passthrough: tuple[dict[str, Any], ...] = ()  # Anthropic-defined client tools, as sent
    code_cache: dict[str, Any] | None = None  # cache_control on the code execution entry
    tool_choice: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    searches: tuple[dict[str, Any], ...] = ()  # tool search entries, as sent
    deferred: frozenset[str] = frozenset()  # names of the tools with defer_loading: true
    loaded: frozenset[str] = frozenset()  # deferred tools discovered so far
    web: tuple[WebTool, ...] = ()  # web_search_* / web_fetch_* entries (anthropic/web_tools.py)
    skills_text: str = ""  # the container's skills, told in the first stand-in's description

    def visible(self, name: str) -> bool:
        """Whether the model is given tool ``name`` (not deferred, or discovered)."""
        return name not in self.deferred or name in self.loaded

    def with_loaded(self, names: Iterable[str]) -> ToolPlan:
        """The plan once the tools ``names`` are discovered (a tool search result)."""
        return dataclasses.replace(self, loaded=self.loaded | frozenset(names))

    @property
    def stand_ins(self) -> tuple[str, ...]:
        """The names of the tools the model calls that this endpoint answers (server tools)."""
        return (
            *self.server_tools,
            *(str(s["name"]) for s in self.searches),
            *(t.name for t in self.direct_web),
        )

    def catalog(self) -> list[tool_search.Searchable]:
        """The deferred tools not discovered yet, as tool search searches them."""
        out = []
        if self.version is not None and not self.visible(CODE_EXECUTION):
            texts = [str(t.get("description", "")) for t in self._code_tools()]
            out.append(tool_search.Searchable.of(CODE_EXECUTION, "\n".join(texts)))
        for t in self.client_tools:
            if not self.visible(t.name):
                out.append(tool_search.Searchable.of(t.name, t.description, t.input_schema))
        for p in self.passthrough:
            if not self.visible(str(p.get("name"))):
                out.append(tool_search.Searchable.of(str(p.get("name")), str(p.get("type"))))
        for w in self.direct_web:
            if not self.visible(w.name):
                stand_in = w.bedrock()
                out.append(tool_search.Searchable.of(w.name, str(stand_in.get("description", ""))))
        return out

    @property
    def direct_web(self) -> tuple[WebTool, ...]:
        """Web tools the model calls itself (their stand-ins are in its tool list)."""
        return tuple(t for t in self.web if t.direct)

    @property
    def code_web(self) -> tuple[WebTool, ...]:
        """Web tools callable from code (dynamic filtering, ``anthropic/web_code.py``): the
        turn serves their calls itself."""
        return tuple(t for t in self.web if t.callers)

    @property
    def code_execution(self) -> bool:
        return self.version is not None

    @property
    def programmatic(self) -> tuple[ClientTool, ...]:
        return tuple(t for t in self.client_tools if t.programmatic)

    @property
    def caller_type(self) -> str:
        """How responses tag calls made from code (20260521 is tagged as 20260120)."""
        if self.version == "20250825":
            return "code_execution_20250825"
        return "code_execution_20260120"

    @property
    def python_repl(self) -> bool:
        """Python cells keep their state (20260120 and later, or code that calls tools)."""
        return self.version in ("20260120", "20260521") or (
            self.version == "20250825" and bool(self.programmatic or self.code_web)
        )

    @property
    def server_tools(self) -> tuple[str, ...]:
        """The names of the tools that stand for code execution, as the model sees them."""
        if self.version is None:
            return ()
        if self.version == "20250522":
            return (CODE_EXECUTION,)
        return (BASH, EDITOR, CODE_EXECUTION) if self.python_repl else (BASH, EDITOR)

    def tool(self, name: str) -> ClientTool | None:
        return next((t for t in self.client_tools if t.name == name), None)

    def _code_tools(self) -> list[dict[str, Any]]:
        tools: list[dict[str, Any]] = []
        for name in self.server_tools:
            if name == BASH:
                tools.append(dict(BASH_TOOL))
            elif name == EDITOR:
                tools.append(dict(EDITOR_TOOL))
            else:
                callable_ = [t for t in self.programmatic if self.visible(t.name)]
                functions: list[Any] = [*callable_, *code_functions(self.code_web)]
                tools.append(python_tool(self.version or "", functions))
        if tools and self.skills_text:
            tools[0]["description"] += self.skills_text
        return tools

    def bedrock_tools(self) -> list[dict[str, Any]]:
        """The tool list Bedrock is sent: the stand-ins first, then direct client tools; the
        deferred ones once discovered (:mod:`.tool_search`), after the others, so that a
        cache point on the tools stays where it was."""
        tools = [(CODE_EXECUTION, t) for t in self._code_tools()]
        if tools and self.code_cache:
            tools[-1][1]["cache_control"] = self.code_cache
        deferred = len(self.catalog()) if self.searches else 0
        for entry in self.searches:
            tools.append((str(entry["name"]), tool_search.stand_in(entry["name"], deferred)))
            if entry.get("cache_control"):
                tools[-1][1]["cache_control"] = entry["cache_control"]
        tools += [(t.name, t.bedrock()) for t in self.direct_web]
        tools += [(t.name, dict(t.bedrock)) for t in self.client_tools if t.direct]
        tools += [(str(t.get("name")), dict(t)) for t in self.passthrough]
        shown = [(name in self.deferred, t) for name, t in tools if self.visible(name)]
        return [t for later, t in shown if not later] + [t for later, t in shown if later]


def _version_of(entry: dict[str, Any], where: str) -> str:
    m = _CE_TYPE.match(str(entry.get("type", "")))
    if not m or m.group(1) not in VERSIONS:
        raise RequestValidationError(
            f"unknown code execution tool type {entry.get('type')!r}; allowed: "
            + ", ".join(f"code_execution_{v}" for v in VERSIONS),
            field=f"{where}.type",
        )
    extra = set(entry) - _CE_FIELDS
    if extra:
        raise RequestValidationError(
            f"{where}.{sorted(extra)[0]}: Extra inputs are not permitted", field=where
        )
    if entry.get("name") != CODE_EXECUTION:
        raise RequestValidationError(
            f"the code execution tool's name must be {CODE_EXECUTION!r}", field=f"{where}.name"
        )
    return m.group(1)


def _client_tool(entry: dict[str, Any], where: str) -> ClientTool:
    extra = set(entry) - _CUSTOM_FIELDS
    if extra:
        raise RequestValidationError(
            f"{where}.{sorted(extra)[0]}: Extra inputs are not permitted", field=where
        )
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise RequestValidationError(
            "a tool name must match ^[a-zA-Z0-9_-]{1,128}$", field=f"{where}.name"
        )
    if name in SERVER_TOOL_NAMES:
        raise RequestValidationError(
            f"the tool name {name!r} is reserved for code execution", field=f"{where}.name"
        )
    schema = entry.get("input_schema")
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise RequestValidationError(
            'input_schema must be a JSON schema object with "type": "object"',
            field=f"{where}.input_schema",
        )
    callers = entry.get("allowed_callers")
    if callers is None:
        callers = ["direct"]
    if not isinstance(callers, list) or not callers or any(c not in _CALLERS for c in callers):
        raise RequestValidationError(
            f"allowed_callers must be a non-empty list of {', '.join(_CALLERS)}",
            field=f"{where}.allowed_callers",
        )
    code_callers = frozenset(c.removeprefix("code_execution_") for c in callers if c != "direct")
    strict = bool(entry.get("strict"))
    if strict and code_callers:
        raise RequestValidationError(
            "strict tools cannot be called from code (programmatic tool calling does not "
            "support strict: true)",
            field=f"{where}.strict",
        )
    description = entry.get("description")
    if description is not None and not isinstance(description, str):
        raise RequestValidationError("description must be a string", field=f"{where}.description")
    return ClientTool(
        name=name,
        description=description or "",
        input_schema=schema,
        direct="direct" in callers,
        callers=code_callers,
        strict=strict,
        bedrock={k: entry[k] for k in _TO_BEDROCK if k in entry},
    )


def plan_tools(request: MessagesRequest) -> ToolPlan:
    """Sort the request's tools out and enforce Anthropic's documented constraints.

    Raises:
        RequestValidationError: naming ``tools.<i>...`` or ``tool_choice`` (400).
    """
    refuse_unsupported(request)
    version: str | None = None
    code_cache: dict[str, Any] | None = None
    clients: list[ClientTool] = []
    passthrough: list[dict[str, Any]] = []
    searches: list[dict[str, Any]] = []
    names: set[str] = set()
    deferred: set[str] = set()
    web: list[WebTool] = []
    for i, entry in enumerate(request.tools or []):
        where = f"tools.{i}"
        kind = str(entry.get("type") or "custom")
        name = entry.get("name")
        if entry.get("defer_loading") is True:
            deferred.add(str(name))
        if kind.startswith(("web_search_", "web_fetch_")):
            if name in names:
                raise RequestValidationError(f"tool names must be unique: {name!r}", field=where)
            names.add(str(name))
            web.append(parse_web_tool(entry, where))
            continue
        if kind.startswith("code_execution_"):
            if version is not None:
                raise RequestValidationError("only one code execution tool is allowed", field=where)
            version = _version_of(entry, where)
            code_cache = entry.get("cache_control")
            continue
        row = tool_row(kind)
        if row is not None and row.disposition == "refused":
            raise RequestValidationError(
                f"the tool type {kind!r} is not available on this deployment: {row.why}",
                field=f"{where}.type",
            )
        if name in names:
            raise RequestValidationError(f"tool names must be unique: {name!r}", field=where)
        names.add(str(name))
        if kind.startswith("tool_search_tool_"):
            tool_search.search_tool(entry, where)
            searches.append(entry)
        elif kind == "custom":
            clients.append(_client_tool(entry, where))
        else:
            # bash_20250124, text_editor_*, memory_*, ...: client-run, Bedrock knows them
            passthrough.append({k: v for k, v in entry.items() if k not in _NOT_TO_BEDROCK})
    implied = {c for t in clients for c in t.callers} | {c for t in web for c in t.callers}
    if implied and version is None:
        version = max(implied)
    if implied and version == "20250522":
        raise RequestValidationError(
            "tools callable from code need code_execution_20250825 or later",
            field="tools",
        )
    plan = ToolPlan(
        version,
        tuple(clients),
        tuple(passthrough),
        code_cache,
        searches=tuple(searches),
        deferred=frozenset(deferred),
        web=tuple(web),
        loaded=tool_search.discovered(
            request, names | ({CODE_EXECUTION} if version else set()), deferred
        ),
    )
    return _with_tool_choice(plan, request)


def _with_tool_choice(plan: ToolPlan, request: MessagesRequest) -> ToolPlan:
    choice = request.tool_choice
    if choice is None:
        return plan
    if choice.type == "tool":
        if not choice.name:
            raise RequestValidationError("tool_choice.name is required", field="tool_choice.name")
        tool = plan.tool(choice.name)
        if tool is not None and not tool.direct:
            raise RequestValidationError(
                f"tool_choice cannot force {choice.name!r}: its allowed_callers do not include "
                "'direct' (a tool cannot be forced to be called from code)",
                field="tool_choice.name",
            )
        forces_code = choice.name == CODE_EXECUTION and plan.code_execution
        if tool is None and choice.name not in plan.stand_ins and not forces_code:
            known = [t.name for t in plan.client_tools if t.direct] + list(plan.stand_ins)
            if choice.name not in {str(t.get("name")) for t in plan.passthrough}:
                raise RequestValidationError(
                    f"tool_choice names {choice.name!r}, which is not a tool of this request "
                    f"(tools: {', '.join(known) or 'none'})",
                    field="tool_choice.name",
                )
    if choice.disable_parallel_tool_use and plan.programmatic:
        raise RequestValidationError(
            "disable_parallel_tool_use is not supported with tools callable from code",
            field="tool_choice.disable_parallel_tool_use",
        )
    data = choice.model_dump(exclude_none=True)
    if (
        choice.type == "tool"
        and choice.name == CODE_EXECUTION
        and CODE_EXECUTION not in (plan.server_tools)
    ):
        data = {"type": "any", **({k: v for k, v in data.items() if k not in ("type", "name")})}
    return dataclasses.replace(plan, tool_choice=data)
