"""PTC runtime INSIDE the sandbox: one function per tool for the model's code.

Standalone (stdlib only): ``code_exec.ptc`` writes this file into the session and
imports it. It gives model code one name per tool. A call works three ways, whatever
the tool's placement:

- ``await get_expenses(employee_id="ENG001", quarter="Q3")`` in async code (top-level
  ``await`` cells);
- ``asyncio.gather(*[get_expenses(employee_id=i, quarter="Q3") for i in ids])`` — calls
  run in parallel;
- ``get_expenses(...)`` without ``await`` returns the value directly (and that value can
  still be awaited, so code written either way keeps working). In async code a call that
  is not consumed on the spot (stored, collected in a list for ``gather``) returns an
  awaitable handle instead, so it can overlap with other calls.

Arguments come as keyword arguments, positionally, or as ONE dict (Anthropic's PTC
convention: ``await get_expenses({"employee_id": "ENG001", "quarter": "Q3"})``); a dict
together with keyword arguments is refused with :class:`ToolError` (:func:`call_input`).

Placements:

- *preloaded*: the tool's module was written next to this file and runs here, in a
  thread pool (so gathered calls overlap);
- *bridged*: the call is handed to the bridge (``ptc_bridge.py``, the runner process),
  which relays it out of the sandbox; the orchestrator runs the tool and the result
  comes back. A tool error arrives as :class:`ToolError`.
"""

from __future__ import annotations

import asyncio
import dis
import functools
import importlib
import inspect
import json
import os
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

__all__ = ["ToolCall", "ToolError", "call_input", "install", "outcome_value"]

_CO_ASYNC = inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR | inspect.CO_ITERABLE_COROUTINE
_NESTED = ("<listcomp>", "<genexpr>", "<dictcomp>", "<setcomp>", "<lambda>")
_POOL = ThreadPoolExecutor(max_workers=32, thread_name_prefix="ptc-tool")


class ToolError(Exception):
    """A tool failed (raised in the model's code where the call is awaited)."""

    __module__ = "builtins"  # tracebacks read "ToolError: ...", not "ptc_runtime.ToolError"


# --- values that can also be awaited ---------------------------------------------------------


def _ready(value: Any) -> Any:
    return value
    yield  # pragma: no cover - makes this a generator: `await` returns `value` at once


class _AwaitableStr(str):
    def __await__(self) -> Any:
        return _ready(str(self))


class _AwaitableDict(dict):  # type: ignore[type-arg]
    def __await__(self) -> Any:
        return _ready(dict(self))


class _AwaitableList(list):  # type: ignore[type-arg]
    def __await__(self) -> Any:
        return _ready(list(self))


class _AwaitableInt(int):
    def __await__(self) -> Any:
        return _ready(int(self))


class _AwaitableFloat(float):
    def __await__(self) -> Any:
        return _ready(float(self))


def _awaitable(value: Any) -> Any:
    for base, wrap in (
        (str, _AwaitableStr),
        (dict, _AwaitableDict),
        (list, _AwaitableList),
        (float, _AwaitableFloat),
    ):
        if type(value) is base:
            return wrap(value)
    if type(value) is int:
        return _AwaitableInt(value)
    return value


def _wants_handle(depth: int = 2) -> bool:
    """Should this call return an awaitable handle (True) or block for the value (False)?

    Async code gets a handle, so ``await`` and ``asyncio.gather`` run calls in parallel,
    except where the result is consumed on the spot (``json.loads(tool())``, ``tool()[0]``,
    ``tool().strip()``, ...): then the call blocks and returns the value (still awaitable).
    Synchronous code always gets the value.
    """
    frame = sys._getframe(depth)
    caller = frame
    while caller is not None and caller.f_code.co_name in _NESTED:
        caller = caller.f_back  # a comprehension inside async code counts as async
    if caller is None or not caller.f_code.co_flags & _CO_ASYNC:
        return False
    return not _consumed_on_the_spot(frame.f_code, frame.f_lasti)


_VALUE_OPS = ("CALL", "PRECALL", "BINARY_", "COMPARE_OP", "CONTAINS_OP", "IS_OP", "LOAD_ATTR",
              "LOAD_METHOD", "FORMAT_", "UNARY_", "GET_ITER", "UNPACK_", "POP_JUMP", "TO_BOOL",
              "JUMP_IF", "DICT_MERGE", "LIST_TO_TUPLE")  # fmt: skip


@functools.lru_cache(maxsize=4096)
def _consumed_on_the_spot(code: Any, lasti: int) -> bool:
    for ins in dis.get_instructions(code):
        if ins.offset <= lasti or ins.opname in ("CACHE", "EXTENDED_ARG", "NOP"):
            continue
        return ins.opname.startswith(_VALUE_OPS)
    return False


# --- arguments ------------------------------------------------------------------------------


