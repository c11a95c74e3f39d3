"""A persistent ipykernel inside a session's sandbox, driven over the IPC transport.

The kernel listens on ZeroMQ ``ipc://`` sockets in the session's run directory (bound
into the sandbox, so no network namespace is needed). Interrupts are sent as
``interrupt_request`` messages on the control channel (Jupyter's ``interrupt_mode:
message``); a kernel that does not go idle within the grace period is restarted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import re
import secrets
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.blocking.client import BlockingKernelClient

from .sandbox import Sandbox
from .zygote import KernelZygote, ZygoteError

__all__ = ["CellOutcome", "Kernel", "KernelError"]

log = logging.getLogger(__name__)

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_PORTS = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
_READY_TIMEOUT = 60.0
MAX_OUTPUT_CHARS = 10_000_000  # per stream and cell; the rest is dropped with a note


# What ``python -m ipykernel_launcher`` runs, without the debugger: the service offers no
# debugging, and importing debugpy was ~0.15 s of the ~0.65 s of CPU each kernel start costs
# (hundreds of starts in a test run).
_KERNEL_MAIN = """\
import sys
sys.modules["debugpy"] = None  # its import fails: ipykernel reads "debugpy not installed"
import ipykernel.debugger
del sys.modules["debugpy"]  # code in the sandbox can still import it
if sys.path[:1] == [""]:  # as the launcher does: the workspace does not shadow packages
    del sys.path[0]
