"""``code_exec.sandbox.tasks.run_command``: a command as a stoppable task, on the emulator.

Deadlines are on an injected clock (each look at it advances it), so nothing depends on how
fast this machine is; what is left in the sandbox is read from the emulator's process view.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from code_exec.exceptions import SandboxTimeoutError
from code_exec.sandbox.client import SandboxClient
from code_exec.sandbox.tasks import CommandStoppedError, run_command

from emulators.code_interpreter.admin import session_calls, session_processes

pytestmark = pytest.mark.sandbox


class _Ticks:
    """A clock that moves one second each time it is read."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


@pytest.fixture(scope="module")
def sandbox(agentcore_client: Any) -> SandboxClient:
    return SandboxClient("aws.codeinterpreter.v1", client=agentcore_client, backoff_base=0.01)


@pytest.fixture(scope="module")
def sid(sandbox: SandboxClient) -> Iterator[str]:
    with sandbox.session(name="task-tests", timeout_seconds=600) as session_id:
        yield session_id


def _sleeping(url: str, sid: str, marker: str) -> list[list[str]]:
    return [argv for argv in session_processes(url, sid) if marker in argv]


def test_a_short_command_returns_its_output_in_two_calls(
    sandbox: SandboxClient, sid: str, emulator_url: str
) -> None:
    before = session_calls(emulator_url, sid)["tools"]
    r = run_command(sandbox, sid, "echo out; echo err >&2; exit 3", deadline=float("inf"))
    after = session_calls(emulator_url, sid)["tools"]
    assert (r.stdout, r.stderr, r.exit_code, r.is_error) == ("out\n", "err\n", 3, True)
    assert after.get("startCommandExecution", 0) - before.get("startCommandExecution", 0) == 1
    assert 1 <= after.get("getTask", 0) - before.get("getTask", 0) <= 3


def test_the_deadline_stops_the_command_and_everything_it_started(
    sandbox: SandboxClient, sid: str, emulator_url: str
) -> None:
    marker = "300.0411"
    command = f"sleep {marker} & sleep {marker}; echo never"
    with pytest.raises(CommandStoppedError, match="time limit") as caught:
        run_command(sandbox, sid, command, deadline=4.0, clock=_Ticks())
    assert isinstance(caught.value, SandboxTimeoutError)  # execution_time_exceeded
    assert _sleeping(emulator_url, sid, marker) == []


def test_cancel_stops_the_command_at_once(
    sandbox: SandboxClient, sid: str, emulator_url: str
) -> None:
    marker = "300.0412"
    cancel = threading.Event()
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            run_command(sandbox, sid, f"sleep {marker}", deadline=float("inf"), cancel=cancel)
        except BaseException as e:
            outcome.append(e)

    worker = threading.Thread(target=run)
    worker.start()
    for _ in range(300):  # until the command runs (bounded: 30 s)
        if _sleeping(emulator_url, sid, marker):
            break
        threading.Event().wait(0.1)
    assert _sleeping(emulator_url, sid, marker), "the command never started"
    cancel.set()
    worker.join(30)
    assert not worker.is_alive()
    [error] = outcome
    assert isinstance(error, CommandStoppedError) and "cancelled" in error.message
    assert _sleeping(emulator_url, sid, marker) == []
