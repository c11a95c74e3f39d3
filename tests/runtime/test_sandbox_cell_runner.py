"""The cell runner on its own (no kernel): the same source sandbox.py sends into sessions."""

from __future__ import annotations

import asyncio

import pytest
from code_exec.ptc.cell_runner import CellTimeoutError, format_exception, make_runner


def test_top_level_await_and_persistent_globals(capsys: pytest.CaptureFixture[str]) -> None:
    ns: dict = {}
    runner = make_runner(ns)
    runner.run("import asyncio\nasync def twice(x):\n    await asyncio.sleep(0)\n    return 2 * x")
    runner.run("a = await twice(21)\nb = await asyncio.gather(*[twice(i) for i in range(3)])")
    assert ns["a"] == 42 and ns["b"] == [0, 2, 4]
    assert runner.run("a + 1") == 43
    assert capsys.readouterr().out == "43\n"  # trailing expression printed like a REPL
    assert make_runner(ns) is runner  # idempotent install


def test_trailing_value_printed_once_and_semicolon_hides_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    runner = make_runner({"x": 42})
    assert runner.run_in_kernel("x") is None  # a kernel has nothing left to display
    assert runner.run("x;  # quiet") is None and runner.run("x ; ") is None
    assert runner.run("s = 'a;'\ns") == "a;"
    assert capsys.readouterr().out == "42\n'a;'\n"


def test_runs_inside_an_already_running_loop() -> None:
    """ipykernel executes cells while its own loop runs in the same thread."""
    ns: dict = {}

    async def kernel() -> None:
        make_runner(ns).run("import asyncio\nawait asyncio.sleep(0)\nx = 1")

    asyncio.run(kernel())
    assert ns["x"] == 1


def test_exception_propagates_with_cell_frames() -> None:
    runner = make_runner({})
    with pytest.raises(ZeroDivisionError) as info:
        runner.run("def f():\n    return 1 / 0\nf()")
    frames = [e.name for e in info.traceback]
    assert "f" in frames


def test_timeout_interrupts_and_next_cell_runs() -> None:
    ns: dict = {}
    runner = make_runner(ns)
    with pytest.raises(CellTimeoutError):
        runner.run("while True:\n    pass", timeout=0.3)
    with pytest.raises(CellTimeoutError):  # a 30 s sleep would finish and raise nothing
        runner.run("import asyncio\nawait asyncio.sleep(30)", timeout=0.3)
    runner.run("import asyncio\nawait asyncio.sleep(0)\ny = 2")
    assert ns["y"] == 2


def test_formatted_traceback_starts_at_the_cell() -> None:
    """Whoever called the runner (this test, a kernel, the bridged runner) is not shown."""
    runner = make_runner({})
    with pytest.raises(ZeroDivisionError) as info:
        runner.run("def f():\n    return 1 / 0\nf()")
    lines = format_exception(info.value).splitlines()
    assert lines[1].startswith('  File "<cell ') and lines[-1].startswith("ZeroDivisionError")
    assert "test_sandbox_cell_runner" not in "\n".join(lines)
    with pytest.raises(SyntaxError) as syntax:
        runner.run("def (:")
    assert format_exception(syntax.value).startswith('  File "<cell ')
