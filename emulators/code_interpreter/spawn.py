"""Start the emulator as a subprocess (host side) and read its URL: for tests, scripts, benches.

    with start_emulator(cell_timeout=5) as emulator:
        client = emulator.client()          # boto3 bedrock-agentcore, dummy credentials
        ...

``start_emulator`` runs ``python -m emulators.code_interpreter --port 0`` (each keyword
setting becomes its ``CODE_INTERPRETER_EMULATOR_<NAME>`` variable) and reads the URL the
emulator prints on its first line. :func:`read_first_line` and :func:`stop_process` serve
any local server started the same way; :func:`free_port` picks a port for one that cannot
pick its own.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from .config import ENV_PREFIX

__all__ = [
    "ROOT",
    "EmulatorStartError",
    "RunningEmulator",
    "agentcore_client",
    "free_port",
    "read_first_line",
    "start_emulator",
    "stop_process",
]

ROOT = Path(__file__).resolve().parents[2]  # the repository (emulators/ is importable from it)
_SESSION_HEADER = "x-amzn-code-interpreter-session-id"  # InvokeCodeInterpreter's sessionId
_PACE_MARGIN = 0.85
DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class EmulatorStartError(RuntimeError):
    """The emulator exited or printed no URL in time."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (for a server that cannot pick its own)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def read_first_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The first line ``proc`` prints on stdout, stripped ("" if none within ``timeout``)."""
    line: list[str] = []
    out: IO[str] | None = proc.stdout
    if out is None:
        return ""
    reader = threading.Thread(target=lambda: line.append(out.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return line[0].strip() if line else ""


def stop_process(proc: subprocess.Popen[str], timeout: float = 20.0) -> None:
    """SIGTERM ``proc`` (the emulator then stops its sandboxes); kill it after ``timeout``."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def agentcore_client(
    url: str, config: Any = None, *, pace_per_session: float = 0.0, pace_per_account: float = 0.0
) -> Any:
    """A real boto3 ``bedrock-agentcore`` client for the emulator at ``url`` (dummy credentials).

    Args:
        url: The emulator's endpoint URL.
        config: A ``botocore.config.Config`` (timeouts, retries); botocore's default if None.
        pace_per_session: When > 0, the client sends at most this many
            ``InvokeCodeInterpreter`` requests a second per session, waiting before a
            request instead (a client that keeps under the service's rate, so a test with
            retries off never meets throttling it did not ask for).
        pace_per_account: The same for all the client's requests.
    """
    import boto3

    from .traffic import RateLimiter

    client = boto3.client(
        "bedrock-agentcore",
        endpoint_url=url,
        region_name="us-east-1",
        config=config,
        **DUMMY_CREDENTIALS,
    )
    if pace_per_session > 0 or pace_per_account > 0:
        # a margin under the rates: requests reach the server with jitter, closer together
        # than they left
        sessions = RateLimiter(pace_per_session * _PACE_MARGIN)
        account = RateLimiter(pace_per_account * _PACE_MARGIN)

        def pace(request: Any, **_: Any) -> None:
            account.wait("")
            sessions.wait(str(request.headers.get(_SESSION_HEADER, "")))

        client.meta.events.register("before-send.bedrock-agentcore.InvokeCodeInterpreter", pace)
    return client


class RunningEmulator:
    """An emulator subprocess: its ``url``, a client for it, and ``stop()`` (or ``with``)."""

    def __init__(self, proc: subprocess.Popen[str], url: str) -> None:
        self.process = proc
        self.url = url

    def client(self, config: Any = None) -> Any:
        """A boto3 ``bedrock-agentcore`` client pointed at this emulator."""
        return agentcore_client(self.url, config)

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the emulator and its sandboxes (killed after ``timeout`` seconds)."""
        stop_process(self.process, timeout)

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _die_with_parent() -> None:
    """SIGTERM the emulator (which then stops its sandboxes) if its parent dies abruptly."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def start_emulator(
    *,
    start_timeout: float = 30.0,
    die_with_parent: bool = False,
    stderr: int | None = None,
    **settings: object,
) -> RunningEmulator:
    """Start ``python -m emulators.code_interpreter --port <port>`` and wait for its URL.

    Args:
        start_timeout: Seconds to wait for the URL line.
        die_with_parent: SIGTERM the emulator when this process dies (Linux), e.g. under pytest.
        stderr: Where the emulator's log goes (``subprocess`` convention; None: inherited).
        **settings: Emulator settings by field name (``cell_timeout=5``, ``log_level="WARNING"``),
            passed as ``CODE_INTERPRETER_EMULATOR_<NAME>`` over the current environment;
            ``port`` (default 0: any free port) is passed as ``--port``, so an emulator can
            be restarted at the same URL.

    Raises:
        EmulatorStartError: The emulator printed no URL within ``start_timeout``.
    """
    port = str(settings.pop("port", 0))
    env = {
        **os.environ,
        **{ENV_PREFIX + name.upper(): str(value) for name, value in settings.items()},
    }
    preexec: Callable[[], None] | None = _die_with_parent if die_with_parent else None
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulators.code_interpreter", "--port", port],
        preexec_fn=preexec,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    url = read_first_line(proc, start_timeout)
    if not url.startswith("http"):
        code = proc.poll()
        proc.kill()
        proc.wait()
        raise EmulatorStartError(f"code-interpreter emulator did not start (exit code {code})")
    return RunningEmulator(proc, url)
