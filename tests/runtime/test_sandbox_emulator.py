"""SandboxClient through boto3 -> emulator -> sandbox (bubblewrap + ipykernel).

One session is shared by the read-mostly tests of this module; tests that break or
stop a session start their own.
"""

from __future__ import annotations

import hashlib
import json
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from code_exec.exceptions import (
    SandboxAccessDeniedError,
    SandboxInternalError,
    SandboxResourceNotFoundError,
    SandboxThrottledError,
    SandboxValidationError,
    SessionExpiredError,
    SessionNotFoundError,
)
from code_exec.sandbox.client import SandboxClient
from code_exec.sandbox.types import SandboxFile

pytestmark = [pytest.mark.sandbox, pytest.mark.slow(seconds=15)]
INTERPRETER = "aws.codeinterpreter.v1"


def _admin(url: str, path: str, body: dict[str, Any] | None = None, method: str = "POST") -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, method=method)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def sandbox(agentcore_client: Any) -> SandboxClient:
    return SandboxClient(INTERPRETER, client=agentcore_client, backoff_base=0.01)


@pytest.fixture(scope="module")
def sid(sandbox: SandboxClient) -> Iterator[str]:
    with sandbox.session(name="runtime-tests", timeout_seconds=600) as session_id:
        yield session_id


def test_state_persists_in_a_session_not_across_sessions(sandbox: SandboxClient, sid: str) -> None:
    assert sandbox.run_cell(sid, "counter = 41").ok
    r = sandbox.run_cell(sid, "counter += 1\nprint(counter)")
    assert r.ok and r.stdout == "42\n"
    with sandbox.session() as other:
        r2 = sandbox.run_cell(other, "print(counter)")
        assert r2.is_error and "NameError" in r2.stderr
    assert sandbox.session_status(sid) == "READY"


def test_top_level_await_without_kernel_autoawait(sandbox: SandboxClient, sid: str) -> None:
    assert sandbox.execute_code(sid, "%autoawait off").ok
    plain = sandbox.execute_code(sid, "import asyncio\nawait asyncio.sleep(0)")
    assert plain.is_error  # the kernel itself no longer awaits...
    r = sandbox.run_cell(
        sid,
        "import asyncio\nasync def sq(x):\n    await asyncio.sleep(0.01)\n    return x * x\n"
        "vals = await asyncio.gather(*[sq(i) for i in range(5)])\nvals",
    )
    assert r.ok, r.stderr  # ...but run_cell does
    assert r.stdout == "[0, 1, 4, 9, 16]\n"
    assert sandbox.run_cell(sid, "print(sum(vals))").stdout == "30\n"
    sandbox.execute_code(sid, "%autoawait on")


@pytest.mark.parametrize("interactivity", ["last_expr", "all"])
def test_trailing_value_is_shown_exactly_once(
    sandbox: SandboxClient, sid: str, interactivity: str
) -> None:
    """Like a notebook, whatever the kernel's display setting (AgentCore's is undocumented)."""
    assert sandbox.execute_code(sid, f"get_ipython().ast_node_interactivity = {interactivity!r}").ok
    try:
        assert sandbox.run_cell(sid, "x = 42").stdout == ""
        assert sandbox.run_cell(sid, "x").stdout == "42\n"
        assert sandbox.run_cell(sid, "await __import__('asyncio').sleep(0)\nx").stdout == "42\n"
        assert sandbox.run_cell(sid, "x;").stdout == ""
    finally:
        sandbox.execute_code(sid, "get_ipython().ast_node_interactivity = 'last_expr'")


def test_failing_cell_returns_traceback_and_failure(sandbox: SandboxClient, sid: str) -> None:
    r = sandbox.run_cell(sid, "def divide(a, b):\n    return a / b\n\ndivide(1, 0)")
    assert r.is_error and not r.ok and r.exit_code != 0
    assert "ZeroDivisionError" in r.stderr and "divide" in r.stderr
    assert sandbox.run_cell(sid, "print('still alive')").stdout == "still alive\n"


def test_runaway_cell_is_stopped_and_next_cell_runs(sandbox: SandboxClient, sid: str) -> None:
    r = sandbox.run_cell(sid, "while True:\n    pass", timeout_seconds=1)
    # the runner's 1 s limit stopped it, not the service's per-cell limit
    assert r.is_error and "CellTimeoutError" in r.stderr and "Execution timed out" not in r.stderr
    # the service's own per-cell limit (the emulator's is 5 s in tests), no runner limit
    r = sandbox.execute_code(sid, "while True:\n    pass")
    assert r.is_error and r.exit_code == 124
    assert sandbox.run_cell(sid, "print(6 * 7)").stdout == "42\n"


