"""The PTC tool registry: tools as typed Python functions, their schemas and catalogue.

A tool is a plain Python function with type hints and a Google-style docstring::

    def get_expenses(employee_id: str, quarter: str) -> str:
        \"\"\"Expense line items of one employee for one quarter.

        Args:
            employee_id: The employee's id, e.g. "E1001".
            quarter: "Q1" .. "Q4".

        Returns:
            JSON list of expense records.
        \"\"\"

Its JSON schema (parameters from the hints, descriptions from ``Args:``) and a compact
catalogue entry for the system prompt are derived from it. The same function serves
both placements: *preloaded* (its module is written
into the sandbox and imported there) and *bridged* (the orchestrator runs it when
sandbox code calls the stub). Sending tools into a session and relaying bridged calls
live in :mod:`code_exec.ptc.executor` and :mod:`code_exec.ptc.bridge`.

Code calls a tool with keyword arguments, positionally, or with ONE dict of arguments
(Anthropic's PTC convention); :meth:`Tool.arguments` turns any of those into one input
object and refuses a dict mixed with keyword arguments. The sandbox runtime applies the
same rule from the spec (``sandbox_assets/ptc_runtime.py``, ``call_input``).
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from code_exec.exceptions import ToolError
from code_exec.ptc.validation import check_values

__all__ = [
    "PLACEMENTS",
    "Placement",
    "Tool",
    "ToolRegistry",
    "parse_docstring",
    "tool_schema",
]

Placement = Literal["preloaded", "bridged"]
PLACEMENTS: tuple[str, ...] = ("preloaded", "bridged")
_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,63}$")
_SECTIONS = ("args", "arguments", "parameters", "returns", "return", "raises", "yields",
             "examples", "example", "note", "notes")  # fmt: skip


@dataclass(frozen=True)
class Docstring:
    summary: str = ""
    details: str = ""
    params: dict[str, str] = field(default_factory=dict)
    returns: str = ""


def parse_docstring(doc: str | None) -> Docstring:
    """Parse a Google-style docstring: summary, ``Args:`` descriptions, ``Returns:``."""
    lines = inspect.cleandoc(doc or "").splitlines()
    head: list[str] = []
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines:
        key = line.strip().rstrip(":").lower()
        if line.strip().endswith(":") and not line.startswith(" ") and key in _SECTIONS:
            current = sections.setdefault(key, [])
        elif current is not None:
            current.append(line)
        else:
            head.append(line)
    text = "\n".join(head).strip()
    summary, _, details = text.partition("\n\n")
    params: dict[str, str] = {}
    name = None
    arg_lines = sections.get("args") or sections.get("arguments") or sections.get("parameters", [])
    base = min((len(ln) - len(ln.lstrip()) for ln in arg_lines if ln.strip()), default=0)
    for line in arg_lines:
        m = re.match(r"^\s{0,8}(\*{0,2}\w+)\s*(\([^)]*\))?\s*:\s*(.*)$", line)
        indent = len(line) - len(line.lstrip())
        if m and indent <= base:
            name = m.group(1).lstrip("*")
            params[name] = m.group(3).strip()
        elif name and line.strip():
            params[name] = (params[name] + " " + line.strip()).strip()
    returns = " ".join(
        s.strip() for s in sections.get("returns") or sections.get("return", []) if s.strip()
    )
    returns = re.sub(r"^[\w\[\], .|]+:\s+", "", returns) if ":" in returns[:40] else returns
    return Docstring(" ".join(summary.split()), details.strip(), params, returns)


def _json_type(hint: Any) -> dict[str, Any]:
    """JSON schema for a type hint (str, int, float, bool, list[..], dict[..], Literal, X|None)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is inspect.Parameter.empty or hint is Any:
        return {}
    if origin is Literal:
        values = list(args)
        schema = _json_type(type(values[0])) if values else {}
        return {**schema, "enum": values}
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1:
            return _json_type(non_none[0])
        return {"anyOf": [_json_type(a) for a in non_none]}
    if hint is str:
        return {"type": "string"}
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer"}
    if hint is float:
        return {"type": "number"}
    if hint in (list, tuple, set) or origin in (list, tuple, set, Iterable):
        item = _json_type(args[0]) if args else {}
        return {"type": "array", **({"items": item} if item else {})}
    if hint is dict or origin is dict:
        return {"type": "object"}
    return {}


