"""PTC runtime INSIDE the sandbox: tool functions for model code, and the bridged runner.

Standalone (stdlib only): ``code_exec.ptc`` writes this file into the session and
imports it. It gives model code one name per tool. A call works three ways, whatever
the tool's placement:

- ``await get_expenses("E1", "Q3")`` in async code (top-level ``await`` cells);
- ``asyncio.gather(*[get_expenses(i, "Q3") for i in ids])`` — calls run in parallel;
- ``get_expenses("E1", "Q3")`` without ``await`` returns the value directly (and that
  value can still be awaited, so code written either way keeps working). In async code a
  call that is not consumed on the spot (stored, collected in a list for ``gather``)
  returns an awaitable handle instead, so it can overlap with other calls.

Placements:

- *preloaded*: the tool's module was written next to this file and runs here, in a
  thread pool (so gathered calls overlap);
- *bridged*: the call is written to ``<bridge>/state.json`` (the pending list) and the
  result is awaited from ``<bridge>/results/<id>.json``, which the orchestrator writes
  after running the tool outside the sandbox. A tool error arrives as :class:`ToolError`.

``python ptc_runtime.py serve <bridge_dir> [token]`` is the long-lived bridged runner process
(started with ``startCommandExecution``): it keeps its own globals and runs the cells
the orchestrator drops in ``<bridge>/cells/<n>.json``, reporting through ``state.json``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dis
import functools
import importlib
import inspect
import io
import json
import os
import sys
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

__all__ = ["ToolError", "install", "serve"]

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


# --- calls ----------------------------------------------------------------------------------


class ToolCall:
    """A started tool call: ``await`` it, or ``result()`` to block."""

    def __init__(self, name: str, future: Future[Any] | None = None) -> None:
        self.name = name
        self._future = future

    def result(self) -> Any:
        assert self._future is not None
        return self._future.result()

    def __await__(self) -> Any:
        assert self._future is not None
        return asyncio.wrap_future(self._future).__await__()

    def __repr__(self) -> str:
        return f"<ToolCall {self.name} (not awaited: use `await {self.name}(...)`)>"


class _BridgedCall(ToolCall):
    def __init__(self, bridge: _Bridge, name: str, call_id: str) -> None:
        super().__init__(name)
        self._bridge, self.call_id = bridge, call_id

    def result(self) -> Any:
        started = time.monotonic()
        while True:
            done = self._bridge.take(self.call_id)
            if done is not None:
                return done()
            self._check_timeout(started)
            time.sleep(_poll_delay(started))

    async def _wait(self) -> Any:
        started = time.monotonic()
        while True:
            done = self._bridge.take(self.call_id)
            if done is not None:
                return done()
            self._check_timeout(started)
            await asyncio.sleep(_poll_delay(started))

    def _check_timeout(self, started: float) -> None:
        """``TimeoutError`` once the bridge's ``call_timeout`` passed with no result."""
        limit = self._bridge.call_timeout
        if limit is not None and time.monotonic() - started > limit:
            self._bridge.abandon(self.call_id)
            raise TimeoutError(
                f"Calling tool [{self.name!r}] timed out (no response after {limit:g}s)."
            )

    def __await__(self) -> Any:
        return self._wait().__await__()


def _poll_delay(started: float) -> float:
    """Check often while a result is likely imminent, then back off (local stat calls)."""
    waited = time.monotonic() - started
    return 0.001 if waited < 0.25 else 0.005 if waited < 5 else 0.02


