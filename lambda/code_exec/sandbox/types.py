"""Value types returned by the sandbox client (:mod:`code_exec.sandbox.client`).

Kept separate so loops, PTC and the API can depend on the shapes without
importing boto3.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ExecutionResult", "SandboxFile", "TaskStatus"]

_RUNNING = ("IN_PROGRESS", "RUNNING", "PENDING", "SUBMITTED", "WORKING")


@dataclass(frozen=True)
class ExecutionResult:
    """Outcome of ``executeCode`` / ``executeCommand``, parsed from the whole event stream.

    ``is_error`` is True when the service flagged the result as an error or the
    exit code is non-zero: a failing cell is never reported as success.
    """

    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    is_error: bool = False
    execution_time: float | None = None  # seconds (structuredContent.executionTime is in ms)
    text: str = ""  # concatenated text content items (what the service shows as output)
    content: tuple[dict, ...] = field(default_factory=tuple)  # raw content items

    @property
    def ok(self) -> bool:
        """True only when the run succeeded."""
        return not self.is_error and (self.exit_code in (None, 0))


@dataclass(frozen=True)
class SandboxFile:
    """A file inside the sandbox. ``data`` is the exact bytes (text files are UTF-8)."""

    path: str
    data: bytes

    @property
    def text(self) -> str:
        return self.data.decode("utf-8")


@dataclass(frozen=True)
class TaskStatus:
    """A background command started with ``startCommandExecution``."""

    task_id: str
    status: str  # e.g. "IN_PROGRESS" | "COMPLETED" | "FAILED" | "CANCELED" as reported
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None

    @property
    def done(self) -> bool:
        return self.status.upper() not in _RUNNING  # botocore model: submitted|working|...
