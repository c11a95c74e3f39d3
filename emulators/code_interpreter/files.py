"""File tools: writeFiles, readFiles, listFiles, removeFiles.

The emulator (host root) touches files that sandboxed code can change at any moment, so
every path is walked one component at a time from the workspace (or /tmp) directory with
``O_NOFOLLOW`` and ``dir_fd``: a symlink anywhere in a path is refused, never followed, and
there is no check-then-use race.
"""

from __future__ import annotations

import base64
import contextlib
import mimetypes
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .exceptions import ValidationException
from .session import Session

__all__ = ["list_files", "read_files", "remove_files", "write_files"]

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO planted by sandboxed code must fail or return at once, never
# wait for a peer (it would hang the request); only regular files are then read or written.
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_WRITE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
Args = dict[str, Any]


class _FileError(Exception):
    """A per-file failure, reported as an ``isError`` result."""


def _result(content: list[dict[str, Any]] | str, *, is_error: bool = False) -> dict[str, Any]:
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
    return {"content": content, "isError": is_error}


@contextlib.contextmanager
def _dir_fd(root: Path, parts: tuple[str, ...], *, create: bool = False) -> Iterator[int]:
    """An fd of ``root/parts...``, walked without following symlinks."""
    fd = os.open(root, _DIR)
    try:
        for name in parts:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o755, dir_fd=fd)
            try:
                nxt = os.open(name, _DIR, dir_fd=fd)
            except FileNotFoundError:
                raise _FileError(f"No such directory: {name}") from None
            except OSError as e:  # ELOOP (a symlink) or ENOTDIR
                raise _FileError(f"Not a directory (symlinks are not followed): {name}") from e
            os.close(fd)
            fd = nxt
        yield fd
    finally:
        os.close(fd)


def _paths_arg(args: Args) -> list[str]:
    paths = args.get("paths")
    if paths is None and isinstance(args.get("path"), str):
        paths = [args["path"]]
    if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
        raise ValidationException("paths must be a non-empty list of strings", field="paths")
    return paths


def _file_parts(session: Session, path: str, field: str) -> tuple[Path, tuple[str, ...]]:
    root, parts = session.sandbox.locate(path, field=field)
    if not parts:
        raise ValidationException(f"{path!r} is a directory, not a file", field=field)
    return root, parts


def write_files(session: Session, args: Args, timeout: float) -> dict[str, Any]:
    items = args.get("content")
    if not isinstance(items, list) or not items:
        raise ValidationException("content must be a non-empty list", field="content")
    planned: list[tuple[str, Path, tuple[str, ...], bytes]] = []
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
        planned.append((path, *_file_parts(session, path, "content.path"), data))
    sandbox = session.sandbox
    need = sum(len(p[3]) for p in planned)
    if not sandbox.quota_mounted and sandbox.usage_bytes() + need > sandbox.config.workspace_bytes:
        raise ValidationException("Workspace quota exceeded", field="content")
    for path, root, parts, data in planned:
        try:
            with _dir_fd(root, parts[:-1], create=True) as d:
                fd = os.open(parts[-1], _WRITE, 0o644, dir_fd=d)
                with os.fdopen(fd, "wb") as f:
                    if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                        raise _FileError("not a regular file")
                    f.write(data)
        except (_FileError, OSError) as e:
            return _result(f"Failed to write {path}: {_reason(e)}", is_error=True)
    names = ", ".join(p[0] for p in planned)
    return _result(f"Successfully wrote {len(planned)} file(s): {names}")


def _read(root: Path, parts: tuple[str, ...]) -> bytes:
    with _dir_fd(root, parts[:-1]) as d:
        fd = os.open(parts[-1], _READ, dir_fd=d)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise _FileError("not a regular file")
            return f.read()


def read_files(session: Session, args: Args, timeout: float) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for path in _paths_arg(args):
        root, parts = _file_parts(session, path, "paths")
        try:
            data = _read(root, parts)
        except (_FileError, OSError) as e:
            return _result(f"Failed to read {path}: {_reason(e)}", is_error=True)
        mime = mimetypes.guess_type(path)[0]
        resource: dict[str, Any] = {"uri": "file://" + path}
        text = None if b"\x00" in data else _utf8(data)
        if text is not None:
            resource.update(type="text", mimeType=mime or "text/plain", text=text)
        else:
            resource.update(
                type="blob",
                mimeType=mime or "application/octet-stream",
                blob=base64.b64encode(data).decode(),
            )
        content.append({"type": "resource", "resource": resource})
    return _result(content)


def list_files(session: Session, args: Args, timeout: float) -> dict[str, Any]:
    directory = args.get("directoryPath") or args.get("path") or ""
    if not isinstance(directory, str):
        raise ValidationException("directoryPath must be a string", field="directoryPath")
    root, parts = session.sandbox.locate(directory or ".", field="directoryPath")
    prefix = "" if directory in ("", ".") else directory.rstrip("/") + "/"
    content: list[dict[str, Any]] = []
    try:
        with _dir_fd(root, parts) as d:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
            for entry in entries:
                st = entry.stat(follow_symlinks=False)
                is_dir = stat.S_ISDIR(st.st_mode)
                item: dict[str, Any] = {
                    "type": "resource_link",
                    "uri": "file://" + prefix + entry.name,
                    "name": entry.name,
                    "description": "Directory" if is_dir else "File",
                }
                if not is_dir:
                    mime = mimetypes.guess_type(entry.name)[0]
                    item["mimeType"] = mime or "application/octet-stream"
                    item["size"] = st.st_size
                content.append(item)
    except (_FileError, OSError) as e:
        return _result(f"Cannot list {directory or '.'}: {_reason(e)}", is_error=True)
    return _result(content)


def remove_files(session: Session, args: Args, timeout: float) -> dict[str, Any]:
    removed = []
    for path in _paths_arg(args):
        root, parts = _file_parts(session, path, "paths")
        try:
            with _dir_fd(root, parts[:-1]) as d:
                st = os.stat(parts[-1], dir_fd=d, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    shutil.rmtree(parts[-1], dir_fd=d)
                else:
                    os.unlink(parts[-1], dir_fd=d)
        except (_FileError, OSError) as e:
            return _result(f"Failed to remove {path}: {_reason(e)}", is_error=True)
        removed.append(path)
    return _result(f"Successfully removed {len(removed)} file(s): " + ", ".join(removed))


def _utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _reason(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e)
