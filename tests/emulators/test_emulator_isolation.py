"""The sandbox: no network, read-only system, only the workspace and /tmp writable."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import EventStreamError

from tests.plugin_sandbox import require

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]


def test_no_network_from_code(shared_session, invoke, emulator_url: str) -> None:
    # The emulator's own port is a listener the host can certainly reach (an address on
    # the internet may be unreachable offline anyway): from the sandbox it must not be.
    for host, port in [("127.0.0.1", urlsplit(emulator_url).port), ("1.1.1.1", 53)]:
        code = (
            f"import socket\ntry:\n    socket.create_connection(({host!r}, {port}), timeout=3)\n"
            "    print('connected')\nexcept OSError as e:\n    print('blocked', e.errno)"
        )
        assert invoke(shared_session, "executeCode", code=code)["structuredContent"][
            "stdout"
        ].startswith("blocked"), (host, port)


def test_no_network_from_commands(shared_session, invoke) -> None:
    res = invoke(
        shared_session, "executeCommand", command="cat /proc/net/dev | tail -n +3 | cut -d: -f1"
    )
    assert res["structuredContent"]["stdout"].split() == ["lo"]


@pytest.mark.parametrize("path", ["/usr/evil", "/etc/evil", "/evil", "/root/evil", "/bin/evil"])
def test_cannot_write_outside_workspace(shared_session, invoke, path: str) -> None:
    code = (
        f"try:\n    open({path!r}, 'w').write('x')\n    print('wrote')\n"
        "except OSError as e:\n    print('denied')"
    )
    assert (
        invoke(shared_session, "executeCode", code=code)["structuredContent"]["stdout"]
        == "denied\n"
    )
    assert not Path(path).exists()


def test_workspace_and_tmp_are_writable(shared_session, invoke) -> None:
    code = "open('/tmp/t','w').write('1'); open('/workspace/w','w').write('2'); print('ok')"
    assert invoke(shared_session, "executeCode", code=code)["structuredContent"]["stdout"] == "ok\n"


def test_host_files_are_invisible(shared_session, invoke, emulator_admin) -> None:
    """Paths that exist on the host (the repository, the emulator's session state)."""
    state = emulator_admin(f"/_emulator/sessions/{shared_session}", method="GET")["hostRoot"]
    host_paths = [str(ROOT / "lambda"), state]
    assert all(Path(p).exists() for p in host_paths)
    code = f"import os; print([os.path.exists(p) for p in {host_paths!r}])"
    assert (
        invoke(shared_session, "executeCode", code=code)["structuredContent"]["stdout"]
        == "[False, False]\n"
    )


def test_host_environment_does_not_leak(shared_session, invoke) -> None:
    code = "import os; print(sorted(k for k in os.environ if k.startswith('AWS') or 'JPY' in k))"
    assert invoke(shared_session, "executeCode", code=code)["structuredContent"]["stdout"] == "[]\n"


def test_runs_unprivileged(shared_session, invoke) -> None:
    res = invoke(shared_session, "executeCommand", command="id -u; grep CapEff /proc/self/status")
    uid, capeff = res["structuredContent"]["stdout"].splitlines()
    assert uid == "1000"
    assert capeff.split()[1] == "0000000000000000"


def test_file_tools_cannot_escape_the_workspace(stream_events, shared_session, invoke) -> None:
    for path in ["/etc/passwd", "../../../etc/passwd", "/usr/bin/env", "a/../../x"]:
        with pytest.raises(EventStreamError) as e:
            stream_events(shared_session, "readFiles", paths=[path])
        assert e.value.response["Error"]["Code"] == "validationException"
    with pytest.raises(EventStreamError) as e:
        stream_events(shared_session, "writeFiles", content=[{"path": "/etc/x", "text": "x"}])
    assert e.value.response["Error"]["Code"] == "validationException"
    assert "outside the session workspace" in e.value.response["Error"]["Message"]


def test_file_tools_never_follow_symlinks(shared_session, invoke, emulator_admin) -> None:
    """Links planted by sandboxed code resolve on the host: they must not be followed."""
    host_root = emulator_admin(f"/_emulator/sessions/{shared_session}", method="GET")["hostRoot"]
    code = (
        "import os\nos.symlink('/etc/hostname', 'flink')\nos.symlink('/etc', 'dlink')\n"
        f"os.symlink({host_root!r}, 'hostlink')"
    )
    invoke(shared_session, "executeCode", code=code)
    for path in ["flink", "dlink/hostname", "hostlink/run/passwd"]:
        res = invoke(shared_session, "readFiles", paths=[path])
        assert res["isError"] is True, path
    res = invoke(shared_session, "writeFiles", content=[{"path": "dlink/evil", "text": "x"}])
    assert res["isError"] is True
    assert not Path("/etc/evil").exists()
    res = invoke(shared_session, "writeFiles", content=[{"path": "flink", "text": "x"}])
    assert res["isError"] is True
    assert invoke(shared_session, "listFiles", directoryPath="dlink")["isError"] is True
    # removing a link removes the link, not its target
    assert invoke(shared_session, "removeFiles", paths=["dlink", "flink"])["isError"] is False
    assert Path("/etc/hostname").exists()


def test_file_tools_never_block_on_a_fifo(shared_session, agentcore_client_for) -> None:
    """A FIFO planted by sandboxed code must not hang the emulator's file tools."""
    from botocore.config import Config

    client = agentcore_client_for(
        Config(read_timeout=15, retries={"mode": "standard", "total_max_attempts": 1})
    )

    def call(name: str, **arguments: object) -> dict:
        resp = client.invoke_code_interpreter(
            codeInterpreterIdentifier="aws.codeinterpreter.v1",
            sessionId=shared_session,
            name=name,
            arguments=arguments,
        )
        return next(iter(resp["stream"]))["result"]

    call("executeCode", code="import os\nos.mkfifo('fifo')")
    try:
        assert call("readFiles", paths=["fifo"])["isError"] is True
        assert call("writeFiles", content=[{"path": "fifo", "text": "x"}])["isError"] is True
    finally:
        call("removeFiles", paths=["fifo"])


def test_memory_limit(shared_session, invoke) -> None:
    code = (
        "try:\n    b = bytearray(8 * 1024**3)\n    print('allocated')\n"
        "except MemoryError:\n    print('limited')"
    )
    assert (
        invoke(shared_session, "executeCode", code=code)["structuredContent"]["stdout"]
        == "limited\n"
    )


def test_workspace_quota(emulator_admin, emulator_url: str, new_session, invoke) -> None:
    sid = new_session()
    info = emulator_admin(f"/_emulator/sessions/{sid}", method="GET")
    if not info["quotaMounted"]:  # as root, the emulator mounts one tmpfs per session
        require("the emulator could not mount the session's size-limited tmpfs (needs root)")
    code = (
        "try:\n    with open('big', 'wb') as f:\n        for _ in range(200):\n"
        "            f.write(b'x' * 1024 * 1024)\n    print('wrote')\nexcept OSError as e:\n"
        "    print('full', e.errno)"
    )
    assert invoke(sid, "executeCode", code=code)["structuredContent"]["stdout"] == "full 28\n"


def test_process_limit(emulator_admin, emulator_url: str, new_session, invoke) -> None:
    sid = new_session()
    info = emulator_admin(f"/_emulator/sessions/{sid}", method="GET")
    if not any("pids" in c for c in info["cgroups"]):
        require("the emulator could not create a pids cgroup for the session")
    res = invoke(sid, "executeCommand", command="for i in $(seq 100); do sleep 1 & done; wait")
    assert "Resource temporarily unavailable" in res["structuredContent"]["stderr"] or (
        "fork" in res["structuredContent"]["stderr"]
    )


def test_a_python_prefix_under_tmp_is_mounted_after_tmp(tmp_path, monkeypatch) -> None:
    """A virtualenv under /tmp (a fresh clone there) must stay visible in the sandbox.

    bwrap applies mounts in order: were /tmp mounted after the prefix, it would hide the
    interpreter and every kernel would fail to start.
    """
    import sys

    from emulators.code_interpreter.config import EmulatorConfig
    from emulators.code_interpreter.sandbox import Sandbox

    monkeypatch.setattr(sys, "prefix", "/tmp/clone/.venv")
    args = Sandbox("s-1", EmulatorConfig.from_env({}), tmp_path)._bwrap_args()
    tmp_mount = next(i for i, a in enumerate(args) if a == "/tmp" and args[i - 2] != "--ro-bind")
    prefix_mount = args.index("/tmp/clone/.venv")
    assert tmp_mount < prefix_mount