def test_commands_and_exit_codes(sandbox: SandboxClient, sid: str) -> None:
    r = sandbox.execute_command(sid, "echo out; echo err >&2; exit 3")
    assert (r.stdout, r.stderr, r.exit_code, r.is_error) == ("out\n", "err\n", 3, True)
    assert sandbox.execute_command(sid, "pwd").ok


def test_files_round_trip_byte_exact(sandbox: SandboxClient, sid: str) -> None:
    text = "héllo ✓\r\nline 2\n\ttab\n".encode()
    binary = bytes(range(256)) * 4
    sandbox.write_files(sid, [SandboxFile("rt/text.txt", text), SandboxFile("rt/data.bin", binary)])
    files = sandbox.read_files(sid, ["rt/data.bin", "rt/text.txt"])
    assert [f.data for f in files] == [binary, text]
    check = sandbox.run_cell(
        sid, "import hashlib\nprint(hashlib.sha256(open('rt/data.bin','rb').read()).hexdigest())"
    )
    import hashlib

    assert check.stdout.strip() == hashlib.sha256(binary).hexdigest()
    assert sorted(sandbox.list_files(sid, "rt")) == ["rt/data.bin", "rt/text.txt"]
    sandbox.remove_files(sid, ["rt/data.bin"])
    assert sandbox.list_files(sid, "rt") == ["rt/text.txt"]
    with pytest.raises(SandboxResourceNotFoundError, match=r"rt/data\.bin"):
        sandbox.read_files(sid, ["rt/data.bin"])


def test_png_made_in_the_sandbox_downloads_intact(sandbox: SandboxClient, sid: str) -> None:
    """A matplotlib chart (as model code makes them) downloads byte for byte."""
    code = textwrap.dedent(
        """
        import hashlib, os
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        plt.plot([1, 2, 3], [3, 1, 2])
        os.makedirs("out", exist_ok=True)
        plt.savefig("out/plot.png")
        print(hashlib.sha256(open("out/plot.png", "rb").read()).hexdigest())
        """
    )
    r = sandbox.run_cell(sid, code)
    assert r.ok, r.stderr
    png = sandbox.read_files(sid, ["out/plot.png"])[0].data
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert hashlib.sha256(png).hexdigest() == r.stdout.strip()


def test_no_network_and_no_writes_outside_the_workspace(
    sandbox: SandboxClient, sid: str, emulator_url: str
) -> None:
    port = int(emulator_url.rsplit(":", 1)[1].strip("/"))
    r = sandbox.run_cell(
        sid,
        "import socket\nresults = []\n"
        f"for host, port in [('1.1.1.1', 443), ('127.0.0.1', {port})]:\n"
        "    try:\n"
        "        socket.create_connection((host, port), timeout=2).close()\n"
        "        results.append('connected')\n"
        "    except OSError as e:\n"
        "        results.append(type(e).__name__)\n"
        "print(results)",
    )
    assert r.ok and "connected" not in r.stdout, r.stdout
    r = sandbox.run_cell(
        sid,
        "import os\nout = []\n"
        "home = os.path.expanduser('~/../bcx-test')\n"
        "for p in ['/etc/bcx-test', '/usr/bcx-test', home, '/bcx-test']:\n"
        "    try:\n"
        "        open(p, 'w').write('x')\n"
        "        out.append('wrote ' + p)\n"
        "    except OSError:\n"
        "        out.append('denied')\n"
        "print(out)",
    )
    assert r.ok and "wrote" not in r.stdout, r.stdout
    with pytest.raises(SandboxValidationError, match="outside the session workspace"):
        sandbox.write_files(sid, [SandboxFile("../../escape.txt", b"x")])


def test_background_command_poll_and_stop(sandbox: SandboxClient, sid: str) -> None:
    task = sandbox.start_command(sid, "echo started; sleep 0.3; echo finished")
    status = sandbox.get_task(sid, task)
    deadline = time.monotonic() + 10
    while not status.done and time.monotonic() < deadline:
        time.sleep(0.05)
        status = sandbox.get_task(sid, task)
    assert status.status == "completed" and status.exit_code == 0
    assert status.stdout == "started\nfinished\n"
    long = sandbox.start_command(sid, "sleep 60")
    assert not sandbox.get_task(sid, long).done
    sandbox.stop_task(sid, long)
    assert sandbox.get_task(sid, long).status == "canceled"
    sandbox.stop_task(sid, long)  # idempotent


