"""One client for the code interpreter data plane (boto3 ``bedrock-agentcore``).

Everything the runtime does in a sandbox goes through :class:`SandboxClient`: sessions,
Python cells, shell commands, files and background commands. Locally the same boto3
client is pointed at the emulator with ``AWS_ENDPOINT_URL_BEDROCK_AGENTCORE``; there is
no second code path.

The response event stream is parsed completely (all ``result`` events, every exception
event), and every vendor error is translated here into :mod:`code_exec.exceptions`
(raised ``from`` the original), so nothing from botocore leaks above this module.

Retries: botocore's own retries are off on clients built here (``total_max_attempts=1``)
because they cannot tell a cell that may have run from one that did not. This client
retries with exponential backoff and full jitter instead, and only when that is safe:
throttling always (the request was refused), a connection that never opened always, and
internal/connection failures only for idempotent tools (reads, listings, writes of the
same content, task status). A cell or command is never re-run once it may have executed.
"""

from __future__ import annotations

import base64
import logging
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from code_exec.exceptions import (
    SandboxAccessDeniedError,
    SandboxConflictError,
    SandboxError,
    SandboxInternalError,
    SandboxQuotaExceededError,
    SandboxResourceNotFoundError,
    SandboxThrottledError,
    SandboxTimeoutError,
    SandboxValidationError,
    SessionExpiredError,
    SessionNotFoundError,
)
from code_exec.sandbox_types import ExecutionResult, SandboxFile, TaskStatus

__all__ = ["FileEntry", "SandboxClient", "make_client"]

logger = logging.getLogger(__name__)

_RUNNER_SOURCE = Path(__file__).with_name("ptc_cell_runner.py").read_text()
# isError on these describes the code/command/task, not a failed request.
_RESULT_TOOLS = frozenset({"executeCode", "executeCommand", "getTask", "stopTask"})
_IDEMPOTENT_TOOLS = frozenset({"readFiles", "listFiles", "getTask", "writeFiles", "stopTask"})
_ERRORS: dict[str, type[SandboxError]] = {
    "accessDenied": SandboxAccessDeniedError,
    "conflict": SandboxConflictError,
    "internalServer": SandboxInternalError,
    "resourceNotFound": SessionNotFoundError,
    "serviceQuotaExceeded": SandboxQuotaExceededError,
    "throttling": SandboxThrottledError,
    "tooManyRequests": SandboxThrottledError,
    "validation": SandboxValidationError,
}


@dataclass(frozen=True)
class FileEntry:
    """One ``listFiles`` entry."""

    path: str
    is_dir: bool = False
    size: int | None = None


def make_client(
    region: str | None = None, *, read_timeout: int = 900, connect_timeout: int = 10
) -> Any:
    """A boto3 ``bedrock-agentcore`` client configured for long cells.

    ``read_timeout`` must exceed the longest cell (900 s by default, not botocore's 60);
    botocore retries are disabled because :class:`SandboxClient` retries per operation.
    """
    import boto3

    config = Config(
        read_timeout=read_timeout,
        connect_timeout=connect_timeout,
        retries={"mode": "standard", "total_max_attempts": 1},
        tcp_keepalive=True,
        user_agent_extra="bedrock-code-execution",
    )
    return boto3.client("bedrock-agentcore", region_name=region, config=config)


def _error_key(code: str) -> str:
    """``ThrottlingException`` / ``throttlingException`` -> ``throttling``."""
    code = code.removesuffix("Exception")
    return code[:1].lower() + code[1:]


class _Attempt(Exception):
    """Internal: one failed attempt, with whether retrying it is safe."""

    def __init__(self, error: SandboxError, retry_safe: bool) -> None:
        super().__init__(str(error))
        self.error, self.retry_safe = error, retry_safe


