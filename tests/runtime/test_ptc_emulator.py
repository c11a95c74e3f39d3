"""PTC through boto3 -> emulator -> sandbox: preloaded tools, bridged tools, parallel bridging,
and what the bridged relay costs in data-plane calls (counted by the emulator)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from code_exec.ptc import BridgedRunner, ToolRegistry, open_executor, preload
from code_exec.sandbox import SandboxClient

from devtools.expense import (
    expected_audit,
    expense_audit_code,
    expense_registry,
    read_audit_output,
)
from emulators.code_interpreter.admin import session_calls

pytestmark = [pytest.mark.sandbox, pytest.mark.slow(seconds=25, waits=True)]


def slow_echo(value: str, delay_ms: int = 200) -> str:
    """Echo a value after a delay (stands in for a slow business API).

    Args:
        value: What to echo.
        delay_ms: How long to take, in milliseconds.

    Returns:
        The value, unchanged.
    """
    time.sleep(delay_ms / 1000)
    return value


# One round of parallel calls: each returns only once all of them are in flight at once.
_ROUND: list[threading.Barrier] = []


def rendezvous(value: str) -> str:
    """Return a value once every call of the round has arrived (a barrier).

    Args:
        value: What to return.

    Returns:
        The value, unchanged.
    """
    _ROUND[0].wait()
    return value


def failing_lookup(key: str) -> str:
    """A tool that always fails.

    Args:
        key: Anything.

    Returns:
        Never returns.
    """
    raise KeyError(f"no record for {key}")


@pytest.fixture(scope="module")
def sid(sandbox: SandboxClient) -> Iterator[str]:
    with sandbox.session(name="ptc-tests", timeout_seconds=600) as session_id:
        yield session_id


@pytest.fixture(scope="module")
def bridged(sandbox: SandboxClient, sid: str) -> Iterator[BridgedRunner]:
    registry = expense_registry("bridged")
    registry.register(slow_echo, placement="bridged")
    registry.register(failing_lookup, placement="bridged")
    registry.register(rendezvous, placement="bridged")
    runner = BridgedRunner(sandbox, sid, registry)
    runner.start()
    yield runner
    runner.close()


AUDIT_HEADLINE = "3 members exceeded budget:"
AUDIT_NAMES = ["Alice Chen", "Emma Johnson", "Grace Taylor"]


def _assert_audit_answer(stdout: str) -> None:
    """The published cell's output: the headline, then the three people, to the cent."""
    headline, rows = read_audit_output(stdout)
    assert headline == AUDIT_HEADLINE, stdout
    assert [r["name"] for r in rows] == AUDIT_NAMES
    assert (headline, rows) == expected_audit()  # the amounts in expense_tools.py, in cents


def test_expense_audit_with_preloaded_tools(sandbox: SandboxClient, sid: str) -> None:
    """The published cell, unmodified, against tools running inside the sandbox."""
    names = preload(sandbox, sid, expense_registry("preloaded"))
    assert names == ["get_team_members", "get_expenses", "get_custom_budget"]
    sandbox.execute_code(sid, "%autoawait off")  # the runner, not the kernel, awaits
    r = sandbox.run_cell(sid, expense_audit_code())
    assert r.ok, r.stderr
    _assert_audit_answer(r.stdout)
    # synchronous use of the same tools works too, and the value can still be awaited
    r = sandbox.run_cell(
        sid,
        "team = json.loads(get_team_members('engineering'))\n"
        "again = json.loads(await get_team_members('engineering'))\n"
        "print(len(team), team == again)",
    )
    assert r.stdout == "8 True\n", r.stderr


def test_expense_audit_with_bridged_tools(bridged: BridgedRunner) -> None:
    """Same cell; every call is relayed out of the sandbox and run here."""
    r = bridged.run_cell(expense_audit_code(), timeout_seconds=60)
    assert r.ok, r.stderr
    _assert_audit_answer(r.stdout)


# --- the relay's budget: <= 2 data-plane calls per cell + 2 per round of parallel calls ---------


