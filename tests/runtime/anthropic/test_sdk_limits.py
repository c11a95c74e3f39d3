"""``/v1/messages`` server tools never outlive their request, and bound what they return.

* A bash command, a text-editor run or a 20250522 kernel cell that runs past the turn's time
  is stopped in the sandbox: the tool's result is ``execution_time_exceeded``, the request
  ends (``pause_turn``), the container is saved and released, and nothing of the command is
  left running (the emulator lists the sandbox's processes).
* A cell that keeps calling tools the client cannot serve ends with its request.
* A Python runner whose cell holds the GIL (no heartbeat) is busy, not gone.
* A run's stdout/stderr reach the client, the container record and the model capped.

The turn's time is a ``TurnLimits`` override; every wait is bounded by the SDK client's own
timeout (the request fails instead of hanging), never compared with the wall clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from emulators.code_interpreter.admin import session_processes

from .conftest import MODEL, Server, fixture, model_turn, text, tool_use

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.slow(seconds=25, waits=True),
    pytest.mark.filterwarnings("ignore:The model"),
]

CE = {"type": "code_execution_20250825", "name": "code_execution"}
REPL = {"type": "code_execution_20260120", "name": "code_execution"}
LEGACY = {"type": "code_execution_20250522", "name": "code_execution"}
WAIT = 40.0  # seconds the SDK waits for any response here (a hung request fails the test)


@pytest.fixture
def short_turns(server: Server) -> Iterator[None]:
    """Turns of 2 s (the emulator would cut a command at 5 s: the turn must stop it first)."""
    from code_exec.anthropic.turn import TurnLimits

    server.services.override(turn_limits=TurnLimits(wall_time_seconds=2.0))
    try:
        yield
    finally:
        del server.services.__dict__["turn_limits"]


def _create(server: Server, tools: list[dict[str, Any]], **kwargs: Any) -> Any:
    kwargs.setdefault("messages", [{"role": "user", "content": "Go."}])
    client = server.client(timeout=WAIT)
    entry = client.beta.messages if "betas" in kwargs else client.messages
    return entry.create(model=MODEL, max_tokens=1024, tools=tools, **kwargs)


def _left(server: Server, container_id: str, marker: str) -> list[list[str]]:
    """Processes of the container's sandbox whose command line holds ``marker``."""
    session = server.container(container_id).sandbox_session_id
    url = server.services.sandbox._client.meta.endpoint_url
    return [a for a in session_processes(url, session) if any(marker in x for x in a)]


def _results(r: Any) -> list[dict[str, Any]]:
    return [b.to_dict()["content"] for b in r.content if b.type.endswith("_tool_result")]


def _assert_stopped(server: Server, r: Any, marker: str) -> None:
    assert r.stop_reason == "pause_turn"
    [content] = _results(r)
    assert content["error_code"] == "execution_time_exceeded", content
    record = server.container(r.container.id)
    assert record.status == "ACTIVE" and record.leased_until == 0.0  # saved and released
    assert _left(server, r.container.id, marker) == []


def test_a_bash_command_past_the_turns_time_is_stopped_in_the_sandbox(
    server: Server, short_turns: None
) -> None:
    marker = "300.0421"
    turn = model_turn(tool_use("bash_code_execution", {"command": f"sleep {marker}"}, "Sleep"))
    with server.replay(fixture(turn)):
        r = _create(server, [CE])
    _assert_stopped(server, r, marker)


def test_a_text_editor_run_past_the_turns_time_is_stopped_in_the_sandbox(
    server: Server,
) -> None:
    """Writing to a FIFO nobody reads blocks the editor forever (``open`` waits)."""
    make = model_turn(tool_use("bash_code_execution", {"command": "mkfifo pipe"}, "Fifo"))
    create = {"command": "create", "path": "pipe", "file_text": "never read"}
    view = model_turn(tool_use("text_editor_code_execution", create, "Write"))
    with server.replay(fixture(make, model_turn(text("Made.")))):
        first = _create(server, [CE])
    assert first.stop_reason == "end_turn"
    from code_exec.anthropic.turn import TurnLimits

    server.services.override(turn_limits=TurnLimits(wall_time_seconds=2.0))
    try:
        with server.replay(fixture(view)):
            r = _create(server, [CE], container=first.container.id)
    finally:
        del server.services.__dict__["turn_limits"]
    _assert_stopped(server, r, "text_editor")