class SandboxClient:
    """The code interpreter data plane: sessions, code, commands, files, background tasks."""

    def __init__(
        self,
        interpreter_id: str,
        *,
        client: Any = None,
        region: str | None = None,
        max_attempts: int = 5,
        read_timeout: int = 900,
        backoff_base: float = 0.25,
        backoff_max: float = 8.0,
    ) -> None:
        self.interpreter_id = interpreter_id
        self._client = client or make_client(region, read_timeout=read_timeout)
        self._max_attempts = max(1, max_attempts)
        self._backoff_base, self._backoff_max = backoff_base, backoff_max
        self._known: set[str] = set()  # sessions seen alive through this client
        self._runner_ready: set[str] = set()  # sessions whose kernel has the cell runner

    # --- sessions --------------------------------------------------------------------

    def start_session(self, *, name: str | None = None, timeout_seconds: int = 900) -> str:
        """Start a session and install the cell runner in it; return its id."""
        kwargs: dict[str, Any] = {
            "codeInterpreterIdentifier": self.interpreter_id,
            "sessionTimeoutSeconds": timeout_seconds,
            "clientToken": str(uuid.uuid4()),  # same token on every retry: one session
        }
        if name:
            kwargs["name"] = name
        resp = self._call("start_code_interpreter_session", None, retry_safe=True, **kwargs)
        session_id: str = resp["sessionId"]
        self._known.add(session_id)
        logger.info("started sandbox session %s (timeout %s s)", session_id, timeout_seconds)
        boot = self.execute_code(session_id, _bootstrap_code())
        if not boot.ok:
            self.stop_session(session_id)
            raise SandboxInternalError(f"could not install the cell runner: {boot.stderr[-500:]}")
        self._runner_ready.add(session_id)
        return session_id

    def stop_session(self, session_id: str) -> None:
        """Stop a session. Idempotent: a session already gone is not an error."""
        try:
            self._call(
                "stop_code_interpreter_session",
                session_id,
                retry_safe=True,
                codeInterpreterIdentifier=self.interpreter_id,
                sessionId=session_id,
                clientToken=str(uuid.uuid4()),
            )
            logger.info("stopped sandbox session %s", session_id)
        except SessionNotFoundError:
            logger.info("sandbox session %s was already gone", session_id)
        except (SandboxValidationError, SandboxConflictError):
            if self.session_status(session_id) == "READY":
                raise
            logger.info("sandbox session %s was already stopped", session_id)
        self._known.discard(session_id)

    def session_status(self, session_id: str) -> str:
        """``READY``, ``TERMINATED`` or ``NOT_FOUND`` (the service does not know the id)."""
        try:
            resp = self._call(
                "get_code_interpreter_session",
                None,
                retry_safe=True,
                codeInterpreterIdentifier=self.interpreter_id,
                sessionId=session_id,
            )
        except SessionNotFoundError:
            return "NOT_FOUND"
        return str(resp.get("status", "READY"))

    @contextmanager
    def session(self, *, name: str | None = None, timeout_seconds: int = 900) -> Iterator[str]:
        """``with client.session() as session_id:`` — always stopped on the way out."""
        session_id = self.start_session(name=name, timeout_seconds=timeout_seconds)
        try:
            yield session_id
        finally:
            try:
                self.stop_session(session_id)
            except SandboxError:
                logger.warning("could not stop sandbox session %s", session_id, exc_info=True)

    # --- code and commands -----------------------------------------------------------

    def execute_code(
        self, session_id: str, code: str, *, language: str = "python", clear_context: bool = False
    ) -> ExecutionResult:
        """Run code in the session's kernel as is (``executeCode``)."""
        args: dict[str, Any] = {"code": code, "language": language}
        if clear_context:
            args["clearContext"] = True
            self._runner_ready.discard(session_id)
        return self._result(self._invoke(session_id, "executeCode", args))

    def run_cell(
        self, session_id: str, code: str, *, timeout_seconds: float | None = None
    ) -> ExecutionResult:
        """Run a model's cell: top-level ``await`` works, globals persist across cells.

        Goes through the cell runner (``ptc_cell_runner.py``), not the kernel's autoawait.
        ``timeout_seconds`` interrupts a runaway cell inside the sandbox (the session
        survives and the next cell runs); the service's own limit still applies.
        """
        # The runner prints the cell's trailing value itself and returns None, so the kernel
        # has nothing to display, whatever its ast_node_interactivity.
        body = f"__bcx_runner__.run_in_kernel({code!r}, {timeout_seconds!r})\n"
        if session_id in self._runner_ready:
            result = self.execute_code(session_id, body)
            missing = "NameError" in result.stderr and "'__bcx_runner__'" in result.stderr
            if not (result.is_error and missing):
                return result
            # The kernel was restarted (clearContext, a runaway cell): the cell never ran.
            logger.info("cell runner missing in session %s; reinstalling", session_id)
        result = self.execute_code(session_id, f"{_bootstrap_code()}\n{body}")
        self._runner_ready.add(session_id)
        return result

    def execute_command(self, session_id: str, command: str) -> ExecutionResult:
        """Run a shell command to completion (``executeCommand``)."""
        return self._result(self._invoke(session_id, "executeCommand", {"command": command}))

    def start_command(self, session_id: str, command: str) -> str:
        """Start a background command (``startCommandExecution``); return its task id."""
        parsed = self._invoke(session_id, "startCommandExecution", {"command": command})
        task_id = parsed["structured"].get("taskId")
        if not task_id:
            raise SandboxInternalError("startCommandExecution returned no taskId")
        return str(task_id)

    def get_task(self, session_id: str, task_id: str) -> TaskStatus:
        """Status and output so far of a background command."""
        parsed = self._invoke(session_id, "getTask", {"taskId": task_id})
        sc = parsed["structured"]
        return TaskStatus(
            task_id=str(sc.get("taskId") or task_id),
            status=str(sc.get("taskStatus") or ("failed" if parsed["is_error"] else "working")),
            stdout=sc.get("stdout") or "",
            stderr=sc.get("stderr") or (parsed["text"] if parsed["is_error"] else ""),
            exit_code=sc.get("exitCode"),
        )

    def stop_task(self, session_id: str, task_id: str) -> None:
        """Stop a background command (no error when it has already finished)."""
        self._invoke(session_id, "stopTask", {"taskId": task_id}, check=False)

    # --- files -----------------------------------------------------------------------

    def write_files(self, session_id: str, files: list[SandboxFile]) -> None:
        """Write files (UTF-8 text as ``text``, anything else as ``blob``), byte-exact."""
        content: list[dict[str, Any]] = []
        for f in files:
            try:
                text = f.data.decode("utf-8")
                content.append({"path": f.path, "text": text} if "\x00" not in text else {})
            except UnicodeDecodeError:
                content.append({})
            if not content[-1]:
                content[-1] = {"path": f.path, "blob": f.data}  # botocore base64-encodes
        if content:
            self._invoke(session_id, "writeFiles", {"content": content})

    def read_files(self, session_id: str, paths: list[str]) -> list[SandboxFile]:
        """Read files, in the order asked. A missing file raises SandboxResourceNotFoundError."""
        parsed = self._invoke(session_id, "readFiles", {"paths": list(paths)})
        found: list[tuple[str, bytes]] = []
        for item in parsed["content"]:
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

    def list_files(
        self, session_id: str, directory: str = "", *, recursive: bool = False
    ) -> list[str]:
        """Paths of files under ``directory`` (the workspace when empty), as the service names them.

        Not recursive by default (like ``listFiles``; directories are listed too); with
        ``recursive=True`` only files are returned, from every level.
        """
        entries = self.list_entries(session_id, directory, recursive=recursive)
        return [e.path for e in entries if not (recursive and e.is_dir)]

    def list_entries(
        self, session_id: str, directory: str = "", *, recursive: bool = False
    ) -> list[FileEntry]:
        """Like :meth:`list_files`, with whether each entry is a directory and its size."""
        parsed = self._invoke(session_id, "listFiles", {"directoryPath": directory})
        entries: list[FileEntry] = []
        for item in parsed["content"]:
            if item.get("type") not in ("resource_link", "resource"):
                continue
            uri = item.get("uri") or (item.get("resource") or {}).get("uri") or ""
            path = str(uri).removeprefix("file://") or str(item.get("name"))
            is_dir = str(item.get("description", "")).lower() == "directory"
            entries.append(FileEntry(path, is_dir, item.get("size")))
            if recursive and is_dir:
                entries += self.list_entries(session_id, path, recursive=True)
        return entries

    def remove_files(self, session_id: str, paths: list[str]) -> None:
        """Remove files."""
        self._invoke(session_id, "removeFiles", {"paths": list(paths)})

    # --- plumbing --------------------------------------------------------------------

    def _invoke(
        self, session_id: str, tool: str, arguments: dict[str, Any], *, check: bool = True
    ) -> dict[str, Any]:
        """``invoke_code_interpreter`` with the whole stream parsed, errors typed, retries."""
        idempotent = tool in _IDEMPOTENT_TOOLS

        def once() -> dict[str, Any]:
            try:
                resp = self._client.invoke_code_interpreter(
                    codeInterpreterIdentifier=self.interpreter_id,
                    sessionId=session_id,
                    name=tool,
                    arguments=arguments,
                )
            except ClientError as e:  # refused before any stream: HTTP error status
                code = e.response.get("Error", {}).get("Code", "")
                msg = e.response.get("Error", {}).get("Message", "")
                raise _Attempt(
                    self._map(code, msg, session_id), self._safe(code, idempotent)
                ) from e
            except BotoCoreError as e:
                raise _Attempt(self._transport(e, tool), self._unsent(e) or idempotent) from e
            return self._parse_stream(resp["stream"], session_id, tool, idempotent)

        try:
            parsed = self._retrying(once, session_id, tool, idempotent)
        except SessionNotFoundError as e:
            raise self._classify_not_found(session_id, tool, e) from e.__cause__
        self._known.add(session_id)
        if check and parsed["is_error"] and tool not in _RESULT_TOOLS:
            raise self._tool_error(tool, parsed["text"] or parsed["structured"].get("stderr", ""))
        return parsed

    def _parse_stream(
        self, stream: Any, session_id: str, tool: str, idempotent: bool
    ) -> dict[str, Any]:
        parsed: dict[str, Any] = {"content": [], "structured": {}, "is_error": False, "text": ""}
        seen = False
        try:
            for event in stream:
                if "result" in event:
                    seen = True
                    self._merge(parsed, event["result"])
                    continue
                for key, body in event.items():  # an exception delivered as a plain event
                    err = self._map(key, (body or {}).get("message", ""), session_id)
                    raise _Attempt(err, retry_safe=not seen and self._safe(key, idempotent))
        except ClientError as e:  # botocore raises EventStreamError for exception events
            code = e.response.get("Error", {}).get("Code", "")
            err = self._map(code, e.response.get("Error", {}).get("Message", ""), session_id)
            raise _Attempt(err, retry_safe=not seen and self._safe(code, idempotent)) from e
        except BotoCoreError as e:
            raise _Attempt(self._transport(e, tool), retry_safe=idempotent and not seen) from e
        finally:
            close = getattr(stream, "close", None)
            if close:
                close()
        if not seen:
            raise _Attempt(SandboxInternalError(f"{tool}: empty response stream"), idempotent)
        return parsed

    @staticmethod
    def _merge(parsed: dict[str, Any], result: dict[str, Any]) -> None:
        content = list(result.get("content") or [])
        parsed["content"].extend(content)
        parsed["text"] += "".join(
            str(c.get("text") or "") for c in content if c.get("type") == "text"
        )
        sc = result.get("structuredContent") or {}
        merged = parsed["structured"]
        for key in ("stdout", "stderr"):
            if sc.get(key):
                merged[key] = merged.get(key, "") + sc[key]
        for key in ("taskId", "taskStatus", "exitCode", "executionTime"):
            if sc.get(key) is not None:
                merged[key] = sc[key]
        parsed["is_error"] = parsed["is_error"] or bool(result.get("isError"))

    @staticmethod
    def _result(parsed: dict[str, Any]) -> ExecutionResult:
        sc = parsed["structured"]
        exit_code = sc.get("exitCode")
        stderr = sc.get("stderr") or ""
        if parsed["is_error"] and not stderr and not sc.get("stdout"):
            stderr = parsed["text"]  # the service put the error in the text content only
        return ExecutionResult(
            stdout=sc.get("stdout") or "",
            stderr=stderr,
            exit_code=exit_code,
            is_error=parsed["is_error"] or exit_code not in (None, 0),
            execution_time=_seconds(sc.get("executionTime")),
            text=parsed["text"],
            content=tuple(parsed["content"]),
        )

    def _call(self, op: str, session_id: str | None, *, retry_safe: bool, **kwargs: Any) -> Any:
        """A non-stream operation, with ClientError mapped and safe retries."""

        def once() -> Any:
            try:
                return getattr(self._client, op)(**kwargs)
            except ClientError as e:
                code = e.response.get("Error", {}).get("Code", "")
                msg = e.response.get("Error", {}).get("Message", "")
                raise _Attempt(self._map(code, msg, session_id), self._safe(code, True)) from e
            except BotoCoreError as e:
                raise _Attempt(self._transport(e, op), retry_safe or self._unsent(e)) from e

        return self._retrying(once, session_id, op, retry_safe)

    def _retrying(self, once: Any, session_id: str | None, what: str, idempotent: bool) -> Any:
        for attempt in range(1, self._max_attempts + 1):
            try:
                return once()
            except _Attempt as a:
                if not a.retry_safe or attempt == self._max_attempts:
                    raise a.error from (a.__cause__ or None)
                delay = random.uniform(0, min(self._backoff_max, self._backoff_base * 2**attempt))
                logger.warning(
                    "%s on session %s failed (%s: %s); retry %s/%s in %.2f s",
                    what,
                    session_id,
                    a.error.code,
                    a.error.message,
                    attempt,
                    self._max_attempts - 1,
                    delay,
                )
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _safe(code: str, idempotent: bool) -> bool:
        """Retry only what cannot have run: throttling, or transient errors on idempotent ops."""
        key = _error_key(code)
        if key in ("throttling", "tooManyRequests"):
            return True
        return idempotent and key in ("internalServer", "serviceUnavailable")

    def _map(self, code: str, message: str, session_id: str | None) -> SandboxError:
        key = _error_key(code)
        cls = _ERRORS.get(key, SandboxError)
        message = message or key or "sandbox error"
        if cls is SessionNotFoundError and session_id:
            if session_id in self._known:
                return SessionExpiredError(
                    f"sandbox session {session_id} has expired or was stopped ({message}); "
                    "start a new session"
                )
            return SessionNotFoundError(f"sandbox session {session_id} not found ({message})")
        return cls(message)

    def _classify_not_found(
        self, session_id: str, tool: str, error: SessionNotFoundError
    ) -> SandboxError:
        """resourceNotFound: a missing task/file in a live session, or a session gone."""
        try:
            status = self.session_status(session_id)
        except SandboxError:
            return error
        if status == "READY":
            return SandboxResourceNotFoundError(f"{tool}: {error.message}")
        if status == "TERMINATED" and not isinstance(error, SessionExpiredError):
            return SessionExpiredError(
                f"sandbox session {session_id} has expired or was stopped (TERMINATED); "
                "start a new session"
            )
        return error

    @staticmethod
    def _unsent(e: BotoCoreError) -> bool:
        """True when the request certainly never reached the service (connect failure)."""
        return isinstance(e, (EndpointConnectionError, ConnectTimeoutError))

    @staticmethod
    def _transport(e: BotoCoreError, what: str) -> SandboxError:
        if isinstance(e, ReadTimeoutError):
            return SandboxTimeoutError(f"{what}: no response from the sandbox before the timeout")
        if isinstance(e, BotoConnectionError):
            return SandboxInternalError(f"{what}: cannot reach the code interpreter endpoint")
        return SandboxInternalError(f"{what}: transport error ({type(e).__name__})")

    @staticmethod
    def _tool_error(tool: str, text: str) -> SandboxError:
        lowered = text.lower()
        if any(m in lowered for m in ("not found", "no such", "does not exist", "enoent")):
            return SandboxResourceNotFoundError(f"{tool}: {text.strip()}")
        return SandboxError(f"{tool} failed: {text.strip()}")


def _seconds(milliseconds: Any) -> float | None:
    """``executionTime`` is in milliseconds (service model); ExecutionResult wants seconds."""
    return None if milliseconds is None else float(milliseconds) / 1000.0


def _same_path(uri_path: str, asked: str) -> bool:
    asked = asked.removeprefix("./")
    return uri_path == asked or uri_path.endswith("/" + asked.lstrip("/"))


def _bootstrap_code() -> str:
    """Kernel code that installs the cell runner once per kernel (idempotent)."""
    return (
        'if not hasattr(globals().get("__bcx_runner__"), "run_in_kernel"):\n'
        '    __bcx_ns__ = {"__name__": "bcx_cell_runner"}\n'
        f'    exec(compile({_RUNNER_SOURCE!r}, "<bcx-runner>", "exec"), __bcx_ns__)\n'
        '    __bcx_ns__["make_runner"](globals())\n'
        "    del __bcx_ns__\n"
    )