class _Rounds:
    """Spies on a runner's rounds of tool calls (how many calls each round served)."""

    def __init__(self, runner: BridgedRunner, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sizes: list[int] = []
        serve = runner.serve

        def counted(calls: Any, **kwargs: Any) -> Any:
            calls = list(calls)
            self.sizes.append(len(calls))
            return serve(calls, **kwargs)

        monkeypatch.setattr(runner, "serve", counted)


def _budget(rounds: int) -> int:
    return 2 + 2 * rounds


def test_the_expense_audit_stays_within_the_relay_budget(
    bridged: BridgedRunner, sid: str, emulator_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three rounds (the team; 8 expense lists; 5 budgets): at most 2 + 2 x 3 calls."""
    rounds = _Rounds(bridged, monkeypatch)
    before = session_calls(emulator_url, sid)
    r = bridged.run_cell(expense_audit_code(), timeout_seconds=60)
    after = session_calls(emulator_url, sid)
    assert r.ok, r.stderr
    _assert_audit_answer(r.stdout)
    assert rounds.sizes == [1, 8, 5]
    used = after["calls"] - before["calls"]
    assert used <= _budget(3), (before, after)
    steps = {k: n - before["tools"].get(k, 0) for k, n in after["tools"].items()}
    assert {k for k, n in steps.items() if n} <= {"executeCode", "writeFiles"}  # no polling


def test_twenty_parallel_calls_are_one_round_within_the_budget(
    bridged: BridgedRunner, sid: str, emulator_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """20 calls of 200 ms each from one gather: one round, served in parallel."""
    bridged.run_cell("await slow_echo('warm', 1)")
    rounds = _Rounds(bridged, monkeypatch)
    code = (
        "out = await asyncio.gather(*[slow_echo(str(i), 200) for i in range(20)])\n"
        "print(len(out), out == [str(i) for i in range(20)])"
    )
    before = session_calls(emulator_url, sid)["calls"]
    r = bridged.run_cell(code, timeout_seconds=30)
    used = session_calls(emulator_url, sid)["calls"] - before
    assert r.stdout == "20 True\n", r.stderr
    assert rounds.sizes == [20]
    assert used <= _budget(1)


def test_a_cell_without_tool_calls_is_one_call_however_long_it_runs(
    bridged: BridgedRunner, sid: str, emulator_url: str
) -> None:
    """The orchestrator never polls: a cell busy for 1.5 s costs what an empty one does."""
    before = session_calls(emulator_url, sid)["calls"]
    assert bridged.run_cell("import time\ntime.sleep(1.5)\nprint('slept')").stdout == "slept\n"
    assert session_calls(emulator_url, sid)["calls"] - before <= _budget(0)


def test_the_steps_pause_and_resume_a_cell(
    sandbox: SandboxClient, sid: str, bridged: BridgedRunner
) -> None:
    """A cell paused on its tool calls is resumed by another runner object, as a later
    invocation would, from what it stored: the call ids and their outcomes."""
    registry = ToolRegistry()
    registry.register(slow_echo, placement="bridged")
    first = BridgedRunner(sandbox, sid, registry)
    first.start()
    cell = "a, b = await asyncio.gather(slow_echo('x', 1), slow_echo('y', 1))\nprint(a + b)"
    state = first.submit(cell)
    assert state.status == "pending"
    assert sorted(c.input["value"] for c in state.pending) == ["x", "y"]
    first.detach()  # the invocation ends with the cell paused

    later = BridgedRunner(sandbox, sid, registry)
    later.start()  # attaches to the same runner; the paused cell is still its current one
    assert later.cell == state.cell
    again = later.wait()  # the calls it waits on are still pending
    assert {c.id for c in again.pending} == {c.id for c in state.pending}
    outcomes = {c.id: {"ok": True, "value": c.input["value"].upper()} for c in state.pending}
    done = later.resume(outcomes)
    assert done.done and done.result is not None and done.result.stdout == "XY\n"
    assert later.run_cell("print(a)").stdout == "X\n"  # the runner goes on as before
    # a runner object that stayed attached meanwhile hands in its next cell all the same
    assert bridged.cell < later.cell
    assert bridged.run_cell("print(b)").stdout == "Y\n"


def test_a_step_waits_out_a_kernel_still_busy_with_an_earlier_step(
    sandbox: SandboxClient, sid: str, bridged: BridgedRunner, emulator_url: str
) -> None:
    """An invocation that died mid-step leaves its step waiting in the kernel; the next
    step is refused (conflict) and tried again until the kernel is free."""
    import threading

    busy = threading.Thread(
        target=sandbox.execute_code,
        args=(sid, "open('.busy', 'w').close()\nimport time\ntime.sleep(1.5)"),
    )
    busy.start()
    deadline = time.monotonic() + 20
    while ".busy" not in sandbox.list_files(sid) and time.monotonic() < deadline:
        time.sleep(0.05)
    before = session_calls(emulator_url, sid)["tools"].get("executeCode", 0)
    try:
        assert (
            bridged.run_cell("print('after the busy kernel')").stdout == "after the busy kernel\n"
        )
    finally:
        busy.join()
    assert (
        session_calls(emulator_url, sid)["tools"]["executeCode"] - before >= 2
    )  # refused, then ran


@pytest.mark.parametrize("placement", ["preloaded", "bridged"])
def test_tools_take_one_dict_or_keywords_and_refuse_a_mix(
    sandbox: SandboxClient, sid: str, bridged: BridgedRunner, placement: str
) -> None:
    """Anthropic's PTC convention (one dict) and keyword arguments give the same call."""
    executor = (
        bridged
        if placement == "bridged"
        else open_executor(sandbox, sid, expense_registry("preloaded"))
    )
    r = executor.run_cell(
        "a = await get_expenses({'employee_id': 'ENG001', 'quarter': 'Q3'})\n"
        "b = await get_expenses(employee_id='ENG001', quarter='Q3')\n"
        "c = json.loads(await get_custom_budget({'user_id': 'ENG002'}))\n"
        "print(a == b, len(json.loads(a)), c['budget_limit'])"
    )
    assert r.stdout == "True 25 12000.0\n", r.stderr
    r = executor.run_cell(
        "try:\n"
        "    await get_expenses({'employee_id': 'ENG001'}, quarter='Q3')\n"
        "except ToolError as e:\n"
        "    print(e)"
    )
    assert r.stdout == (
        "get_expenses: pass the arguments either as one dict or as keyword arguments, not both\n"
    ), r.stderr


def test_bridged_cells_keep_state_and_report_failures(bridged: BridgedRunner) -> None:
    assert bridged.run_cell("kept = await slow_echo('hello', 1)").ok
    r = bridged.run_cell("print(kept.upper())\nkept")
    assert r.stdout == "HELLO\n'hello'\n"
    assert bridged.run_cell("kept;").stdout == ""  # shown once, hidden by `;`, as in a notebook
    r = bridged.run_cell("x = 1\nundefined_name + x")
    assert r.is_error and "NameError" in r.stderr and "<cell" in r.stderr
    sync = bridged.run_cell("print(slow_echo('sync', 1))")  # sync call from a sync cell
    assert sync.stdout == "sync\n", sync.stderr


def test_bridged_tool_error_reaches_the_code_as_an_exception(bridged: BridgedRunner) -> None:
    r = bridged.run_cell(
        "try:\n    await failing_lookup('k1')\nexcept ToolError as e:\n    print('caught:', e)\n"
    )
    assert r.ok, r.stderr
    # the exception's type reaches the code, its text (which may name resources) only the logs
    assert r.stdout == (
        "caught: failing_lookup failed: KeyError: "
        "the tool failed (the details are in the orchestrator's logs)\n"
    )
    r = bridged.run_cell("await failing_lookup('k2')")
    assert r.is_error and "ToolError" in r.stderr


def test_parallel_bridged_calls_are_served_in_parallel(bridged: BridgedRunner) -> None:
    """As many calls as the bridge has workers, each blocked until all are in flight: served
    one after another, the first would wait for the others forever (the barrier breaks and
    every call fails)."""
    n = bridged.max_workers
    _ROUND[:] = [threading.Barrier(n, timeout=60)]
    code = (
        f"out = await asyncio.gather(*[rendezvous(str(i)) for i in range({n})])\n"
        f"print(len(out), out == [str(i) for i in range({n})])"
    )
    r = bridged.run_cell(code, timeout_seconds=120)
    assert r.ok, r.stderr
    assert r.stdout == f"{n} True\n"
    assert not _ROUND[0].broken


_FAILING_CELLS = [
    (
        "async def g():\n    await asyncio.sleep(0)\n    raise KeyError('k')\nawait g()",
        "KeyError: 'k'",
    ),
    ("await get_expenses('nobody', 'Q1')", "ToolError: get_expenses failed: ValueError"),
    ("get_expenses('nobody', 'Q1')", "ToolError: get_expenses failed: ValueError"),
    ("import json\njson.loads('{')", "JSONDecodeError"),
    ("def (:", "SyntaxError: invalid syntax"),
    ("while True:\n    pass", "CellTimeoutError"),
]


@pytest.mark.parametrize("placement", ["preloaded", "bridged"])
def test_tracebacks_show_the_cells_own_frames_only(
    sandbox: SandboxClient, sid: str, bridged: BridgedRunner, placement: str
) -> None:
    """No runner, PTC runtime, IPython or asyncio frames: what plain Python would show."""
    executor = (
        bridged
        if placement == "bridged"
        else open_executor(sandbox, sid, expense_registry("preloaded"))
    )
    for code, expected in _FAILING_CELLS:
        r = executor.run_cell(code, timeout_seconds=1)
        assert r.is_error and expected in r.stderr, r.stderr
        frames = [line for line in r.stderr.splitlines() if line.lstrip().startswith("File ")]
        assert frames and frames[0].startswith('  File "<cell '), r.stderr
        for hidden in ("bcx", "ptc_runtime", "ptc_cell_runner", "IPython", "Cell In", "asyncio/"):
            assert hidden not in r.stderr, r.stderr
        assert "futures" not in r.stderr and "serve" not in r.stderr, r.stderr


def test_open_executor_picks_kernel_or_bridge(sandbox: SandboxClient, sid: str) -> None:
    kernel = open_executor(sandbox, sid, expense_registry("preloaded"))
    assert (
        kernel.run_cell("print(len(json.loads(await get_team_members('engineering'))))").stdout
        == "8\n"
    )
    kernel.detach()  # nothing to let go of: cells keep running in the kernel
    assert kernel.run_cell("print('still here')").stdout == "still here\n"
    mixed = ToolRegistry([*expense_registry("preloaded")])
    mixed.register(slow_echo, placement="bridged")
    # a session of its own: ``sid``'s runner has the expense tools bound as bridged ones,
    # and the bridge runs only tools its registry places there (never a preloaded one)
    with sandbox.session(name="ptc-mixed", timeout_seconds=300) as mixed_sid:
        bridge = open_executor(sandbox, mixed_sid, mixed)
        try:
            r = bridge.run_cell(
                "a, b = await asyncio.gather(get_custom_budget('ENG002'), slow_echo('x', 1))\n"
                "print(json.loads(a)['budget_limit'], b)"
            )
            assert r.stdout == "12000.0 x\n", r.stderr
        finally:
            bridge.close()


def test_next_invocation_attaches_and_a_dead_runner_is_replaced(sandbox: SandboxClient) -> None:
    """A new BridgedRunner object (e.g. the next Lambda invocation) reuses the live runner;
    after the runner is stopped, a fresh one starts clean (old cells are not replayed)."""
    registry = ToolRegistry()
    registry.register(slow_echo, placement="bridged")
    with sandbox.session(name="ptc-attach") as session_id:
        first = BridgedRunner(sandbox, session_id, registry)
        first.start()
        assert first.run_cell("n = await slow_echo('1', 1)\nprint(n)").stdout == "1\n"
        second = BridgedRunner(sandbox, session_id, registry)
        second.start()
        assert second.task_id == first.task_id
        assert second.run_cell("print(n)").stdout == "1\n"
        second.detach()  # the end of an invocation: the runner and its globals stay
        assert second.task_id is None and not sandbox.get_task(session_id, first.task_id).done
        assert second.run_cell("n += '2'\nprint(n)").stdout == "12\n"  # re-attached
        assert second.task_id == first.task_id
        second.close()
        third = BridgedRunner(sandbox, session_id, registry)
        third.start()
        assert third.task_id != first.task_id
        r = third.run_cell("print('n' in globals())")
        assert r.stdout == "False\n", r.stderr
        third.close()


def test_a_runner_whose_cell_holds_the_gil_is_attached_to_not_replaced(
    sandbox: SandboxClient,
) -> None:
    """A cell in a call into C that keeps the GIL (10 s) stops the runner's heartbeat: a
    step reports it ``lost``. The next invocation still attaches to it (its task works):
    starting a second runner on the same bridge directory would lose the cell."""
    registry = ToolRegistry()
    with sandbox.session(name="ptc-busy") as session_id:
        first = BridgedRunner(sandbox, session_id, registry, wait_seconds=0.5)
        first.start()
        state = first.submit("import ctypes\nctypes.PyDLL(None).sleep(10)\nprint('held')")
        for _ in range(60):  # until the heartbeat is stale (bounded: 60 steps of 0.5 s)
            if state.status == "lost":
                break
            state = first.wait()
        assert state.status == "lost", state
        second = BridgedRunner(sandbox, session_id, registry, wait_seconds=0.5)
        second.start()
        assert second.task_id == first.task_id
        second.cell = state.cell
        for _ in range(60):  # the cell finishes in the one runner (bounded)
            state = second.wait(lost_after=600)
            if state.done:
                break
        assert state.done and state.result is not None
        assert state.result.stdout == "held\n"
        second.close()


def test_a_runner_that_never_comes_up_is_stopped(sandbox: SandboxClient) -> None:
    """start() giving up leaves no runner process behind in the session."""
    from code_exec.exceptions import SandboxTimeoutError
    from code_exec.sandbox.types import SandboxFile

    with sandbox.session(name="ptc-stuck-runner", timeout_seconds=120) as session_id:
        sandbox.write_files(session_id, [SandboxFile("stuck-python", b"#!/bin/sh\nsleep 60\n")])
        assert sandbox.execute_command(session_id, "chmod +x stuck-python").ok
        runner = BridgedRunner(
            sandbox, session_id, expense_registry("bridged"), python="./stuck-python"
        )
        with pytest.raises(SandboxTimeoutError, match="bridged runner did not start within 1 s"):
            runner.start(wait_seconds=1)
        (task_file,) = sandbox.read_files(session_id, [".bcx/bridge/task_id"])
        assert sandbox.get_task(session_id, task_file.text.strip()).done
