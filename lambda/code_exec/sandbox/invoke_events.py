"""The ``invoke_code_interpreter`` response stream, read completely, and what is built from it.

:func:`parse_stream` folds every ``result`` event into one :class:`ParsedStream` and turns
an exception event into an :class:`~code_exec.sandbox.errors.Attempt` (retry-safe only
when no result had arrived yet). The builders turn a parsed stream into the runtime's
types: :class:`ExecutionResult`, :class:`TaskStatus`, files and listing entries.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.eventstream import ParserError
from botocore.exceptions import BotoCoreError, ClientError

from code_exec.exceptions import (
    SandboxError,
    SandboxInternalError,
    SandboxReplyError,
    SandboxResourceNotFoundError,
)
from code_exec.sandbox.errors import (
    Attempt,
    client_error_parts,
    is_retry_safe,
    transport_error,
)
from code_exec.sandbox.event_buffer import read_whole_messages
from code_exec.sandbox.types import ExecutionResult, SandboxFile, TaskStatus

__all__ = [
    "FileEntry",
    "ParsedStream",
    "entries_from",
    "execution_result",
    "files_from",
    "parse_stream",
    "task_status",
]

ErrorFactory = Callable[[str, str], SandboxError]  # (error code, message) -> typed error


@dataclass
class ParsedStream:
    """Every ``result`` event of one response, merged."""

    content: list[dict[str, Any]] = field(default_factory=list)
    structured: dict[str, Any] = field(default_factory=dict)
    is_error: bool = False
    text: str = ""

    def merge(self, result: dict[str, Any]) -> None:
        """Fold one ``result`` event in (stdout/stderr appended, the rest last-wins)."""
        content = list(result.get("content") or [])
        self.content.extend(content)
        self.text += "".join(str(c.get("text") or "") for c in content if c.get("type") == "text")
        sc = result.get("structuredContent") or {}
        for key in ("stdout", "stderr"):
            if sc.get(key):
                self.structured[key] = self.structured.get(key, "") + sc[key]
        for key in ("taskId", "taskStatus", "exitCode", "executionTime"):
            if sc.get(key) is not None:
                self.structured[key] = sc[key]
        self.is_error = self.is_error or bool(result.get("isError"))


@dataclass(frozen=True)
class FileEntry:
    """One ``listFiles`` entry."""

    path: str
    is_dir: bool = False
    size: int | None = None


def parse_stream(
    stream: Any, tool: str, *, idempotent: bool, to_error: ErrorFactory
) -> ParsedStream:
    """Read the whole stream; raise :class:`Attempt` for an exception event or a failure.

    botocore reads it through :class:`~code_exec.sandbox.event_buffer.WholeMessageBuffer`
    (a file's bytes in one message cost time linear in its size, not quadratic)."""
    parsed = ParsedStream()
    seen = False
    try:
        for event in read_whole_messages(stream):
            if "result" in event:
                seen = True
                parsed.merge(event["result"])
                continue
            for key, body in event.items():  # an exception delivered as a plain event
                err = to_error(key, (body or {}).get("message", ""))
                raise Attempt(err, retry_safe=not seen and is_retry_safe(key, idempotent))
    except ClientError as e:  # botocore raises EventStreamError for exception events
        code, message = client_error_parts(e)
        err = to_error(code, message)
        raise Attempt(err, retry_safe=not seen and is_retry_safe(code, idempotent)) from e
    except BotoCoreError as e:
        raise Attempt(transport_error(e, tool), retry_safe=idempotent and not seen) from e
    except ParserError as e:  # a message botocore will not read (one over 24 MB: a huge output)
        err = SandboxReplyError(f"{tool}: the response could not be read ({type(e).__name__})")
        raise Attempt(err, retry_safe=False) from e
    finally:
        close = getattr(stream, "close", None)
        if close:
            close()
    if not seen:
        raise Attempt(SandboxInternalError(f"{tool}: empty response stream"), idempotent)
    return parsed


def execution_result(parsed: ParsedStream) -> ExecutionResult:
    """The result of ``executeCode`` / ``executeCommand``."""
    sc = parsed.structured
    exit_code = sc.get("exitCode")
    stderr = sc.get("stderr") or ""
    if parsed.is_error and not stderr and not sc.get("stdout"):
        stderr = parsed.text  # the service put the error in the text content only
    return ExecutionResult(
        stdout=sc.get("stdout") or "",
        stderr=stderr,
        exit_code=exit_code,
        is_error=parsed.is_error or exit_code not in (None, 0),
        execution_time=_seconds(sc.get("executionTime")),
        text=parsed.text,
        content=tuple(parsed.content),
    )


def task_status(parsed: ParsedStream, task_id: str) -> TaskStatus:
    """The result of ``getTask``."""
    sc = parsed.structured
    return TaskStatus(
        task_id=str(sc.get("taskId") or task_id),
        status=str(sc.get("taskStatus") or ("failed" if parsed.is_error else "working")),
        stdout=sc.get("stdout") or "",
        stderr=sc.get("stderr") or (parsed.text if parsed.is_error else ""),
        exit_code=sc.get("exitCode"),
    )


def files_from(parsed: ParsedStream, paths: list[str]) -> list[SandboxFile]:
    """The ``readFiles`` resources, in the order asked (a missing one raises)."""
    found: list[tuple[str, bytes]] = []
    for item in parsed.content:
        res = item.get("resource") if item.get("type") == "resource" else None
        if not res:
            continue
        uri = str(res.get("uri") or "").removeprefix("file://")
        if "blob" in res and res["blob"] is not None:
            blob = res["blob"]
            data = base64.b64decode(blob) if isinstance(blob, str) else bytes(blob)
        else:
            data = str(res.get("text") or "").encode("utf-8")
        found.append((uri, data))
    out: list[SandboxFile] = []
    for i, path in enumerate(paths):
        match = next((d for u, d in found if _same_path(u, path)), None)
        if match is None and len(found) == len(paths):
            match = found[i][1]
        if match is None:
            raise SandboxResourceNotFoundError(f"file not found in sandbox: {path}")
        out.append(SandboxFile(path=path, data=match))
    return out


def entries_from(parsed: ParsedStream) -> list[FileEntry]:
    """The ``listFiles`` entries of one directory (not recursive)."""
    entries: list[FileEntry] = []
    for item in parsed.content:
        if item.get("type") not in ("resource_link", "resource"):
            continue
        uri = item.get("uri") or (item.get("resource") or {}).get("uri") or ""
        path = str(uri).removeprefix("file://") or str(item.get("name"))
        is_dir = str(item.get("description", "")).lower() == "directory"
        entries.append(FileEntry(path, is_dir, item.get("size")))
    return entries


def _seconds(milliseconds: Any) -> float | None:
    """``executionTime`` is in milliseconds (service model); ExecutionResult wants seconds."""
    return None if milliseconds is None else float(milliseconds) / 1000.0


def _same_path(uri_path: str, asked: str) -> bool:
    asked = asked.removeprefix("./")
    return uri_path == asked or uri_path.endswith("/" + asked.lstrip("/"))