from ipykernel.kernelapp import launch_new_instance
launch_new_instance()
"""


class KernelError(RuntimeError):
    """The kernel could not be started or died."""


@dataclass
class CellOutcome:
    """Everything one executeCode produced."""

    stdout: str = ""
    stderr: str = ""
    results: list[str] = field(default_factory=list)  # text/plain of execute_result/display
    images: list[tuple[str, str]] = field(default_factory=list)  # (mime type, base64 data)
    error: str | None = None  # cleaned traceback text when the cell raised
    timed_out: bool = False
    restarted: bool = False  # the kernel had to be restarted (state lost)
    duration_ms: float = 0.0


class Kernel:
    """One ipykernel process plus the BlockingKernelClient talking to it."""

    def __init__(
        self, sandbox: Sandbox, *, interrupt_grace: float, zygote: KernelZygote | None = None
    ) -> None:
        self.sandbox = sandbox
        self.interrupt_grace = interrupt_grace
        self.zygote = zygote  # forks the kernel ready-imported; None: a fresh interpreter
        self._proc: Any = None
        self._client: BlockingKernelClient | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._generation = 0
        self._closed = False  # set by close(): never start a kernel again
        self._lock = threading.Lock()  # guards _proc/_client against close() from other threads

    # --- lifecycle ----------------------------------------------------------------------

    def start_async(self) -> None:
        """Launch the kernel in the background; :meth:`execute` waits for it."""
        self._ready.clear()
        self._start_error = None
        threading.Thread(target=self._start, name="kernel-start", daemon=True).start()

    def _start(self) -> None:
        try:
            self._launch()
        except BaseException as e:  # reported to the next execute
            log.exception("kernel start failed for session %s", self.sandbox.session_id)
            self._start_error = e
        finally:
            self._ready.set()

    def _launch(self) -> None:
        if self._closed:
            raise KernelError("the session is terminated")
        self._generation += 1
        prefix = f"k{self._generation}"
        key = secrets.token_hex(16)
        info: dict[str, Any] = {
            "transport": "ipc",
            "signature_scheme": "hmac-sha256",
            "key": key,
            "kernel_name": "python3",
            "interrupt_mode": "message",
            **{port: i + 1 for i, port in enumerate(_PORTS)},
        }
        inner_file = f"{self.sandbox.inner_run}/{prefix}.json"
        _write_new(
            self.sandbox.run_dir / f"{prefix}.json",
            json.dumps({**info, "ip": f"{self.sandbox.inner_run}/{prefix}"}).encode(),
        )
        log_file = (self.sandbox.logs / f"{prefix}.log").open("ab")
        args = [
            "-f",
            inner_file,
            "--HistoryManager.enabled=False",
            "--IPKernelApp.parent_handle=0",
        ]
        with self._lock:
            if self._closed:
                raise KernelError("the session is terminated")
            self._proc = self._spawn(args, log_file)
        log_file.close()
        client = BlockingKernelClient()
        client.load_connection_info(dict(info, ip=str(self.sandbox.run_dir / prefix)))  # type: ignore[arg-type]
        client.start_channels()
        deadline = time.monotonic() + _READY_TIMEOUT
        while True:
            if self._proc.poll() is not None:
                client.stop_channels()
                raise KernelError(f"kernel exited with code {self._proc.returncode}")
            try:
                client.wait_for_ready(timeout=1)
                break
            except RuntimeError:
                if time.monotonic() > deadline:
                    client.stop_channels()
                    raise KernelError("kernel did not become ready in time") from None
        with self._lock:
            if self._closed:
                client.stop_channels()
                raise KernelError("the session is terminated")
            self._client = client

    def _spawn(self, args: list[str], log_file: Any) -> Any:
        """The kernel's process (through the zygote when it can) or, for a zygote's, its holder."""
        if self.zygote is not None:
            try:
                return self.zygote.launch(self.sandbox, args, log_file)
            except ZygoteError as e:
                log.warning("kernel zygote: %s; starting the kernel directly", e)
        argv = ["python", "-c", _KERNEL_MAIN, *args]
        return self.sandbox.popen(argv, stdout=log_file, stderr=subprocess.STDOUT)

    def _wait_ready(self) -> BlockingKernelClient:
        if not self._ready.wait(_READY_TIMEOUT + 5):
            raise KernelError("kernel is still starting")
        if self._start_error is not None or self._client is None:
            raise KernelError(f"kernel failed to start: {self._start_error}")
        return self._client

    def healthy(self) -> bool:
        """False once the kernel failed to start or its process is gone."""
        if not self._ready.is_set():
            return not self._closed
        return (
            not self._closed
            and self._start_error is None
            and self._proc is not None
            and self._proc.poll() is None
        )

    def restart(self) -> None:
        """Kill the kernel process and start a fresh one (all state is lost)."""
        self._ready.wait(_READY_TIMEOUT + 5)
        self._stop()
        if self._closed:
            return
        self._ready.clear()
        self._start()

    def close(self) -> None:
        """Stop for good (session terminated): later restarts are no-ops."""
        self._closed = True
        self._stop()

    def _stop(self) -> None:
        with self._lock:
            client, proc = self._client, self._proc
            self._client = None
        if client is not None:
            client.stop_channels()
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)

    # --- execution ----------------------------------------------------------------------

    def execute(self, code: str, *, timeout: float) -> CellOutcome:
        """Run one cell in the persistent namespace, interrupting it at ``timeout``."""
        client = self._wait_ready()
        if self._closed:
            raise KernelError("the session is terminated")
        out = CellOutcome()
        started = time.monotonic()
        msg_id = client.execute(code, store_history=True, allow_stdin=False, stop_on_error=False)
        deadline = started + timeout
        interrupted_at: float | None = None
        while True:
            now = time.monotonic()
            if interrupted_at is None and now >= deadline:
                out.timed_out = True
                interrupted_at = now
                self._interrupt(client)
            if interrupted_at is not None and now >= interrupted_at + self.interrupt_grace:
                out.restarted = True
                break
            wait = max(0.01, min(deadline - now if interrupted_at is None else 0.2, 0.5))
            try:
                msg = client.get_iopub_msg(timeout=wait)
            except queue.Empty:
                if self._closed:
                    raise KernelError("the session is terminated") from None
                if self._proc.poll() is not None:
                    out.error = (out.error or "") + "The kernel died (memory or CPU limit?)."
                    out.restarted = True
                    break
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if self._collect(out, msg):
                break
        out.duration_ms = (time.monotonic() - started) * 1000.0
        if out.restarted:
            self.restart()
        else:
            self._drain_reply(client, msg_id)
        return out

    @staticmethod
    def _collect(out: CellOutcome, msg: dict[str, Any]) -> bool:
        """Fold one iopub message into ``out``; True when the cell is finished."""
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            name = "stderr" if content.get("name") == "stderr" else "stdout"
            setattr(out, name, _capped(getattr(out, name), content.get("text", "")))
        elif kind in ("execute_result", "display_data"):
            data = content.get("data", {})
            for mime in ("image/png", "image/jpeg", "image/svg+xml"):
                if mime in data:
                    out.images.append((mime, data[mime]))
                    break
            else:
                if "text/plain" in data:
                    out.results.append(data["text/plain"])
        elif kind == "error":
            tb = "\n".join(content.get("traceback", [])) or (
                f"{content.get('ename')}: {content.get('evalue')}"
            )
            out.error = _ANSI.sub("", tb)
        elif kind == "status" and content.get("execution_state") == "idle":
            return True
        return False

    def _interrupt(self, client: BlockingKernelClient) -> None:
        msg = client.session.msg("interrupt_request", content={})
        client.control_channel.send(msg)

    @staticmethod
    def _drain_reply(client: BlockingKernelClient, msg_id: str) -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                reply = client.get_shell_msg(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                return
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                return


def _capped(current: str, more: str) -> str:
    if len(current) >= MAX_OUTPUT_CHARS:
        return current
    room = MAX_OUTPUT_CHARS - len(current)
    if len(more) <= room:
        return current + more
    return current + more[:room] + "\n[output truncated by the emulator]\n"


def _write_new(path: Path, data: bytes) -> None:
    """Create ``path`` afresh; never follow a symlink the sandbox may have planted there."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
