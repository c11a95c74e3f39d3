"""The nine InvokeCodeInterpreter tools. Each returns a ``CodeInterpreterResult`` dict.

Argument problems raise :class:`ValidationException` (sent as a ``validationException``
event); failures of the user's code or command are normal results with ``isError: true``.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .exceptions import ConflictException, ResourceNotFoundException, ValidationException
from .files import list_files, read_files, remove_files, write_files
from .kernel import MAX_OUTPUT_CHARS
from .session import Session, Task

__all__ = ["TOOLS", "run_tool"]

TIMEOUT_EXIT_CODE = 124  # like coreutils `timeout`
_SHELL = "/bin/bash" if Path("/bin/bash").exists() else "/bin/sh"

Args = dict[str, Any]
Handler = Callable[[Session, Args, float], dict[str, Any]]


def run_tool(session: Session, name: str, arguments: Args, timeout: float) -> dict[str, Any]:
    """Dispatch ``name`` to its handler."""
    handler = TOOLS.get(name)
    if handler is None:
        raise ValidationException(f"Unknown tool name: {name!r}", field="name")
    return handler(session, arguments, timeout)


def _result(
    content: list[dict[str, Any]] | str,
    *,
    is_error: bool = False,
    **structured: Any,
) -> dict[str, Any]:
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
    result: dict[str, Any] = {"content": content, "isError": is_error}
    structured = {k: v for k, v in structured.items() if v is not None}
    if structured:
        result["structuredContent"] = structured
    return result


def _str_arg(args: Args, name: str, *, required: bool = True) -> str:
    value = args.get(name)
    if value is None:
        if required:
            raise ValidationException(f"Missing required argument: {name}", field=name)
        return ""
    if not isinstance(value, str):
        raise ValidationException(f"Argument {name} must be a string", field=name)
    return value


# --- code and commands --------------------------------------------------------------------


def execute_code(session: Session, args: Args, timeout: float) -> dict[str, Any]:
    code = _str_arg(args, "code")
    language = args.get("language") or "python"
    if language == "javascript":
        return _run_node(session, code, timeout)
    if language != "python":
        raise ValidationException(
            f"language {language!r} is not supported by the emulator (python, javascript)",
            field="language",
        )
    if not session.kernel_lock.acquire(blocking=False):
        raise ConflictException("Another executeCode is running in this session")
    try:
        if args.get("clearContext"):
            session.kernel.restart()
        out = session.kernel.execute(code, timeout=timeout)
    finally:
        session.kernel_lock.release()
    stdout = out.stdout + "".join(r if r.endswith("\n") else r + "\n" for r in out.results)
    stderr = out.stderr
    if out.error:
        stderr += out.error if out.error.endswith("\n") else out.error + "\n"
    exit_code = 0
    if out.timed_out:
        exit_code = TIMEOUT_EXIT_CODE
        note = "interrupted" if not out.restarted else "interrupted; the kernel was restarted"
        stderr += f"Execution timed out after {timeout:g} seconds ({note}).\n"
    elif out.error:
        exit_code = 1
    elif out.restarted:
        exit_code = 137
    content: list[dict[str, Any]] = [{"type": "text", "text": stdout + stderr}]
    for mime, data in out.images:
        if mime == "image/svg+xml":
            data = base64.b64encode(data.encode()).decode()
        content.append({"type": "image", "mimeType": mime, "data": data})
    return _result(
        content,
        is_error=exit_code != 0,
        stdout=stdout,
        stderr=stderr,
        exitCode=exit_code,
        executionTime=round(out.duration_ms, 3),
    )


def _run(session: Session, argv: list[str], timeout: float) -> dict[str, Any]:
    started = time.monotonic()
    name = uuid.uuid4().hex
    out_path = session.sandbox.logs / f"cmd-{name}.out"
    err_path = session.sandbox.logs / f"cmd-{name}.err"
    try:
        with out_path.open("wb") as out, err_path.open("wb") as err:
            proc = session.sandbox.popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            proc.wait()
        stdout, stderr = _read_capped(out_path), _read_capped(err_path)
    finally:
        out_path.unlink(missing_ok=True)
        err_path.unlink(missing_ok=True)
    exit_code = proc.returncode
    if timed_out:
        exit_code = TIMEOUT_EXIT_CODE
        stderr += f"Command timed out after {timeout:g} seconds.\n"
    elif exit_code < 0:
        exit_code = 128 - exit_code
    return _result(
        stdout + stderr,
        is_error=exit_code != 0,
        stdout=stdout,
        stderr=stderr,
        exitCode=exit_code,
        executionTime=round((time.monotonic() - started) * 1000.0, 3),
    )


def _read_capped(path: Path) -> str:
    with path.open("rb") as f:
        data = f.read(MAX_OUTPUT_CHARS + 1)
    text = data[:MAX_OUTPUT_CHARS].decode("utf-8", "replace")
    if len(data) > MAX_OUTPUT_CHARS:
        text += "\n[output truncated by the emulator]\n"
    return text


def _run_node(session: Session, code: str, timeout: float) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None or not node.startswith("/usr/"):
        raise ValidationException(
            "language 'javascript' needs node under /usr on the emulator host", field="language"
        )
    script = session.sandbox.run_dir / f"cell-{uuid.uuid4().hex}.js"
    fd = os.open(script, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as f:
        f.write(code)
    try:
        return _run(session, [node, f"{session.sandbox.inner_run}/{script.name}"], timeout)
    finally:
        script.unlink(missing_ok=True)


def execute_command(session: Session, args: Args, timeout: float) -> dict[str, Any]:
    return _run(session, [_SHELL, "-c", _str_arg(args, "command")], timeout)


def start_command_execution(session: Session, args: Args, timeout: float) -> dict[str, Any]:
    command = _str_arg(args, "command")
    task_id = uuid.uuid4().hex
    out_path = session.sandbox.logs / f"task-{task_id}.out"
    err_path = session.sandbox.logs / f"task-{task_id}.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = session.sandbox.popen(
            [_SHELL, "-c", command], stdin=subprocess.DEVNULL, stdout=out, stderr=err
        )
    task = Task(task_id, command, proc, out_path, err_path)
    session.tasks[task_id] = task
    return _result(
        f"Started task {task_id}", taskId=task_id, taskStatus=task.status, executionTime=0.0
    )


def _task(session: Session, args: Args) -> Task:
    task_id = _str_arg(args, "taskId")
    task = session.tasks.get(task_id)
    if task is None:
        raise ResourceNotFoundException(f"Task {task_id} not found in session")
    return task


def _task_result(task: Task) -> dict[str, Any]:
    status = task.status
    stdout, stderr = _read_capped(task.stdout_path), _read_capped(task.stderr_path)
    code = task.proc.returncode if status != "working" else None
    if code is not None and code < 0:
        code = 128 - code
    return _result(
        stdout + stderr,
        is_error=status == "failed",
        taskId=task.task_id,
        taskStatus=status,
        stdout=stdout,
        stderr=stderr,
        exitCode=code,
        executionTime=round(task.elapsed_ms, 3),
    )


def get_task(session: Session, args: Args, timeout: float) -> dict[str, Any]:
    return _task_result(_task(session, args))


def stop_task(session: Session, args: Args, timeout: float) -> dict[str, Any]:
    task = _task(session, args)
    if task.proc.poll() is None:
        task.canceled = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(task.proc.pid, 9)
        task.proc.wait(timeout=10)
        task.finished = time.monotonic()
    return _task_result(task)


# --- files --------------------------------------------------------------------------------


TOOLS: dict[str, Handler] = {
    "executeCode": execute_code,
    "executeCommand": execute_command,
    "readFiles": read_files,
    "listFiles": list_files,
    "removeFiles": remove_files,
    "writeFiles": write_files,
    "startCommandExecution": start_command_execution,
    "getTask": get_task,
    "stopTask": stop_task,
}