def tool_schema(fn: Callable[..., Any]) -> dict[str, Any]:
    """The JSON schema of ``fn``'s parameters (an ``object`` schema)."""
    doc = parse_docstring(fn.__doc__)
    hints = typing.get_type_hints(fn)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, param in inspect.signature(fn).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        prop = _json_type(hints.get(name, param.annotation))
        if doc.params.get(name):
            prop["description"] = doc.params[name]
        if param.default is param.empty:
            required.append(name)
        elif param.default is not None:
            prop["default"] = param.default
        properties[name] = prop
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _annotation(hint: Any) -> str:
    if hint is inspect.Parameter.empty:
        return ""
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")


@dataclass(frozen=True)
class Tool:
    """A PTC tool: the function, its derived schema and docs, and where it runs."""

    name: str
    fn: Callable[..., Any]
    summary: str
    returns: str
    parameters: dict[str, Any]
    placement: Placement = "bridged"
    # What runs a call when it is not ``fn`` itself: a tool bound to one turn's state (the
    # web tools); ``fn`` still gives the signature, schema and the checks of its arguments.
    target: Callable[..., Any] | None = None

    @classmethod
    def from_function(
        cls, fn: Callable[..., Any], *, name: str | None = None, placement: Placement = "bridged"
    ) -> Tool:
        """Build a tool from a typed function with a Google-style docstring."""
        name = name or fn.__name__
        if not _NAME.match(name):
            raise ValueError(f"tool name {name!r} is not a valid Python identifier")
        if placement not in PLACEMENTS:
            raise ValueError(f"placement must be one of {PLACEMENTS}, got {placement!r}")
        doc = parse_docstring(fn.__doc__)
        if not doc.summary:
            raise ValueError(f"tool {name!r} needs a docstring (summary line)")
        return cls(name, fn, doc.summary, doc.returns, tool_schema(fn), placement)

    @property
    def module_file(self) -> str:
        """Source file of the tool's module (what *preloaded* placement sends)."""
        return inspect.getsourcefile(self.fn) or ""

    @property
    def module_name(self) -> str:
        """The module's name inside the sandbox (its file's stem for scripts run as __main__)."""
        if self.fn.__module__ == "__main__":
            return Path(self.module_file).stem
        return self.fn.__module__.rpartition(".")[2]

    @property
    def description(self) -> str:
        """Summary plus what it returns (the tool spec's description)."""
        return f"{self.summary} Returns: {self.returns}" if self.returns else self.summary

    def signature(self) -> str:
        """``async def get_expenses(employee_id: str, quarter: str) -> str`` (as called in code)."""
        sig = inspect.signature(self.fn)
        hints = typing.get_type_hints(self.fn)
        parts = []
        for pname, p in sig.parameters.items():
            ann = _annotation(hints.get(pname, p.annotation))
            text = f"{pname}: {ann}" if ann else pname
            if p.default is not p.empty:
                text += f" = {p.default!r}"
            parts.append(text)
        ret = _annotation(hints.get("return", sig.return_annotation))
        return f"async def {self.name}({', '.join(parts)})" + (f" -> {ret}" if ret else "")

    def catalogue_entry(self) -> str:
        """Signature line, one-line summary, and the return description."""
        lines = [self.signature(), f"    {self.summary}"]
        if self.returns:
            lines.append(f"    Returns: {self.returns}")
        return "\n".join(lines)

    def call_shape(self) -> dict[str, Any]:
        """How calls bind: ``params`` (in order), ``positional`` (how many may be given by
        position), ``required``, ``object_first`` (the first parameter takes an object) and
        ``open`` (any keyword is accepted)."""
        sig = inspect.signature(self.fn)
        named = [
            p for p in sig.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        first = self.parameters["properties"].get(named[0].name, {}) if named else {}
        return {
            "params": [p.name for p in named],
            "positional": sum(1 for p in named if p.kind != p.KEYWORD_ONLY),
            "required": list(self.parameters.get("required", [])),
            "object_first": bool(named) and first.get("type") in (None, "object"),
            "open": any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()),
        }

    def arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The one input object of a call written either way; :class:`ToolError` if bad.

        ``tool({"quarter": "Q3"})`` (one dict), ``tool(quarter="Q3")`` and ``tool("Q3")``
        give the same input; a dict together with keyword arguments, an unknown or a
        missing argument is refused with a message naming it.
        """
        shape = self.call_shape()
        params: list[str] = shape["params"]
        lone = args[0] if len(args) == 1 else None
        if isinstance(lone, dict) and (
            not shape["object_first"] or (lone and all(k in params for k in lone))
        ):
            if kwargs:
                raise ToolError(
                    f"{self.name}: pass the arguments either as one dict or as keyword "
                    "arguments, not both"
                )
            given = dict(lone)
        else:
            positional = params[: shape["positional"]]
            if len(args) > len(positional):
                raise ToolError(
                    f"{self.name} takes {len(positional)} positional argument(s) but "
                    f"{len(args)} were given"
                )
            # fewer positional values than parameters is normal: the rest come by keyword
            given = dict(zip(positional, args, strict=False))
            twice = [k for k in kwargs if k in given]
            if twice:
                raise ToolError(f"{self.name}: got multiple values for argument {twice[0]!r}")
            given.update(kwargs)
        return self._checked(given, shape)

    def invoke(self, tool_input: dict[str, Any]) -> Any:
        """Run the tool with one input object (a relayed call, a model's tool use): names
        and values are checked first (:func:`~code_exec.ptc.validation.check_values`)."""
        if not isinstance(tool_input, dict):
            raise ToolError(f"{self.name}: the input must be an object of arguments")
        given = self._checked(dict(tool_input), self.call_shape())
        return self.runner(**check_values(self.name, self.fn, given))

    def _checked(self, given: dict[str, Any], shape: dict[str, Any]) -> dict[str, Any]:
        params: list[str] = shape["params"]
        unknown = [k for k in given if not isinstance(k, str) or k not in params]
        if unknown and not shape["open"]:
            raise ToolError(
                f"{self.name}: unknown argument(s) {', '.join(map(repr, unknown))}; "
                f"it takes {', '.join(params) or 'no arguments'}"
            )
        missing = [p for p in shape["required"] if p not in given]
        if missing:
            raise ToolError(f"{self.name}: missing argument(s) {', '.join(map(repr, missing))}")
        return given

    def sandbox_spec(self) -> dict[str, Any]:
        """What the sandbox runtime needs to bind the tool (see sandbox_assets/ptc_runtime.py)."""
        return {
            "name": self.name,
            "placement": self.placement,
            "module": self.module_name,
            "function": self.fn.__name__,
            "doc": f"{self.signature()}\n\n{self.description}",
            **self.call_shape(),
        }

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the tool as code would: keyword arguments, positionally, or one dict."""
        return self.runner(**self.arguments(args, kwargs))

    @property
    def runner(self) -> Callable[..., Any]:
        """What runs a call: ``target`` when the tool is bound, else ``fn``."""
        return self.target or self.fn


class ToolRegistry:
    """Tools by name, built from functions; the catalogue the system prompt lists."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for t in tools:
            self.add(t)

    def add(self, tool: Tool) -> Tool:
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} is already registered")
        self._tools[tool.name] = tool
        return tool

    def register(
        self, fn: Callable[..., Any], *, name: str | None = None, placement: Placement = "bridged"
    ) -> Tool:
        """Register a function as a tool (``placement``: ``preloaded`` or ``bridged``)."""
        return self.add(Tool.from_function(fn, name=name, placement=placement))

    def get(self, name: str) -> Tool:
        """The tool called ``name``; ``KeyError`` naming the known tools otherwise."""
        try:
            return self._tools[name]
        except KeyError:
            raise KeyError(f"unknown tool {name!r}; known: {', '.join(self._tools)}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def names(self) -> list[str]:
        return list(self._tools)

    def catalogue(self) -> str:
        return "\n\n".join(t.catalogue_entry() for t in self)

    @classmethod
    def from_module(
        cls, module: types.ModuleType, *, placement: Placement = "bridged"
    ) -> ToolRegistry:
        """Every function named in ``module.TOOLS`` (or ``__all__``) as a tool."""
        names = getattr(module, "TOOLS", None) or getattr(module, "__all__", [])
        return cls(Tool.from_function(getattr(module, n), placement=placement) for n in names)
