"""The kernel zygote: imports ipykernel once, then forks each session's kernel into its sandbox.

Runs on the HOST, as the emulator's child (``zygote.py`` starts it and talks to it over a
``SOCK_SEQPACKET`` socket: one JSON request with two file descriptors, one JSON reply). A
kernel started from scratch spends ~0.3 s of its ~0.36 s of CPU importing ipykernel, IPython,
zmq and tornado; a fork of this process has them already.

bubblewrap still builds every sandbox: the emulator starts a *holder* in a fresh ``bwrap``
(its own user, mount, PID, network, IPC, UTS and cgroup namespaces, the session's binds, no
capabilities) and sends its host pid here. The forked child then takes exactly the state
bubblewrap gives the processes it starts itself (``nsenter`` does the same):

- joins the session's cgroups (host paths, before leaving the host's mount namespace);
- a new session (``--new-session``), no supplementary groups;
- the holder's cgroup, IPC, UTS, network, PID and mount namespaces, then its user namespace
  (joining it grants a full capability set there, so the bounding set is emptied after);
- uid/gid 1000, ``no_new_privs``, and every capability set emptied (and checked empty);
- forks once more, so the kernel lives in the sandbox's PID namespace (its reaper is the
  sandbox's init, and it dies with the sandbox);
- the kernel applies ``sandbox_entry.py``'s rlimits and umask and the sandbox environment.

Standalone on purpose (stdlib and the kernel's own imports only): whatever this process
imports, every kernel sees in ``sys.modules``.
"""

# zygote.py runs this file with ``python -P``: its directory (the emulator's own modules:
# kernel.py, tools.py, files.py, ...) is not put on sys.path, where it would head every forked
# kernel's path and shadow same-named imports of sandboxed code.
import ctypes
import importlib.util
import json
import os
import resource
import signal
import socket
import sys
import threading

# What kernel._KERNEL_MAIN imports (the debugger without debugpy), plus what a kernel imports
# on its way to ready and through its first cell (IPython imports some of it lazily: the
# inspector, the logger, importlib's resource readers), so no kernel imports anything after
# the fork (about 18 ms of each kernel's ~100 ms of CPU to its first result).
sys.modules["debugpy"] = None  # type: ignore[assignment]
import ipykernel.debugger  # noqa: E402,F401

del sys.modules["debugpy"]
import faulthandler  # noqa: E402,F401
import importlib.readers  # noqa: E402
import importlib.resources.readers  # noqa: E402
import unicodedata  # noqa: E402,F401

import IPython.core.completerlib  # noqa: E402
import IPython.core.debugger  # noqa: E402
import IPython.core.logger  # noqa: E402
import IPython.core.oinspect  # noqa: E402
import IPython.extensions.storemagic  # noqa: E402
import IPython.utils.wildcard  # noqa: E402,F401
import tornado.platform.asyncio  # noqa: E402,F401
from ipykernel.kernelapp import launch_new_instance  # noqa: E402

_LIBC = ctypes.CDLL(None, use_errno=True)
# Joined in this order: everything but the user namespace while we are still host root (the
# cgroup namespace may be owned by the host's user namespace), the user namespace last.
_NAMESPACES = (
    ("cgroup", 0x02000000),
    ("ipc", 0x08000000),
    ("uts", 0x04000000),
    ("net", 0x40000000),
    ("pid", 0x20000000),
    ("mnt", 0x00020000),
    ("user", 0x10000000),
)
_PR_SET_PDEATHSIG = 1
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def _load_sandbox_entry():  # type: ignore[no-untyped-def]
    """``sandbox_entry.py``, by path: its ``apply_limits`` is the one rule for every sandboxed
    process (not put in ``sys.modules``, which every kernel sees)."""
    spec = importlib.util.spec_from_file_location(
        "_sandbox_entry",
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "sandbox_entry.py"),
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_SANDBOX_ENTRY = _load_sandbox_entry()


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _prctl(option: int, arg: int) -> None:
    _check(_LIBC.prctl(option, ctypes.c_ulong(arg), 0, 0, 0), f"prctl({option}, {arg})")


def _close_all_but(keep: set[int]) -> None:
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, resource.getrlimit(resource.RLIMIT_NOFILE)[0])