def test_exception_events_are_typed_and_throttling_is_retried(
    sandbox: SandboxClient, sid: str, emulator_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    _admin(emulator_url, "/_emulator/faults", method="DELETE")
    _admin(
        emulator_url,
        "/_emulator/faults",
        {"exception": "throttlingException", "sessionId": sid, "count": 2},
    )
    with caplog.at_level("WARNING", logger="code_exec.sandbox"):
        r = sandbox.execute_code(sid, "print('after throttling')")
    assert r.stdout == "after throttling\n"
    assert sum("ThrottlingException" in m or "SandboxThrottled" in m for m in caplog.messages) == 2

    _admin(
        emulator_url,
        "/_emulator/faults",
        {"exception": "ThrottlingException", "sessionId": sid, "mode": "http", "count": 1},
    )
    assert sandbox.execute_code(sid, "print(1)").stdout == "1\n"

    few = SandboxClient(INTERPRETER, client=sandbox._client, max_attempts=2, backoff_base=0.01)
    _admin(
        emulator_url,
        "/_emulator/faults",
        {"exception": "throttlingException", "sessionId": sid, "count": 5},
    )
    with pytest.raises(SandboxThrottledError, match="Injected fault"):
        few.execute_code(sid, "print(1)")
    _admin(emulator_url, "/_emulator/faults", method="DELETE")

    _admin(
        emulator_url, "/_emulator/faults", {"exception": "accessDeniedException", "sessionId": sid}
    )
    with pytest.raises(SandboxAccessDeniedError, match="Injected fault"):
        sandbox.execute_code(sid, "print(1)")


def test_unknown_and_expired_sessions(sandbox: SandboxClient) -> None:
    with pytest.raises(SessionNotFoundError) as info:
        sandbox.execute_code("NOSUCHSESSION0000000000", "1")
    assert not isinstance(info.value, SessionExpiredError)
    session_id = sandbox.start_session(timeout_seconds=60)
    sandbox.stop_session(session_id)
    sandbox.stop_session(session_id)  # idempotent
    assert sandbox.session_status(session_id) == "TERMINATED"
    with pytest.raises(SessionExpiredError, match="expired"):
        sandbox.execute_code(session_id, "1")
    fresh = SandboxClient(INTERPRETER, client=sandbox._client)  # e.g. the next Lambda invocation
    with pytest.raises(SessionExpiredError, match="expired"):
        fresh.execute_code(session_id, "1")


def test_missing_task_in_a_live_session(sandbox: SandboxClient, sid: str) -> None:
    with pytest.raises(SandboxResourceNotFoundError, match="no-such-task"):
        sandbox.get_task(sid, "no-such-task")
    assert sandbox.run_cell(sid, "print('alive')").stdout == "alive\n"


def test_cell_runner_is_reinstalled_after_a_kernel_reset(sandbox: SandboxClient, sid: str) -> None:
    sandbox.run_cell(sid, "before_reset = 1")
    assert sandbox.execute_code(sid, "del __bcx_runner__").ok  # as after a kernel restart
    r = sandbox.run_cell(sid, "print(before_reset + 1)")
    assert r.stdout == "2\n", r.stderr
    assert sandbox.execute_code(sid, "x = 1", clear_context=True).ok
    r = sandbox.run_cell(sid, "import asyncio\nawait asyncio.sleep(0)\nprint('fresh')")
    assert r.stdout == "fresh\n", r.stderr


def test_a_failing_cell_is_never_run_twice(sandbox: SandboxClient, sid: str) -> None:
    """Whatever a failing cell prints or raises, the client must not take it for a missing
    runner and run it again."""
    assert sandbox.run_cell(sid, "runs = 0").ok
    spoof = "name '__bcx_runner__' is not defined"
    r = sandbox.run_cell(sid, f"runs += 1\nraise NameError({spoof!r})")
    assert r.is_error and "NameError" in r.stderr
    assert sandbox.run_cell(sid, "print(runs)").stdout == "1\n"


def test_a_session_whose_setup_fails_is_stopped(sandbox: SandboxClient, emulator_url: str) -> None:
    """start_session raising (here: installing the cell runner fails) leaks no session."""
    _admin(emulator_url, "/_emulator/faults", method="DELETE")
    before = _admin(emulator_url, "/_emulator/health", method="GET")["sessions"]
    _admin(emulator_url, "/_emulator/faults", {"exception": "internalServerException"})
    with pytest.raises(SandboxInternalError, match="Injected fault"):
        sandbox.start_session(name="setup-fails", timeout_seconds=60)
    assert _admin(emulator_url, "/_emulator/health", method="GET")["sessions"] == before


def test_control_operations_retry_on_throttling(sandbox: SandboxClient, emulator_url: str) -> None:
    _admin(emulator_url, "/_emulator/faults", method="DELETE")
    for operation in ("StartCodeInterpreterSession", "StopCodeInterpreterSession"):
        _admin(
            emulator_url,
            "/_emulator/faults",
            {
                "exception": "ThrottlingException",
                "mode": "http",
                "count": 2,
                "operation": operation,
            },
        )
    session_id = sandbox.start_session(name="throttled-start", timeout_seconds=60)
    assert sandbox.session_status(session_id) == "READY"
    sandbox.stop_session(session_id)
    assert sandbox.session_status(session_id) == "TERMINATED"
