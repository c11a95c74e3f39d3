"""One client for the code interpreter data plane (boto3 ``bedrock-agentcore``).

Everything the runtime does in a sandbox goes through :class:`SandboxClient`: sessions,
Python cells, shell commands, files and background commands. Locally the same boto3
client is pointed at the emulator with ``AWS_ENDPOINT_URL_BEDROCK_AGENTCORE``; there is
no second code path.

The response event stream is parsed completely (all ``result`` events, every exception
event; :mod:`code_exec.sandbox.invoke_events`), and every vendor error is translated where the
vendor is called into :mod:`code_exec.exceptions` (raised ``from`` the original; the
translation and retry classification live in :mod:`code_exec.sandbox.errors`), so
nothing from botocore leaks above this client.

Retries: botocore's own retries are off on clients built here (``total_max_attempts=1``)
because they cannot tell a cell that may have run from one that did not. This client
retries with exponential backoff and full jitter instead, and only when that is safe:
throttling always (the request was refused), a connection that never opened always, and
internal/connection failures only for idempotent tools (reads, listings, writes of the
same content, task status). A cell or command is never re-run once it may have executed.
Throttling may get a larger budget (``throttled_attempts``; see ``errors.THROTTLED_ATTEMPTS``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from code_exec import clients
from code_exec.exceptions import (
    SandboxConflictError,
    SandboxError,
    SandboxInternalError,
    SandboxResourceNotFoundError,
    SandboxValidationError,
    SessionExpiredError,
    SessionNotFoundError,
)
from code_exec.sandbox.errors import (
    IDEMPOTENT_TOOLS,
    Attempt,
    client_error_parts,
    is_retry_safe,
    is_unsent,
    retrying,
    service_error,
    tool_error,
    transport_error,
)
from code_exec.sandbox.invoke_events import (
    FileEntry,
    ParsedStream,
    entries_from,
    execution_result,
    files_from,
    parse_stream,
    task_status,
)
from code_exec.sandbox.types import ExecutionResult, SandboxFile, TaskStatus

__all__ = ["FileEntry", "SandboxClient", "make_client"]

logger = logging.getLogger(__name__)

# Sandbox-side source owned by the PTC package: read as text and sent in, never imported.
_RUNNER_SOURCE = (Path(__file__).resolve().parents[1] / "ptc/cell_runner.py").read_text()
# isError on these describes the code/command/task, not a failed request.
_RESULT_TOOLS = frozenset({"executeCode", "executeCommand", "getTask", "stopTask"})


def make_client(
    region: str | None = None, *, read_timeout: int = 900, connect_timeout: int = 10
) -> Any:
    """A boto3 ``bedrock-agentcore`` client configured for long cells.

    ``read_timeout`` must exceed the longest cell (900 s by default, not botocore's 60);
    botocore retries are disabled because :class:`SandboxClient` retries per operation.
    Both timeouts are cut to the request's deadline at each call (:mod:`code_exec.clients`).
    """
    config = Config(
        read_timeout=read_timeout,
        connect_timeout=connect_timeout,
        tcp_keepalive=True,
        user_agent_extra="bedrock-code-execution",
    )
    return clients.make("bedrock-agentcore", config=config, attempts=1, region_name=region)


class SandboxClient:
    """The code interpreter data plane: sessions, code, commands, files, background tasks."""

    def __init__(
        self,
        interpreter_id: str,
        *,
        client: Any = None,
        region: str | None = None,
        max_attempts: int = 5,
        throttled_attempts: int | None = None,
        read_timeout: int = 900,
        backoff_base: float = 0.25,
        backoff_max: float = 8.0,
    ) -> None:
        self.interpreter_id = interpreter_id
        self._client = client or make_client(region, read_timeout=read_timeout)
        attempts = max(1, max_attempts)
        self._limits = (attempts, backoff_base, backoff_max, max(attempts, throttled_attempts or 0))
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
        try:
            boot = self.execute_code(session_id, _bootstrap_code())
            if not boot.ok:
                tail = boot.stderr[-500:]
                raise SandboxInternalError(f"could not install the cell runner: {tail}")
        except BaseException:  # nobody else holds the id yet: stop it, or it runs to timeout
            with suppress(SandboxError):
                self.stop_session(session_id)
            raise
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
        self,
        session_id: str,
        code: str,
        *,
        language: str = "python",
        clear_context: bool = False,
        idempotent: bool = False,
    ) -> ExecutionResult:
        """Run code in the session's kernel as is (``executeCode``).

        ``idempotent``: running the code twice has the effect of running it once, so an
        internal or connection failure is retried like a read (never set for model code).
        """
        args: dict[str, Any] = {"code": code, "language": language}
        if clear_context:
            args["clearContext"] = True
            self._runner_ready.discard(session_id)
        parsed = self._invoke(session_id, "executeCode", args, idempotent=idempotent)
        return execution_result(parsed)

    def run_cell(
        self, session_id: str, code: str, *, timeout_seconds: float | None = None
    ) -> ExecutionResult:
        """Run a model's cell: top-level ``await`` works, globals persist across cells.

        Goes through the cell runner (``code_exec/ptc/cell_runner.py``), not the kernel's autoawait.
        ``timeout_seconds`` interrupts a runaway cell inside the sandbox (the session
        survives and the next cell runs); the service's own limit still applies.
        """
        # The runner prints the cell's trailing value itself and returns None, so the kernel
        # has nothing to display, whatever its ast_node_interactivity.
        body = f"__bcx_runner__.run_in_kernel({code!r}, {timeout_seconds!r})\n"
        if session_id in self._runner_ready:
            # A guard raises a per-call marker before the cell when the runner is gone. The
            # marker is built at run time (the source never holds it whole), so nothing the
            # cell prints or raises can pass for it, and a cell that ran is never re-run.
            nonce = uuid.uuid4().hex
            guard = (
                'if not hasattr(globals().get("__bcx_runner__"), "run_in_kernel"):\n'
                f'    raise NameError("bcx-runner-missing-%s" % {nonce!r})\n'
            )
            result = self.execute_code(session_id, guard + body)
            if not (result.is_error and f"bcx-runner-missing-{nonce}" in result.stderr):
                return result
            # The kernel was restarted (clearContext, a runaway cell): the cell never ran.
            logger.info("cell runner missing in session %s; reinstalling", session_id)
        result = self.execute_code(session_id, f"{_bootstrap_code()}\n{body}")
        self._runner_ready.add(session_id)
        return result

    def execute_command(self, session_id: str, command: str) -> ExecutionResult:
        """Run a shell command to completion (``executeCommand``)."""
        return execution_result(self._invoke(session_id, "executeCommand", {"command": command}))

    def start_command(self, session_id: str, command: str) -> str:
        """Start a background command (``startCommandExecution``); return its task id."""
        parsed = self._invoke(session_id, "startCommandExecution", {"command": command})
        task_id = parsed.structured.get("taskId")
        if not task_id:
            raise SandboxInternalError("startCommandExecution returned no taskId")
        return str(task_id)

    def get_task(self, session_id: str, task_id: str) -> TaskStatus:
        """Status and output so far of a background command."""
        return task_status(self._invoke(session_id, "getTask", {"taskId": task_id}), task_id)

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
        return files_from(parsed, list(paths))

    def list_files(self, session_id: str, directory: str = "") -> list[str]:
        """Paths of the entries of ``directory`` (the workspace when empty), as the service
        names them; like ``listFiles``, not recursive (directories are listed too)."""
        return [e.path for e in self.list_entries(session_id, directory)]

    def list_entries(self, session_id: str, directory: str = "") -> list[FileEntry]:
        """Like :meth:`list_files`, with whether each entry is a directory and its size.

        One level only: a walk of a tree the sandbox's code made must bound its depth and
        width itself (see ``code_exec.outputs``), never recurse.
        """
        parsed = self._invoke(session_id, "listFiles", {"directoryPath": directory})
        return entries_from(parsed)

    def remove_files(self, session_id: str, paths: list[str]) -> None:
        """Remove files."""
        self._invoke(session_id, "removeFiles", {"paths": list(paths)})

    # --- plumbing --------------------------------------------------------------------

    def _invoke(
        self,
        session_id: str,
        tool: str,
        arguments: dict[str, Any],
        *,
        check: bool = True,
        idempotent: bool = False,
    ) -> ParsedStream:
        """``invoke_code_interpreter`` with the whole stream parsed, errors typed, retries."""
        idempotent = idempotent or tool in IDEMPOTENT_TOOLS

        def to_error(code: str, message: str) -> SandboxError:
            return self._map(code, message, session_id)

        def once() -> ParsedStream:
            try:
                resp = self._client.invoke_code_interpreter(
                    codeInterpreterIdentifier=self.interpreter_id,
                    sessionId=session_id,
                    name=tool,
                    arguments=arguments,
                )
            except ClientError as e:  # refused before any stream: HTTP error status
                code, msg = client_error_parts(e)
                raise Attempt(to_error(code, msg), is_retry_safe(code, idempotent)) from e
            except BotoCoreError as e:
                raise Attempt(transport_error(e, tool), is_unsent(e) or idempotent) from e
            return parse_stream(resp["stream"], tool, idempotent=idempotent, to_error=to_error)

        try:
            parsed: ParsedStream = self._retry(once, tool, session_id)
        except SessionNotFoundError as e:
            raise self._classify_not_found(session_id, tool, e) from e.__cause__
        self._known.add(session_id)
        if check and parsed.is_error and tool not in _RESULT_TOOLS:
            raise tool_error(tool, parsed.text or parsed.structured.get("stderr", ""))
        return parsed

    def _call(self, op: str, session_id: str | None, *, retry_safe: bool, **kwargs: Any) -> Any:
        """A non-stream operation, with ClientError mapped and safe retries."""

        def once() -> Any:
            try:
                return getattr(self._client, op)(**kwargs)
            except ClientError as e:
                code, msg = client_error_parts(e)
                raise Attempt(self._map(code, msg, session_id), is_retry_safe(code, True)) from e
            except BotoCoreError as e:
                raise Attempt(transport_error(e, op), retry_safe or is_unsent(e)) from e

        return self._retry(once, op, session_id)

    def _retry(self, once: Any, what: str, session_id: str | None) -> Any:
        return retrying(once, *self._limits, what=f"{what} on session {session_id}")

    def _map(self, code: str, message: str, session_id: str | None) -> SandboxError:
        known = session_id is not None and session_id in self._known
        return service_error(code, message, session_id, known_session=known)

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


def _bootstrap_code() -> str:
    """Kernel code that installs the cell runner once per kernel (idempotent)."""
    return (
        'if not hasattr(globals().get("__bcx_runner__"), "run_in_kernel"):\n'
        '    __bcx_ns__ = {"__name__": "bcx_cell_runner"}\n'
        f'    exec(compile({_RUNNER_SOURCE!r}, "<bcx-runner>", "exec"), __bcx_ns__)\n'
        '    __bcx_ns__["make_runner"](globals())\n'
        "    del __bcx_ns__\n"
    )