def _enter(req: dict) -> None:
    """In the forked child: become a process of the holder's sandbox (see the module doc)."""
    target = int(req["holder_pid"])
    for cgroup in req["cgroups"]:
        with open(os.path.join(cgroup, "cgroup.procs"), "w") as fh:
            fh.write(str(os.getpid()))
    namespaces = [(os.open(f"/proc/{target}/ns/{n}", os.O_RDONLY), n, f) for n, f in _NAMESPACES]
    with open("/proc/sys/kernel/cap_last_cap") as fh:
        last_cap = int(fh.read())
    os.setsid()
    os.setgroups([])
    for fd, name, flag in namespaces:
        _check(_LIBC.setns(fd, flag), f"setns({name})")
        os.close(fd)
    for cap in range(last_cap + 1):
        _prctl(_PR_CAPBSET_DROP, cap)
    os.chdir(req["cwd"])
    os.setresgid(req["gid"], req["gid"], req["gid"])
    os.setresuid(req["uid"], req["uid"], req["uid"])
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    _drop_capabilities()


def _drop_capabilities() -> None:
    """Empty every capability set.

    Needed explicitly: the host's root is the sandbox's uid 1000 (bubblewrap's uid map), so
    the ``setresuid`` above changes no uid and clears nothing, and no ``execve`` follows.
    """
    _prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL)
    header = (ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable: twice 32 bits each
    _check(_LIBC.capset(header, data), "capset")


def _check_no_capabilities() -> None:
    """Refuse to go on unless the kernel says every capability set is empty (in the PID
    namespace: the sandbox's ``/proc`` shows only its own processes)."""
    with open("/proc/self/status") as fh:
        status = dict(line.split(":", 1) for line in fh.read().splitlines())
    held = {k: status[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}
    if any(int(v, 16) for v in held.values()):
        raise PermissionError(f"capabilities left after dropping them: {held}")


def _run_kernel(req: dict, log_fd: int, keepalive_fd: int) -> None:
    """In the sandbox: the limits, environment and argv of a kernel; then run it."""
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(devnull)
    os.close(log_fd)
    os.set_inheritable(keepalive_fd, False)  # the holder exits when the kernel does
    _SANDBOX_ENTRY.apply_limits(req["limits"])
    os.environ.clear()
    os.environ.update(req["env"])
    sys.argv = ["-c", *req["argv"]]
    launch_new_instance()


def _become_kernel(req: dict, log_fd: int, keepalive_fd: int, report: int) -> None:
    """In the forked child: enter the sandbox, fork the kernel into its PID namespace, report
    the kernel's host pid (or why not) on ``report``."""
    _enter(req)
    check_read, check_write = os.pipe()
    kernel = os.fork()
    if kernel == 0:
        os.close(check_read)
        os.close(report)
        try:
            _check_no_capabilities()
        except BaseException as e:
            os.write(check_write, f"{type(e).__name__}: {e}".encode())
            os._exit(1)
        os.close(check_write)
        try:
            _run_kernel(req, log_fd, keepalive_fd)
        finally:
            os._exit(0)
    os.close(check_write)
    problem = _read_all(check_read)
    reply = {"error": problem.decode(errors="replace")} if problem else {"pid": kernel}
    os.write(report, json.dumps(reply).encode())


def _spawn(req: dict, fds: list[int], conn: socket.socket) -> dict:
    """Fork the kernel into the holder's sandbox; its host pid, or why not."""
    log_fd, keepalive_fd = fds
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            conn.close()
            os.close(read_end)
            _close_all_but({log_fd, keepalive_fd, write_end})
            _become_kernel(req, log_fd, keepalive_fd, write_end)
        except BaseException as e:  # reported to the emulator, never raised past the fork
            os.write(write_end, json.dumps({"error": f"{type(e).__name__}: {e}"}).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    for fd in fds:
        os.close(fd)
    reply = _read_all(read_end)
    os.waitpid(child, 0)
    try:
        result: dict = json.loads(reply or b'{"error": "the child exited without a word"}')
    except ValueError:
        return {"error": f"the child's report is not JSON: {reply[:200]!r}"}
    return result


def _read_all(fd: int) -> bytes:
    """Everything written to the pipe ``fd`` until its writers close it (then closes it)."""
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def main() -> None:
    """Serve spawn requests until the emulator closes the socket (or dies)."""
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if threading.active_count() != 1:  # a fork would copy a lock some thread holds
        raise SystemExit("the kernel zygote must be single-threaded")
    conn = socket.socket(fileno=int(sys.argv[1]))
    while True:
        msg, fds, _flags, _addr = socket.recv_fds(conn, 1 << 20, 2)
        if not msg:
            return
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            conn.send(json.dumps({"error": "expected 2 descriptors"}).encode())
            continue
        conn.send(json.dumps(_spawn(json.loads(msg), fds, conn)).encode())


if __name__ == "__main__":
    main()
