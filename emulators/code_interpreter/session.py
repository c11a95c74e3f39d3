"""A code interpreter session and its background tasks (no HTTP here)."""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .kernel import Kernel
from .sandbox import Sandbox

__all__ = ["READY", "TERMINATED", "Session", "Task"]

READY, TERMINATED = "READY", "TERMINATED"


@dataclass
class Task:
    """A background command started with ``startCommandExecution``."""

    task_id: str
    command: str
    proc: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    canceled: bool = False

    @property
    def status(self) -> str:
        """One of the model's TaskStatus values: working, completed, failed, canceled."""
        if self.canceled:
            return "canceled"
        code = self.proc.poll()
        if code is None:
            return "working"
        if self.finished is None:
            self.finished = time.monotonic()
        return "completed" if code == 0 else "failed"

    @property
    def elapsed_ms(self) -> float:
        end = self.finished if self.finished is not None else time.monotonic()
        return (end - self.started) * 1000.0


@dataclass
class Session:
    """State of one session: metadata, sandbox, kernel, tasks."""

    session_id: str
    interpreter_id: str
    name: str | None
    timeout_seconds: int
    sandbox: Sandbox
    kernel: Kernel
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    last_updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    status: str = READY
    tasks: dict[str, Task] = field(default_factory=dict)
    kernel_lock: threading.Lock = field(default_factory=threading.Lock)
    lock: threading.Lock = field(default_factory=threading.Lock)
    expires_at: float = 0.0  # time.monotonic() deadline

    def touch(self) -> None:
        self.last_updated_at = datetime.now(UTC)
