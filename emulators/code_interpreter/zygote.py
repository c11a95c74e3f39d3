"""Host side of the kernel zygote (``zygote_main.py``): start it, and launch kernels with it.

A kernel launched through the zygote costs a fork and the kernel's own start-up instead of a
fresh interpreter importing ipykernel (~0.3 s of CPU each; a test run starts hundreds). The
sandbox is the same: bubblewrap builds it around a *holder* (``cat`` reading a pipe that only
the kernel holds open), and the zygote's child joins it as every bwrap process would. So:

- the holder is the process the emulator tracks: it exits when the kernel does (the pipe
  closes), and killing it tears down the sandbox's PID namespace, kernel included;
- a kernel the zygote cannot launch is reported (:class:`ZygoteError`); the caller then starts
  one the plain way, so a host where joining namespaces is refused still works.
"""

from __future__ import annotations

import json
import logging
import os
import select
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

from .sandbox import SANDBOX_UID, Sandbox, run_on_spawner

__all__ = ["KernelZygote", "ZygoteError"]

log = logging.getLogger(__name__)

_ZYGOTE_MAIN = Path(__file__).with_name("zygote_main.py")
_HOLDER = ["/bin/sh", "-c", "echo ready && exec cat"]  # says the sandbox is built, then holds
_READY_TIMEOUT = 30.0


class ZygoteError(RuntimeError):
    """The zygote could not launch this kernel (the caller starts it the plain way)."""


class KernelZygote:
    """One zygote process per emulator, started on first use, serving one request at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: socket.socket | None = None
        self._closed = False

    def launch(self, sandbox: Sandbox, argv: list[str], log_file: IO[bytes]) -> Any:
        """Start the kernel ``python -c <main> *argv`` in ``sandbox``; return its holder."""
        holder, holder_pid, keepalive = _start_holder(sandbox)
        env = sandbox.env()
        request = {
            "holder_pid": holder_pid,
            "argv": argv,
            "env": env,
            "cwd": sandbox.config.sandbox_workdir,
            "uid": SANDBOX_UID,
            "gid": SANDBOX_UID,
            "limits": sandbox.limits(),
            "cgroups": [str(cg) for cg in sandbox.cgroups],
        }
        try:
            reply = self._request(request, [log_file.fileno(), keepalive], env)
        finally:
            os.close(keepalive)  # the kernel holds the only other copy
        if "error" in reply:
            holder.kill()
            raise ZygoteError(reply["error"])
        return holder

    def close(self) -> None:
        """Stop the zygote (kernels it launched live on in their sandboxes)."""
        with self._lock:
            self._closed = True
            self._forget()

    def _request(self, req: dict[str, Any], fds: list[int], env: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            if self._closed:
                raise ZygoteError("the zygote is stopped")
            conn = self._connection(env)
            try:
                socket.send_fds(conn, [json.dumps(req).encode()], fds)
                reply = conn.recv(1 << 16)
            except OSError as e:
                self._forget()
                raise ZygoteError(f"the zygote is gone: {e}") from e
            if not reply:
                self._forget()
                raise ZygoteError("the zygote exited")
        result: dict[str, Any] = json.loads(reply)
        return result

    def _forget(self) -> None:
        """Drop a zygote that is gone or broken (the next request starts a new one)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(timeout=10)
            self._proc = None

    def _connection(self, env: dict[str, str]) -> socket.socket:
        if self._conn is not None and self._proc is not None and self._proc.poll() is None:
            return self._conn
        self._forget()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)

        def _spawn() -> subprocess.Popen[bytes]:
            # -P: the script's directory stays off sys.path (zygote_main.py says why)
            return subprocess.Popen(
                [sys.executable, "-P", str(_ZYGOTE_MAIN), str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                env=env,
                cwd="/",
            )

        try:
            self._proc = run_on_spawner(_spawn)  # its parent-death signal needs a lasting thread
        finally:
            theirs.close()
        self._conn = ours
        log.info("kernel zygote started (pid %s)", self._proc.pid)
        return ours


def _start_holder(sandbox: Sandbox) -> tuple[Any, int, int]:
    """A fresh sandbox that holds on until the kernel's end of a pipe closes.

    Returns the holder, the host pid of a process inside the sandbox (bwrap's ``child-pid``)
    and the pipe's write end for the kernel.
    """
    info_read, info_write = os.pipe()
    keep_read, keepalive = os.pipe()
    try:
        holder = sandbox.popen(_HOLDER, stdin=keep_read, stdout=subprocess.PIPE, info_fd=info_write)
    except BaseException:
        for fd in (info_read, keepalive):
            os.close(fd)
        raise
    finally:
        os.close(keep_read)
        os.close(info_write)
    with os.fdopen(info_read, "rb") as info_pipe:
        info = info_pipe.read()  # bubblewrap closes it once written (or on failing)
    assert holder.stdout is not None
    with holder.stdout:
        readable, _, _ = select.select([holder.stdout], [], [], _READY_TIMEOUT)
        ready = os.read(holder.stdout.fileno(), 64) if readable else b""
    if ready != b"ready\n":
        os.close(keepalive)
        holder.kill()
        raise ZygoteError(f"the sandbox did not come up (bwrap said {info!r}, holder {ready!r})")
    return holder, int(json.loads(info)["child-pid"]), keepalive