def call_input(
    spec: dict[str, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """The one input object of a call, whichever way it was written; :class:`ToolError` if bad.

    ``spec`` names the tool's parameters (``params``, in order), how many may be given
    positionally (``positional``), which are ``required``, whether the first one takes an
    object (``object_first``: then a lone dict is that argument unless every key names a
    parameter) and whether it takes any keyword (``open``). The orchestrator applies the
    same rule with the function's signature (``code_exec.ptc.registry.Tool.arguments``).
    """
    name = spec["name"]
    params: list[str] = spec.get("params", [])
    if len(args) == 1 and isinstance(args[0], dict) and _is_input_object(args[0], spec):
        if kwargs:
            raise ToolError(
                f"{name}: pass the arguments either as one dict or as keyword arguments, not both"
            )
        given = dict(args[0])
    else:
        positional = params[: spec.get("positional", len(params))]
        if len(args) > len(positional):
            raise ToolError(
                f"{name} takes {len(positional)} positional argument(s) but {len(args)} were given"
            )
        # fewer positional values than parameters is normal: the rest come by keyword
        given = dict(zip(positional, args, strict=False))
        twice = [k for k in kwargs if k in given]
        if twice:
            raise ToolError(f"{name}: got multiple values for argument {twice[0]!r}")
        given.update(kwargs)
    unknown = [k for k in given if not isinstance(k, str) or k not in params]
    if unknown and not spec.get("open"):
        raise ToolError(
            f"{name}: unknown argument(s) {', '.join(map(repr, unknown))}; "
            f"it takes {', '.join(params) or 'no arguments'}"
        )
    missing = [p for p in spec.get("required", []) if p not in given]
    if missing:
        raise ToolError(f"{name}: missing argument(s) {', '.join(map(repr, missing))}")
    return given


def _is_input_object(value: dict[Any, Any], spec: dict[str, Any]) -> bool:
    if not spec.get("object_first"):
        return True
    params = spec.get("params", [])
    return bool(value) and all(isinstance(k, str) and k in params for k in value)


# --- calls ----------------------------------------------------------------------------------


class ToolCall:
    """A started tool call: ``await`` it, or ``result()`` to block."""

    def __init__(self, name: str, future: Future[Any]) -> None:
        self.name = name
        self._future = future

    def result(self) -> Any:
        return self._future.result()

    def __await__(self) -> Any:
        return asyncio.wrap_future(self._future).__await__()

    def __repr__(self) -> str:
        return f"<ToolCall {self.name} (not awaited: use `await {self.name}(...)`)>"


class Bridge(Protocol):
    """Where bridged calls go (``ptc_bridge.Bridge`` in the runner process)."""

    def call(self, name: str, tool_input: dict[str, Any]) -> ToolCall: ...


def outcome_value(name: str, outcome: dict[str, Any]) -> Any:
    """The value of a relayed outcome (``{"ok": true, "value"}``), or its :class:`ToolError`."""
    if outcome.get("ok"):
        return _awaitable(outcome.get("value"))
    err = outcome.get("error") or {}
    if err.get("type") == "ToolError":  # the orchestrator refused the call itself
        raise ToolError(str(err.get("message", "")))
    raise ToolError(f"{name} failed: {err.get('type', 'Error')}: {err.get('message', '')}")


def _tool_function(spec: dict[str, Any], start: Any) -> Any:
    def tool(*args: Any, **kwargs: Any) -> Any:
        call = start(call_input(spec, args, kwargs))
        if _wants_handle():
            return call
        return _awaitable(call.result())

    tool.__name__ = tool.__qualname__ = spec["name"]
    tool.__doc__ = spec.get("doc", "")
    return tool


def install(
    namespace: dict[str, Any],
    specs: list[dict[str, Any]],
    *,
    tools_dir: str | None = None,
    bridge: Bridge | None = None,
) -> list[str]:
    """Bind one function per tool spec into ``namespace``; return the names bound.

    A spec is ``{"name", "placement": "preloaded"|"bridged", "module", "function", "doc",
    "params", "positional", "required", "object_first", "open"}``. Bridged tools go through
    ``bridge``; without one they raise :class:`ToolError` (they need a bridged cell).
    """
    if tools_dir and os.path.abspath(tools_dir) not in sys.path:
        sys.path.insert(0, os.path.abspath(tools_dir))
    names = []
    for spec in specs:
        name = spec["name"]
        if spec.get("placement") == "preloaded":
            fn = getattr(importlib.import_module(spec["module"]), spec["function"])
            start = _local_starter(name, fn)
        elif bridge is not None:
            start = functools.partial(bridge.call, name)
        else:
            start = _unavailable_starter(name)
        namespace[name] = _tool_function(spec, start)
        names.append(name)
    namespace.setdefault("asyncio", asyncio)
    namespace.setdefault("json", json)
    namespace["ToolError"] = ToolError
    return names


def _local_starter(name: str, fn: Any) -> Any:
    def start(tool_input: dict[str, Any]) -> ToolCall:
        def run() -> Any:
            try:
                return fn(**tool_input)
            except Exception as e:
                raise ToolError(f"{name} failed: {type(e).__name__}: {e}") from e

        return ToolCall(name, _POOL.submit(run))

    return start


def _unavailable_starter(name: str) -> Any:
    def start(tool_input: dict[str, Any]) -> ToolCall:
        raise ToolError(f"{name} is a bridged tool: it can only be called from a bridged cell")

    return start
