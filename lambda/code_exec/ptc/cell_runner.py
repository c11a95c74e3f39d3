"""The cell runner: runs a model's Python cell with top-level ``await`` in persistent globals.

This file is *sent into the sandbox* (stdlib only, no package imports). ``code_exec.sandbox.client``
executes its source once per kernel (``SandboxClient.run_cell``), and the bridged PTC
runner process imports it. It does not depend on the kernel's own autoawait: the cell
is compiled with ``ast.PyCF_ALLOW_TOP_LEVEL_AWAIT`` and, when it awaits, driven on a
private event loop that persists across cells (so tasks and loop-bound objects created
in one cell still work in the next).

Behaviour of :meth:`CellRunner.run`:
- the value of a trailing expression is printed (``repr``) unless it is ``None`` or the
  cell ends with ``;`` (as in a notebook); :meth:`CellRunner.run_in_kernel` is the same
  but returns ``None``, so a kernel never displays that value a second time;
- an exception propagates to the caller; IPython shows it with the cell's frames only;
- ``timeout`` (seconds) raises :class:`CellTimeoutError` inside the cell when it is run
  from the main thread (``SIGALRM``); the next cell runs normally.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import io
import signal
import sys
import threading
import tokenize
import traceback
from typing import Any

__all__ = ["CellRunner", "CellTimeoutError", "format_exception", "make_runner"]

_LAST = "__bcx_last__"


class CellTimeoutError(TimeoutError):
    """The cell ran past its time limit and was interrupted."""

    __module__ = "builtins"  # tracebacks read "CellTimeoutError: ...", not a module path


class CellRunner:
    """Runs cells in ``namespace`` (the session's persistent globals)."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.namespace = namespace
        self.namespace.setdefault("__name__", "__main__")
        self.namespace.setdefault("__builtins__", __builtins__)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._count = 0

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The runner's private event loop (created on first use, kept across cells)."""
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
        return self._loop

    def compile(self, source: str, filename: str | None = None) -> Any:
        """Compile ``source`` allowing top-level ``await``; a trailing expression is kept."""
        self._count += 1
        filename = filename or f"<cell {self._count}>"
        tree = ast.parse(source, filename, "exec")
        if tree.body and isinstance(tree.body[-1], ast.Expr) and not _ends_with_semicolon(source):
            last = tree.body[-1]
            assign = ast.Assign(targets=[ast.Name(_LAST, ast.Store())], value=last.value)
            tree.body[-1] = ast.copy_location(assign, last)
        ast.fix_missing_locations(tree)
        # Make the source visible to tracebacks (linecache) under the synthetic name.
        import linecache

        _CELL_FILES.add(filename)
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        return compile(tree, filename, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)

    def run(self, source: str, timeout: float | None = None, filename: str | None = None) -> Any:
        """Run one cell; return the trailing expression's value (also printed when not None)."""
        __tracebackhide__ = True
        self.namespace.pop(_LAST, None)
        code = self.compile(source, filename)
        with _time_limit(timeout):
            if code.co_flags & inspect.CO_COROUTINE:
                self._run_coroutine(eval(code, self.namespace))
            else:
                exec(code, self.namespace)
        value = self.namespace.pop(_LAST, None)
        if value is not None:
            print(repr(value))
            self.namespace["_"] = value
        return value

    def run_in_kernel(self, source: str, timeout: float | None = None) -> None:
        """:meth:`run` for a kernel cell: prints the trailing value and returns ``None``.

        A kernel displays the value of the expression that calls the runner (always with
        ``ast_node_interactivity = "all"``), so returning the value would print it twice.
        A failure shows the cell's own frames only (see :func:`_render_cell_frames`).
        """
        __tracebackhide__ = True
        try:
            self.run(source, timeout)
        except SyntaxError as e:
            raise _render_cell_frames(_syntax_stand_in(e), format_exception(e)) from None
        except BaseException as e:
            _render_cell_frames(e, format_exception(e))
            raise

    def _run_coroutine(self, coro: Any) -> None:
        __tracebackhide__ = True
        loop = self.loop
        # A kernel (ipykernel) may have its own loop running in this thread while it executes
        # our synchronous call; it cannot make progress until we return, so running our
        # private loop here is safe. Hide the outer loop for the duration, then restore it.
        outer = asyncio._get_running_loop()
        asyncio._set_running_loop(None)
        try:
            task = loop.create_task(coro)
            try:
                loop.run_until_complete(task)
            except BaseException:
                _cancel_pending(loop)
                raise
        finally:
            asyncio._set_running_loop(outer)


def _ends_with_semicolon(source: str) -> bool:
    """True when the cell's last token is ``;`` (a notebook then shows no value)."""
    last = ""
    with contextlib.suppress(tokenize.TokenError, SyntaxError):
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type not in _NOT_CODE:
                last = tok.string
    return last == ";"


_NOT_CODE = frozenset(
    {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.ENDMARKER, tokenize.DEDENT}
)


def _cancel_pending(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what a failed or interrupted cell left running, so the next cell starts clean."""
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for t in pending:
        t.cancel()
    if pending:
        with contextlib.suppress(BaseException):  # a second interrupt while cleaning up
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


class _time_limit:
    """``SIGALRM``-based time limit; a no-op off the main thread or when ``seconds`` is None."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.previous: Any = None
        self.active = (
            bool(seconds)
            and hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread()
        )

    def _fire(self, signum: int, frame: Any) -> None:
        raise CellTimeoutError(f"cell exceeded its time limit of {self.seconds:g} s")

    def __enter__(self) -> None:
        if self.active:
            self.previous = signal.signal(signal.SIGALRM, self._fire)
            signal.setitimer(signal.ITIMER_REAL, float(self.seconds or 0))

    def __exit__(self, *exc: object) -> None:
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous or signal.SIG_DFL)


_CELL_FILES: set[str] = set()  # synthetic file names of the cells compiled here
_RUNTIME_FILES = ("ptc_cell_runner.py", "ptc_runtime.py", "ptc_bridge.py", "ptc_relay.py")
_HIDDEN_DIRS = ("/asyncio/", "/concurrent/futures/")


def _is_runtime_frame(filename: str) -> bool:
    return (
        filename == globals().get("__file__")
        or filename.startswith("<bcx")
        or filename.rsplit("/", 1)[-1] in _RUNTIME_FILES
        or any(d in filename for d in _HIDDEN_DIRS)
    )


def format_exception(e: BaseException) -> str:
    """A plain traceback of ``e`` showing the cell's own frames only.

    Frames before the first cell frame (whoever called the runner: a kernel, the bridged
    runner process) are dropped, and so are the runner's, the PTC runtime's, asyncio's
    and ``concurrent.futures``' frames after it. Library frames a cell calls into stay,
    as plain Python shows them.
    """
    frames = traceback.extract_tb(e.__traceback__)
    first = next((i for i, f in enumerate(frames) if f.filename in _CELL_FILES), len(frames))
    frames = traceback.StackSummary.from_list(
        [f for f in frames[first:] if not _is_runtime_frame(f.filename)]
    )
    text = "Traceback (most recent call last):\n" if frames else ""
    text += "".join(frames.format())
    return text + "".join(traceback.format_exception_only(type(e), e))


def _render_cell_frames(e: BaseException, text: str) -> BaseException:
    """Make IPython show ``text`` for ``e`` (it renders through ``_render_traceback_``)."""
    lines = text.rstrip("\n").split("\n")
    with contextlib.suppress(AttributeError, TypeError):
        e._render_traceback_ = lambda: lines  # type: ignore[attr-defined]
    return e


def _syntax_stand_in(e: SyntaxError) -> Exception:
    """An exception named like ``e`` that is not a ``SyntaxError``.

    IPython ignores ``_render_traceback_`` on a ``SyntaxError`` and shows the whole stack,
    the runner call included; the stand-in is rendered like any other exception.
    """
    stand_in = type(type(e).__name__, (Exception,), {"__module__": "builtins"})
    return stand_in(str(e))


def make_runner(namespace: dict[str, Any]) -> CellRunner:
    """Return the runner stored in ``namespace`` (creating it on first use)."""
    runner: Any = namespace.get("__bcx_runner__")
    # not isinstance: the class differs per exec of this source; an older runner lacks run_in_kernel
    if not hasattr(runner, "run_in_kernel"):
        runner = CellRunner(namespace)
        namespace["__bcx_runner__"] = runner
    return runner  # type: ignore[no-any-return]


if __name__ == "__main__":  # pragma: no cover - manual use: python cell_runner.py file.py
    with open(sys.argv[1]) as fh:
        make_runner({"__name__": "__main__"}).run(fh.read())
