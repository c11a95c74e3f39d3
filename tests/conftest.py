"""Shared fixtures. The code-interpreter emulator runs once per test session.

Dummy AWS credentials are set for the whole test session (at import time, before any
test module builds a client) so no test can ever reach a real AWS account.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

_DUMMY_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
os.environ.update(_DUMMY_AWS)
for _var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(_var, None)
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull

ROOT = Path(__file__).resolve().parents[1]
EMULATOR_CELL_TIMEOUT = 5.0  # seconds; tests of the per-cell limit rely on it
EMULATOR_START_TIMEOUT = 30.0


def _die_with_parent() -> None:
    """SIGTERM the emulator (which then stops its sandboxes) if pytest dies abruptly."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@pytest.fixture(scope="session")
def emulator_url() -> Iterator[str]:
    """URL of a code-interpreter emulator started once for the test session.

    Skips (with the reason) where bubblewrap cannot create sandboxes.
    """
    from emulators.code_interpreter.sandbox import bwrap_problem

    problem = bwrap_problem()
    if problem:
        pytest.skip(f"code-interpreter emulator unavailable: {problem}")
    env = {
        **os.environ,
        "CODE_INTERPRETER_EMULATOR_CELL_TIMEOUT": str(EMULATOR_CELL_TIMEOUT),
        "CODE_INTERPRETER_EMULATOR_INTERRUPT_GRACE": "3",
        "CODE_INTERPRETER_EMULATOR_MAX_SESSIONS": "64",
        "CODE_INTERPRETER_EMULATOR_WARM_POOL": "2",
        "CODE_INTERPRETER_EMULATOR_WORKSPACE_MB": "128",
        "CODE_INTERPRETER_EMULATOR_MEMORY_MB": "2048",
        "CODE_INTERPRETER_EMULATOR_MAX_PROCESSES": "64",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulators.code_interpreter", "--port", "0"],
        preexec_fn=_die_with_parent,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=None,  # the emulator's log goes to pytest's captured stderr
        text=True,
    )
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(EMULATOR_START_TIMEOUT)
    url = line[0].strip() if line else ""
    if not url.startswith("http"):
        proc.kill()
        pytest.fail(f"code-interpreter emulator did not start (exit code {proc.poll()})")
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def agentcore_env(emulator_url: str) -> dict[str, str]:
    """Environment variables that point boto3's bedrock-agentcore client at the emulator."""
    return {
        "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE": emulator_url,
        "AWS_ACCESS_KEY_ID": _DUMMY_AWS["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": _DUMMY_AWS["AWS_SECRET_ACCESS_KEY"],
        "AWS_DEFAULT_REGION": "us-east-1",
    }


@pytest.fixture(scope="session")
def agentcore_client(emulator_url: str):  # -> botocore client for "bedrock-agentcore"
    """A real boto3 bedrock-agentcore client pointed at the emulator."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "bedrock-agentcore",
        endpoint_url=emulator_url,
        region_name="us-east-1",
        aws_access_key_id=_DUMMY_AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=_DUMMY_AWS["AWS_SECRET_ACCESS_KEY"],
        config=Config(read_timeout=120, retries={"mode": "standard", "total_max_attempts": 1}),
    )
