"""A tool call's input checked against the tool's parameters before the tool runs here.

A *bridged* call comes out of the sandbox: its input is whatever the cell (or a cell that
rewrote the bridge's files) put there. :meth:`Tool.arguments` checks the names; this checks
the values, against the same type hints the tool's JSON schema is derived from
(:func:`code_exec.ptc.registry.tool_schema`), strictly and as JSON (a ``"5"`` is not an
integer, an object is not a string), with pydantic rather than by hand.
"""

from __future__ import annotations

import functools
import inspect
import json
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from code_exec.exceptions import ToolError

__all__ = ["check_values"]

_CONFIG = ConfigDict(strict=True, extra="allow", arbitrary_types_allowed=True)


@functools.cache
def _model(fn: Callable[..., Any]) -> type[BaseModel]:
    """A pydantic model of ``fn``'s named parameters (built once per function)."""
    hints = typing.get_type_hints(fn)
    fields: dict[str, Any] = {}
    for name, p in inspect.signature(fn).parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        hint = hints.get(name, Any)
        fields[name] = (hint, ... if p.default is p.empty else p.default)
    return create_model(f"{fn.__name__}_input", __config__=_CONFIG, **fields)


def check_values(name: str, fn: Callable[..., Any], given: dict[str, Any]) -> dict[str, Any]:
    """``given`` with each named parameter's value validated (and converted as JSON would
    be, e.g. an array to a tuple); other keys (a ``**kwargs`` tool) pass unchanged.

    Raises:
        ToolError: naming the first argument that does not fit.
    """
    try:
        model = _model(fn).model_validate_json(json.dumps(given))
    except (TypeError, ValueError) as e:  # ValidationError is a ValueError
        raise ToolError(f"{name}: {_reason(e)}") from None
    fields = type(model).model_fields
    return {k: getattr(model, k) if k in fields else v for k, v in given.items()}


def _reason(error: Exception) -> str:
    if not isinstance(error, ValidationError):
        return "the input is not a JSON object"
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"argument {where!r} is not valid: {first['msg']}" if where else first["msg"]
