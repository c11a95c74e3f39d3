"""Kernels forked by the zygote into bubblewrap's sandboxes (``zygote.py``, ``zygote_main.py``).

The reference is bubblewrap itself: a command (``executeCommand``) is a process bwrap starts
the plain way, so the kernel must have exactly its credentials, capabilities, limits, mounts
and namespaces' kinds, while its namespaces are none of the host's.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
from pathlib import Path

import pytest

pytestmark = pytest.mark.sandbox

_STATE = r"""
import json, os, resource, socket
status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines())
keys = ["Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb",
        "NoNewPrivs", "Seccomp"]
limits = {n: resource.getrlimit(getattr(resource, n)) for n in
          ["RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_FSIZE",
           "RLIMIT_CORE"]}
umask = os.umask(0o022); os.umask(umask)
print(json.dumps({
    "status": {k: status[k].split() for k in keys},
    "limits": limits,
    "umask": umask,
    "cwd": os.getcwd(),
    "root": sorted(os.listdir("/")),
    "hostname": socket.gethostname(),
    "cgroup": open("/proc/self/cgroup").read(),
    "env": {k: os.environ.get(k) for k in ["PATH", "HOME", "TMPDIR", "LANG", "USER"]},
}))
"""


def _kernel(invoke, session: str, code: str) -> str:
    return str(invoke(session, "executeCode", code=code)["structuredContent"]["stdout"])


def test_a_kernel_has_the_state_bubblewrap_gives_its_own_processes(new_session, invoke) -> None:
    session = new_session()
    forked = _kernel(invoke, session, "print(open('/proc/self/cmdline', 'rb').read())")
    assert "zygote_main.py" in forked  # this kernel did come from the zygote
    kernel = json.loads(_kernel(invoke, session, _STATE))
    command = invoke(session, "executeCommand", command=f"python3 -c {shlex.quote(_STATE)}")
    assert kernel == json.loads(command["structuredContent"]["stdout"])
    assert kernel["status"]["Uid"] == ["1000"] * 4
    assert kernel["status"]["CapBnd"] == ["0000000000000000"]
    assert kernel["status"]["NoNewPrivs"] == ["1"]


def test_the_emulators_own_modules_are_not_on_a_kernels_path(new_session, invoke) -> None:
    """Its kernel.py, tools.py, files.py would shadow same-named modules of sandboxed code."""
    emulator_dir = str(Path(__file__).resolve().parents[2] / "emulators" / "code_interpreter")
    path = json.loads(
        _kernel(invoke, new_session(), "import json, sys; print(json.dumps(sys.path))")
    )
    assert emulator_dir not in path and "" not in path, path


def test_a_kernel_is_in_none_of_the_hosts_namespaces(new_session, invoke) -> None:
    kinds = ["user", "mnt", "pid", "net", "ipc", "uts", "cgroup"]
    code = f"import os; print([os.readlink('/proc/self/ns/' + k) for k in {kinds!r}])"
    inside = _kernel(invoke, new_session(), code)
    for kind in kinds:
        assert os.readlink(f"/proc/self/ns/{kind}") not in inside, kind


def test_a_kernel_that_exits_is_noticed_and_replaced(new_session, invoke) -> None:
    """Its holder exits with it (the pipe only the kernel held closes)."""
    session = new_session()
    invoke(session, "executeCode", code="state = 1")
    res = invoke(session, "executeCode", code="import os; os._exit(3)")
    assert res["isError"] is True
    assert "The kernel died" in res["structuredContent"]["stderr"]
    after = _kernel(invoke, session, "print('state' in globals())")
    assert after == "False\n"  # a fresh kernel


def test_without_a_working_zygote_kernels_start_the_plain_way(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from emulators.code_interpreter import zygote
    from emulators.code_interpreter.backend import CodeInterpreterBackend
    from emulators.code_interpreter.config import EmulatorConfig

    broken = tmp_path / "zygote_main.py"
    broken.write_text("raise SystemExit(3)\n")
    monkeypatch.setattr(zygote, "_ZYGOTE_MAIN", broken)
    config = EmulatorConfig(warm_pool=0, cell_timeout=20)  # its own short state dir: IPC paths
    backend = CodeInterpreterBackend(config)
    try:
        with caplog.at_level(logging.WARNING, logger="emulators.code_interpreter.kernel"):
            session = backend.start_session("aws.codeinterpreter.v1")
            code = "print(open('/proc/self/cmdline', 'rb').read().split(b'\\0')[:2])"
            res = backend.invoke(session, "executeCode", {"code": code})
        assert res["structuredContent"]["stdout"] == "[b'python', b'-c']\n"
        assert "starting the kernel directly" in caplog.text
    finally:
        backend.shutdown()
