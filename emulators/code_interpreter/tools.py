"""The nine InvokeCodeInterpreter tools. Each returns a ``CodeInterpreterResult`` dict.

Argument problems raise :class:`ValidationException` (sent as a ``validationException``
event); failures of the user's code or command are normal results with ``isError: true``.
"""

from __future__ import annotations

import base64
import contextlib
import mimetypes
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .exceptions import ConflictException, ResourceNotFoundException, ValidationException
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


def _paths_arg(args: Args) -> list[str]:
    paths = args.get("paths")
    if paths is None and isinstance(args.get("path"), str):
        paths = [args["path"]]
    if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
        raise ValidationException("paths must be a non-empty list of strings", field="paths")
    return paths


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
    script = session.sandbox.tmp / f".cell-{uuid.uuid4().hex}.js"
    script.write_text(code)
    try:
        return _run(session, [node, f"{session.sandbox.inner_tmp}/{script.name}"], timeout)
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


def _uri(path: str) -> str:
    return "file://" + path


def write_files(session: Session, args: Args, timeout: float) -> dict[str, Any]:
    items = args.get("content")
    if not isinstance(items, list) or not items:
        raise ValidationException("content must be a non-empty list", field="content")
    planned: list[tuple[Path, bytes]] = []
    for item in items:
        path = item.get("path") if isinstance(item, dict) else None
        if not isinstance(path, str):
            raise ValidationException("each content item needs a path", field="content")
        if isinstance(item.get("text"), str):
            data = item["text"].encode("utf-8")
        elif isinstance(item.get("blob"), str):
            data = base64.b64decode(item["blob"])
        else:
            raise ValidationException(f"{path}: give text or blob", field="content")
        planned.append((session.sandbox.host_path(path, field="content.path"), data))
    need = sum(len(d) for _, d in planned)
    quota = session.sandbox.config.workspace_bytes
    if not session.sandbox.quota_mounted and session.sandbox.usage_bytes() + need > quota:
        raise ValidationException("Workspace quota exceeded", field="content")
    written = []
    for host, data in planned:
        host.parent.mkdir(parents=True, exist_ok=True)
        _check_inside(session, host.parent)
        try:
            fd = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        except OSError as e:
            return _result(f"Failed to write {host.name}: {e.strerror}", is_error=True)
        written.append(session.sandbox.inner_path(host) if _in_ws(session, host) else str(host))
    return _result(f"Successfully wrote {len(written)} file(s): " + ", ".join(written))


def _in_ws(session: Session, host: Path) -> bool:
    return host == session.sandbox.workspace or session.sandbox.workspace in host.parents


def _check_inside(session: Session, host: Path) -> None:
    real = Path(os.path.realpath(host))
    roots = (session.sandbox.workspace.resolve(), session.sandbox.tmp.resolve())
    if not any(real == r or r in real.parents for r in roots):
        raise ValidationException("Path escapes the workspace", field="path")


def read_files(session: Session, args: Args, timeout: float) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for path in _paths_arg(args):
        host = session.sandbox.host_path(path, field="paths")
        try:
            fd = os.open(host, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as f:
                data = f.read()
        except IsADirectoryError:
            return _result(f"Is a directory: {path}", is_error=True)
        except OSError as e:
            return _result(f"Failed to read {path}: {e.strerror}", is_error=True)
        mime = mimetypes.guess_type(path)[0]
        resource: dict[str, Any] = {"uri": _uri(path)}
        try:
            if b"\x00" in data:
                raise UnicodeDecodeError("utf-8", data, 0, 1, "NUL byte")
            text = data.decode("utf-8")
            resource.update(type="text", mimeType=mime or "text/plain", text=text)
        except UnicodeDecodeError:
            resource.update(
                type="blob",
                mimeType=mime or "application/octet-stream",
                blob=base64.b64encode(data).decode(),
            )
        content.append({"type": "resource", "resource": resource})
    return _result(content)


def list_files(session: Session, args: Args, timeout: float) -> dict[str, Any]:
    directory = _str_arg(args, "directoryPath", required=False) or _str_arg(
        args, "path", required=False
    )
    host = session.sandbox.host_path(directory or ".", field="directoryPath")
    if not host.is_dir():
        return _result(f"Not a directory: {directory or '.'}", is_error=True)
    content: list[dict[str, Any]] = []
    for entry in sorted(os.scandir(host), key=lambda e: e.name):
        rel = (
            entry.name
            if not directory or directory == "."
            else f"{directory.rstrip('/')}/{entry.name}"
        )
        is_dir = entry.is_dir(follow_symlinks=False)
        item: dict[str, Any] = {
            "type": "resource_link",
            "uri": _uri(rel),
            "name": entry.name,
            "description": "Directory" if is_dir else "File",
        }
        if not is_dir:
            item["mimeType"] = mimetypes.guess_type(entry.name)[0] or "application/octet-stream"
            item["size"] = entry.stat(follow_symlinks=False).st_size
        content.append(item)
    return _result(content)


def remove_files(session: Session, args: Args, timeout: float) -> dict[str, Any]:
    removed = []
    for path in _paths_arg(args):
        host = session.sandbox.host_path(path, field="paths")
        if host in (session.sandbox.workspace, session.sandbox.tmp):
            raise ValidationException("Refusing to remove the workspace itself", field="paths")
        try:
            if host.is_dir() and not host.is_symlink():
                shutil.rmtree(host)
            else:
                host.unlink()
        except FileNotFoundError:
            return _result(f"File not found: {path}", is_error=True)
        removed.append(path)
    return _result(f"Successfully removed {len(removed)} file(s): " + ", ".join(removed))


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