def test_a_legacy_kernel_cell_past_the_turns_time_is_interrupted(
    server: Server, short_turns: None
) -> None:
    code = "import time\ntime.sleep(300.0423)\nprint('never')"
    turn = model_turn(tool_use("code_execution", {"code": code}, "Legacy"))
    with server.replay(fixture(turn)):
        r = _create(server, [LEGACY], betas=["code-execution-2025-05-22"])
    assert r.stop_reason == "pause_turn"
    [content] = _results(r)
    assert content["error_code"] == "execution_time_exceeded", content
    record = server.container(r.container.id)
    assert record.leased_until == 0.0
    again = server.services.sandbox.run_cell(record.sandbox_session_id, "print('free')")
    assert again.stdout == "free\n"  # the kernel is not still in the cell


def test_a_cell_holding_the_gil_is_busy_not_gone(server: Server) -> None:
    """A call into C that keeps the GIL for 10 s stops the runner's heartbeat (its I/O
    thread cannot run) for longer than the relay's 5 s: the cell still finishes, in the same
    runner, and the next cell sees its globals."""
    hold = (
        "import ctypes\n"
        "libc = ctypes.PyDLL(None)  # PyDLL: the GIL is held for the whole call\n"
        "libc.sleep(10)\n"
        "held = 'yes'\n"
        "print('held the GIL')\n"
    )
    turns = fixture(
        model_turn(tool_use("code_execution", {"code": hold}, "Hold")),
        model_turn(tool_use("code_execution", {"code": "print('still', held)"}, "After")),
        model_turn(text("Done.")),
    )
    with server.replay(turns):
        r = _create(server, [REPL])
    assert r.stop_reason == "end_turn"
    first, second = _results(r)
    assert (first["stdout"], first["return_code"]) == ("held the GIL\n", 0), first
    assert second["stdout"] == "still yes\n", second
    runners = {  # each runner's token: one runner served both cells
        a[-1] for a in _left(server, r.container.id, "ptc_bridge.py") if a[:1] == ["python3"]
    }
    assert len(runners) == 1, runners


def test_long_output_is_capped_for_the_client_the_record_and_the_model(server: Server) -> None:
    from code_exec.loops.toolbox import DEFAULT_OUTPUT_LIMIT

    command = "python3 -c \"print('o' * 100000); import sys; sys.stderr.write('e' * 100000)\""
    turns = fixture(
        model_turn(tool_use("bash_code_execution", {"command": command}, "Loud")),
        model_turn(text("That was loud.")),
    )
    with server.replay(turns) as replay:
        r = _create(server, [CE])
    [content] = _results(r)
    assert "characters of output omitted" in content["stdout"]
    assert "characters of output omitted" in content["stderr"]
    size = len(content["stdout"]) + len(content["stderr"])
    assert DEFAULT_OUTPUT_LIMIT <= size <= DEFAULT_OUTPUT_LIMIT + 500
    stored = json.dumps(server.container(r.container.id).executed)
    assert len(stored) < DEFAULT_OUTPUT_LIMIT + 2_000
    sent = replay.exchanges[1].body.decode()
    assert "o" * 20_000 not in sent and "e" * 20_000 not in sent
    assert len(sent) < 100_000


def test_a_cell_calling_tools_the_client_cannot_serve_ends_with_its_request(
    server: Server,
) -> None:
    """The runner keeps ``get_weather`` from an earlier request; this request offers no tool
    code may call, so every call fails in the code at once, and the cell calls again, and
    again. The request still ends at its time (``pause_turn``), saved and released."""
    from code_exec.anthropic.turn import TurnLimits

    weather = {
        "name": "get_weather",
        "description": "Current weather for a location.",
        "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}},
        "allowed_callers": ["code_execution_20260120"],
    }
    bind = model_turn(tool_use("code_execution", {"code": "print('bound')"}, "Bind"))
    done = model_turn(text("Bound."))
    with server.replay(fixture(bind, done)):
        first = _create(server, [REPL, weather])
    assert first.stop_reason == "end_turn"
    loop = (
        "calls = 0\n"
        "while True:\n"
        "    calls += 1\n"
        "    try:\n"
        "        await get_weather({'location': 'London, UK'})\n"
        "    except Exception:\n"
        "        pass\n"
    )
    spin = model_turn(tool_use("code_execution", {"code": loop}, "Spin"))
    server.services.override(turn_limits=TurnLimits(wall_time_seconds=3.0))
    try:
        with server.replay(fixture(spin)):
            r = _create(server, [REPL], container=first.container.id)
    finally:
        del server.services.__dict__["turn_limits"]
        session = server.container(first.container.id).sandbox_session_id
        server.services.sandbox.stop_session(session)  # the cell would call on forever
    assert r.stop_reason == "pause_turn"
    record = server.container(r.container.id)
    assert record.leased_until == 0.0 and record.pending is not None