class _Bridge:
    """The sandbox end of the file relay (one per runner process)."""

    def __init__(self, directory: str) -> None:
        self.dir = os.path.abspath(directory)
        self.results = os.path.join(self.dir, "results")
        os.makedirs(self.results, exist_ok=True)
        os.makedirs(os.path.join(self.dir, "cells"), exist_ok=True)
        self.lock = threading.Lock()
        self.pending: dict[str, dict[str, Any]] = {}
        self.state: dict[str, Any] = {"pid": os.getpid(), "status": "idle", "cell": 0}
        self.call_timeout: float | None = None  # seconds a call waits for its result

    def abandon(self, call_id: str) -> None:
        """Forget a call whose result will not be waited for any more."""
        with self.lock:
            self.pending.pop(call_id, None)
        self.write_state()

    def write_state(self, **changes: Any) -> None:
        with self.lock:
            self.state.update(changes)
            self.state["pending"] = list(self.pending.values())
            _atomic_write(os.path.join(self.dir, "state.json"), json.dumps(self.state))

    def submit(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _BridgedCall:
        call_id = uuid.uuid4().hex[:16]
        try:
            json.dumps([args, kwargs])
        except TypeError as e:
            raise TypeError(f"{name}: arguments must be JSON-serializable ({e})") from None
        with self.lock:
            self.pending[call_id] = {
                "id": call_id,
                "tool": name,
                "args": list(args),
                "kwargs": kwargs,
            }
        self.write_state()
        return _BridgedCall(self, name, call_id)

    def take(self, call_id: str) -> Any:
        """A callable giving the result (or raising the tool's error) once it has arrived."""
        path = os.path.join(self.results, f"{call_id}.json")
        try:
            with open(path, encoding="utf-8") as fh:
                outcome = json.load(fh)
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
        with self.lock:
            call = self.pending.pop(call_id, {})
        self.write_state()

        def deliver() -> Any:
            if outcome.get("ok"):
                return _awaitable(outcome.get("value"))
            err = outcome.get("error") or {}
            raise ToolError(
                f"{call.get('tool', 'tool')} failed: {err.get('type', 'Error')}: "
                f"{err.get('message', '')}"
            )

        return deliver


def _tool_function(name: str, start: Any, doc: str) -> Any:
    def tool(*args: Any, **kwargs: Any) -> Any:
        call = start(args, kwargs)
        if _wants_handle():
            return call
        return _awaitable(call.result())

    tool.__name__ = tool.__qualname__ = name
    tool.__doc__ = doc
    return tool


def install(
    namespace: dict[str, Any],
    specs: list[dict[str, Any]],
    *,
    tools_dir: str | None = None,
    bridge_dir: str | None = None,
) -> list[str]:
    """Bind one function per tool spec into ``namespace``; return the names bound.

    A spec is ``{"name", "placement": "preloaded"|"bridged", "module", "function", "doc"}``.
    """
    if tools_dir and os.path.abspath(tools_dir) not in sys.path:
        sys.path.insert(0, os.path.abspath(tools_dir))
    bridge = _Bridge(bridge_dir) if bridge_dir else None
    names = []
    for spec in specs:
        name, doc = spec["name"], spec.get("doc", "")
        if spec.get("placement") == "preloaded":
            fn = getattr(importlib.import_module(spec["module"]), spec["function"])
            start = _local_starter(name, fn)
        elif bridge is not None:
            start = _bridged_starter(bridge, name)
        else:
            start = _unavailable_starter(name)
        namespace[name] = _tool_function(name, start, doc)
        names.append(name)
    namespace.setdefault("asyncio", asyncio)
    namespace.setdefault("json", json)
    namespace["ToolError"] = ToolError
    namespace["__ptc_bridge__"] = bridge
    return names


def _local_starter(name: str, fn: Any) -> Any:
    def start(args: tuple[Any, ...], kwargs: dict[str, Any]) -> ToolCall:
        def run() -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as e:
                raise ToolError(f"{name} failed: {type(e).__name__}: {e}") from e

        return ToolCall(name, _POOL.submit(run))

    return start


def _bridged_starter(bridge: _Bridge, name: str) -> Any:
    def start(args: tuple[Any, ...], kwargs: dict[str, Any]) -> ToolCall:
        return bridge.submit(name, args, kwargs)

    return start


def _unavailable_starter(name: str) -> Any:
    def start(args: tuple[Any, ...], kwargs: dict[str, Any]) -> ToolCall:
        raise ToolError(f"{name} is a bridged tool: it can only be called from a bridged cell")

    return start


def _atomic_write(path: str, text: str) -> None:
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


# --- the bridged runner process --------------------------------------------------------------


_MAX_OUTPUT = 1_000_000  # characters of stdout / stderr kept per cell


def _cap(text: str) -> str:
    if len(text) <= _MAX_OUTPUT:
        return text
    cut = len(text) - _MAX_OUTPUT
    half = _MAX_OUTPUT // 2
    return f"{text[:half]}\n[... {cut:,} characters omitted ...]\n{text[-half:]}"


def serve(bridge_dir: str, token: str = "") -> None:
    """Run cells from ``<bridge>/cells/<n>.json`` forever, in one persistent namespace.

    ``token`` is echoed in ``state.json`` so the orchestrator knows this runner is up.
    """
    with open(os.path.join(bridge_dir, "tools.json"), encoding="utf-8") as fh:
        setup = json.load(fh)
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    from ptc_cell_runner import format_exception, make_runner

    for sub in ("cells", "results"):  # leftovers of an earlier runner in this session
        folder = os.path.join(bridge_dir, sub)
        for name in os.listdir(folder) if os.path.isdir(folder) else ():
            with contextlib.suppress(OSError):
                os.remove(os.path.join(folder, name))
    with contextlib.suppress(OSError):
        os.remove(os.path.join(bridge_dir, "stop"))
    namespace: dict[str, Any] = {"__name__": "__main__"}
    install(namespace, setup["tools"], tools_dir=setup.get("tools_dir"), bridge_dir=bridge_dir)
    bridge: _Bridge = namespace["__ptc_bridge__"]
    runner = make_runner(namespace)
    bridge.write_state(status="idle", cell=0, token=token)
    n, idle_since = 1, time.monotonic()
    while True:
        path = os.path.join(bridge.dir, "cells", f"{n}.json")
        if not os.path.exists(path):
            if os.path.exists(os.path.join(bridge.dir, "stop")):
                bridge.write_state(status="stopped")
                return
            time.sleep(0.002 if time.monotonic() - idle_since < 2 else 0.02)
            continue
        try:
            with open(path, encoding="utf-8") as fh:
                cell = json.load(fh)
        except ValueError:  # writeFiles is not atomic: the file is still being written
            time.sleep(0.002)
            continue
        bridge.write_state(status="running", cell=n, last=None)  # polls stay small
        out, err = io.StringIO(), io.StringIO()
        started, failed = time.monotonic(), False
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                runner.run(cell["code"], cell.get("timeout"))
            except BaseException as e:  # the cell's failure is its result, never ours
                failed = True
                err.write(format_exception(e))
        last = {
            "n": n,
            "stdout": _cap(out.getvalue()),
            "stderr": _cap(err.getvalue()),
            "error": failed,
            "seconds": round(time.monotonic() - started, 6),
        }
        bridge.write_state(status="idle", cell=n, last=last)
        n, idle_since = n + 1, time.monotonic()


if __name__ == "__main__":
    if len(sys.argv) in (3, 4) and sys.argv[1] == "serve":
        serve(*sys.argv[2:])
    else:
        sys.exit("usage: python ptc_runtime.py serve <bridge_dir> [token]")
