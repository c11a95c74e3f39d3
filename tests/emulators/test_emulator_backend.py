"""The backend in-process (no HTTP): unisolated mode, refusing to run without bwrap, config."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

import pytest

from emulators.code_interpreter import backend as backend_module
from emulators.code_interpreter.backend import CodeInterpreterBackend
from emulators.code_interpreter.config import ConfigError, EmulatorConfig


def test_refuses_to_start_without_bwrap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(backend_module, "bwrap_problem", lambda: "bwrap is not installed")
    with pytest.raises(RuntimeError, match="UNISOLATED"):
        CodeInterpreterBackend(EmulatorConfig(state_dir=str(tmp_path)))


def test_unisolated_mode_runs_code_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    # the warning must be seen whatever level an earlier test left the root logger at
    caplog.set_level(logging.WARNING, logger="emulators.code_interpreter.backend")
    # A short state directory: the kernel's IPC sockets live under it, and a Unix socket path
    # is at most 107 bytes (pytest's tmp_path under an xdist worker is longer than that).
    state = Path(tempfile.mkdtemp(prefix="emu-", dir="/tmp"))
    config = EmulatorConfig(unisolated=True, cell_timeout=10, state_dir=str(state))
    backend = CodeInterpreterBackend(config)
    try:
        session = backend.start_session("aws.codeinterpreter.v1")
        assert "UNISOLATED" in caplog.text
        res = backend.invoke(session, "executeCode", {"code": "import os\nprint(os.getcwd())"})
        assert res["structuredContent"]["stdout"].strip() == str(session.sandbox.workspace)
        backend.invoke(session, "writeFiles", {"content": [{"path": "a.txt", "text": "hi"}]})
        res = backend.invoke(session, "executeCommand", {"command": "cat a.txt"})
        assert res["structuredContent"]["stdout"] == "hi"
    finally:
        backend.shutdown()
        shutil.rmtree(state, ignore_errors=True)


def test_config_resolution_order() -> None:
    env = {"CODE_INTERPRETER_EMULATOR_CELL_TIMEOUT": "7", "CODE_INTERPRETER_EMULATOR_PORT": "9"}
    assert EmulatorConfig.from_env(env).cell_timeout == 7.0
    assert EmulatorConfig.from_env(env, cell_timeout=3.0).cell_timeout == 3.0
    assert EmulatorConfig.from_env({}).cell_timeout == 300.0
    with pytest.raises(ConfigError, match="CODE_INTERPRETER_EMULATOR_CELL_TIMEOUT"):
        EmulatorConfig.from_env({"CODE_INTERPRETER_EMULATOR_CELL_TIMEOUT": "soon"})
    with pytest.raises(ConfigError, match="UNISOLATED"):
        EmulatorConfig.from_env({"CODE_INTERPRETER_EMULATOR_UNISOLATED": "maybe"})


@pytest.mark.sandbox
def test_without_a_quota_mount(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Where the emulator may not mount (not root): /tmp is a per-process size-limited
    tmpfs and the workspace quota is checked by writeFiles."""
    from emulators.code_interpreter.exceptions import ValidationException
    from emulators.code_interpreter.sandbox import Sandbox

    monkeypatch.setattr(Sandbox, "_mount_tmpfs", lambda self: False)
    config = EmulatorConfig(workspace_mb=1, warm_pool=0, cell_timeout=20, state_dir=str(tmp_path))
    backend = CodeInterpreterBackend(config)
    try:
        session = backend.start_session("aws.codeinterpreter.v1")
        assert session.sandbox.quota_mounted is False
        big = {"content": [{"path": "big.txt", "text": "x" * 2 * 1024 * 1024}]}
        with pytest.raises(ValidationException, match="quota"):
            backend.invoke(session, "writeFiles", big)
        code = (
            "try:\n    open('/tmp/big', 'wb').write(b'x' * 2 * 1024 * 1024)\n    print('wrote')\n"
            "except OSError as e:\n    print('full', e.errno)"
        )
        res = backend.invoke(session, "executeCode", {"code": code})
        assert res["structuredContent"]["stdout"] == "full 28\n"
    finally:
        backend.shutdown()
