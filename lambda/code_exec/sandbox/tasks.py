"""A shell command run as a stoppable sandbox task, bounded by a deadline and a cancel signal.

``executeCommand`` blocks until the command ends (or the service's own limit on a call): a
``sleep 900`` holds the request, its container and its Lambda until then, and nothing can
stop it. :func:`run_command` starts the command as a background task instead
(``startCommandExecution``), watches it with ``getTask`` and stops it with ``stopTask`` the
moment its request may no longer wait: the deadline passed, or ``cancel`` was set (the
function's end is near, or the client is gone). ``stopTask`` kills the task's whole process
group in the sandbox, so nothing the command started keeps running.

Call budget: the first look comes after :data:`FIRST_POLL` seconds (most commands have ended
by then: two calls in all); the interval then grows by half each time up to
:data:`MAX_POLL`, so a five-minute command costs about 70 calls (0.2/s, well under the
service's 30 TPS per account). A cancel is noticed at once (the wait is on the event), not
at the next poll.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from code_exec.exceptions import SandboxError, SandboxTimeoutError
from code_exec.sandbox.types import ExecutionResult, TaskStatus

__all__ = ["FIRST_POLL", "MAX_POLL", "CommandStoppedError", "TaskRunner", "run_command"]

logger = logging.getLogger(__name__)

FIRST_POLL = 0.05  # seconds before the first getTask
MAX_POLL = 5.0  # seconds between two getTask calls, at most
_GROWTH = 1.5
_KILLED = 137  # exit code of a task stopped by someone else (SIGKILL)


class CommandStoppedError(SandboxTimeoutError):
    """The command was stopped in the sandbox: its deadline passed, or its request was
    cancelled. Anthropic's tools report it as ``execution_time_exceeded``."""


class TaskRunner(Protocol):
    """The sandbox client's task operations (:class:`~code_exec.sandbox.SandboxClient`)."""

    def start_command(self, session_id: str, command: str) -> str: ...

    def get_task(self, session_id: str, task_id: str) -> TaskStatus: ...

    def stop_task(self, session_id: str, task_id: str) -> None: ...


def run_command(
    sandbox: TaskRunner,
    session_id: str,
    command: str,
    *,
    deadline: float,
    cancel: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ExecutionResult:
    """Run ``command`` as a task until it ends; stop it at ``deadline`` (on ``clock``) or
    when ``cancel`` is set.

    Raises:
        CommandStoppedError: the command was stopped before it ended (deadline or cancel).
        SandboxError: the sandbox refused a call (the task is stopped if it was started).
    """
    stop = cancel if cancel is not None else threading.Event()
    if stop.is_set():  # cancelled before it started: nothing to stop
        raise CommandStoppedError("the command was not started: its request was cancelled")
    task_id = sandbox.start_command(session_id, command)
    finished = False
    try:
        interval = FIRST_POLL
        while True:
            left = deadline - clock()
            if stop.is_set() or left <= 0:
                break
            if stop.wait(min(interval, left)):
                break
            status = sandbox.get_task(session_id, task_id)
            if status.done:
                finished = True
                return _result(status)
            interval = min(MAX_POLL, interval * _GROWTH)
        reason = "its request was cancelled" if stop.is_set() else "its time limit passed"
        _stop(sandbox, session_id, task_id)
        finished = True
        raise CommandStoppedError(f"the command was stopped in the sandbox: {reason}")
    finally:
        if not finished:  # a failed call (or an interrupt) mid-wait: nothing is left behind
            _stop(sandbox, session_id, task_id)


def _stop(sandbox: TaskRunner, session_id: str, task_id: str) -> None:
    try:
        sandbox.stop_task(session_id, task_id)
        logger.info("stopped task %s in %s", task_id, session_id)
    except SandboxError:
        logger.warning("could not stop task %s in %s", task_id, session_id, exc_info=True)


def _result(status: TaskStatus) -> ExecutionResult:
    code = status.exit_code
    if code is None:
        code = 0 if status.status.lower() == "completed" else _KILLED
    return ExecutionResult(
        stdout=status.stdout,
        stderr=status.stderr,
        exit_code=code,
        is_error=code != 0,
        text=status.stdout + status.stderr,
    )
