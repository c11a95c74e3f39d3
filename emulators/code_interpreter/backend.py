"""In-memory backend: sessions, expiry, fault injection, traffic. Typed methods, no HTTP."""

from __future__ import annotations

import logging
import queue
import secrets
import shutil
import string
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import EmulatorConfig
from .exceptions import (
    EmulatorError,
    ResourceNotFoundException,
    ServiceQuotaExceededException,
    ValidationException,
    error_class,
)
from .kernel import Kernel
from .sandbox import Sandbox, bwrap_problem
from .session import READY, TERMINATED, Session
from .tools import run_tool
from .traffic import Traffic
from .zygote import KernelZygote

__all__ = ["CodeInterpreterBackend", "Fault"]

log = logging.getLogger(__name__)

_ID_ALPHABET = string.ascii_uppercase + string.digits
_MAX_TIMEOUT = 28800
_KEEP_TERMINATED = 3600.0  # seconds a terminated session stays visible to Get/List


@dataclass
class Fault:
    """An injected error: the next matching invoke fails with it."""

    error: str  # AWS code or stream event name, e.g. "throttlingException"
    message: str = "Injected fault"
    session_id: str | None = None  # None: any session
    mode: str = "stream"  # "stream": exception event in a 200 stream; "http": REST-JSON error
    count: int = 1
    operation: str = "InvokeCodeInterpreter"  # "http" mode may target any implemented operation

    def build(self) -> EmulatorError:
        return error_class(self.error)(self.message)


class CodeInterpreterBackend:
    """All sessions of one emulator process."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        problem = None if config.unisolated else bwrap_problem()
        if problem:
            raise RuntimeError(
                f"{problem}. Install bubblewrap (apt-get install bubblewrap) where user "
                "namespaces are allowed, or set CODE_INTERPRETER_EMULATOR_UNISOLATED=1 / "
                "--unisolated to run code WITHOUT any isolation."
            )
        self._own_state = not config.state_dir
        self.state_root = Path(config.state_dir or tempfile.mkdtemp(prefix="ci-emulator-"))
        self.state_root.mkdir(parents=True, exist_ok=True)
        self._sessions: dict[str, Session] = {}
        self._tokens: dict[str, str] = {}
        self._faults: list[Fault] = []
        self.traffic = Traffic(
            per_session=config.max_rps_per_session, per_account=config.max_rps_per_account
        )
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        # kernels forked from one process that imported ipykernel (the sandbox is bubblewrap's)
        self._zygote = None if config.unisolated else KernelZygote()
        self._pool: queue.Queue[tuple[Sandbox, Kernel]] = queue.Queue()
        self._refill_needed = threading.Event()
        self._reaper = threading.Thread(target=self._reap, name="session-reaper", daemon=True)
        self._reaper.start()
        self._refiller = threading.Thread(target=self._refill, name="warm-pool", daemon=True)
        if config.warm_pool > 0:
            self._refill_needed.set()
            self._refiller.start()

    # --- sessions -----------------------------------------------------------------------

    def start_session(
        self,
        interpreter_id: str,
        *,
        name: str | None = None,
        timeout_seconds: int | None = None,
        client_token: str | None = None,
    ) -> Session:
        timeout = (
            self.config.default_session_timeout if timeout_seconds is None else timeout_seconds
        )
        if not isinstance(timeout, int) or not 1 <= timeout <= _MAX_TIMEOUT:
            raise ValidationException(
                f"sessionTimeoutSeconds must be between 1 and {_MAX_TIMEOUT}",
                field="sessionTimeoutSeconds",
            )
        with self._lock:
            if client_token and client_token in self._tokens:
                return self._sessions[self._tokens[client_token]]
            ready = sum(1 for s in self._sessions.values() if s.status == READY)
            if ready >= self.config.max_sessions:
                raise ServiceQuotaExceededException(
                    f"Too many active sessions ({self.config.max_sessions})"
                )
        sandbox, kernel = self._take_prepared()
        session = Session(
            session_id=sandbox.session_id,
            interpreter_id=interpreter_id,
            name=name,
            timeout_seconds=timeout,
            sandbox=sandbox,
            kernel=kernel,
            expires_at=time.monotonic() + timeout,
        )
        with self._lock:
            self._sessions[session.session_id] = session
            if client_token:
                self._tokens[client_token] = session.session_id
        if not sandbox.isolated:
            log.warning(
                "!!! session %s runs UNISOLATED: code has full access to this machine !!!",
                session.session_id,
            )
        log.info("session %s started (interpreter %s)", session.session_id, interpreter_id)
        return session

    # --- warm pool: sandboxes whose kernel is already starting or ready -------------------

    def _prepare(self) -> tuple[Sandbox, Kernel]:
        session_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(26))
        sandbox = Sandbox(session_id, self.config, self.state_root)
        try:
            sandbox.create()
        except Exception:
            sandbox.destroy()
            raise
        kernel = Kernel(sandbox, interrupt_grace=self.config.interrupt_grace, zygote=self._zygote)
        kernel.start_async()
        return sandbox, kernel

    def _take_prepared(self) -> tuple[Sandbox, Kernel]:
        while True:
            try:
                sandbox, kernel = self._pool.get_nowait()
            except queue.Empty:
                return self._prepare()
            finally:
                self._refill_needed.set()
            if kernel.healthy():
                return sandbox, kernel
            kernel.close()
            sandbox.destroy()

    def _refill(self) -> None:
        while not self._stopping.is_set():
            self._refill_needed.wait(1.0)
            self._refill_needed.clear()
            while not self._stopping.is_set() and self._pool.qsize() < self.config.warm_pool:
                try:
                    self._pool.put(self._prepare())
                except Exception:
                    log.exception("could not prepare a warm sandbox")
                    break

    def get_session(self, interpreter_id: str, session_id: str) -> Session:
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None or session.interpreter_id != interpreter_id:
            raise ResourceNotFoundException(
                f"Session {session_id} not found for code interpreter {interpreter_id}"
            )
        return session

    def find_session(self, session_id: str) -> Session:
        """A session by id alone (admin endpoints)."""
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None:
            raise ResourceNotFoundException(f"Session {session_id} not found")
        return session

    def ready_session(self, interpreter_id: str, session_id: str | None) -> Session:
        """The session an invoke targets; it must exist and be READY."""
        if not session_id:
            raise ValidationException("sessionId is required", field="sessionId")
        session = self.get_session(interpreter_id, session_id)
        if session.status != READY:
            raise ResourceNotFoundException(f"Session {session_id} is terminated")
        return session

    def stop_session(self, interpreter_id: str, session_id: str) -> Session:
        session = self.get_session(interpreter_id, session_id)
        self._terminate(session, reason="stopped")
        return session

    def list_sessions(
        self,
        interpreter_id: str,
        *,
        status: str | None = None,
        max_results: int = 10,
        next_token: str | None = None,
    ) -> tuple[list[Session], str | None]:
        with self._lock:
            matching = [
                s
                for s in self._sessions.values()
                if s.interpreter_id == interpreter_id and (status is None or s.status == status)
            ]
        matching.sort(key=lambda s: (s.created_at, s.session_id))
        start = 0
        if next_token:
            ids = [s.session_id for s in matching]
            if next_token not in ids:
                raise ValidationException("Invalid nextToken", field="nextToken")
            start = ids.index(next_token)
        page = matching[start : start + max_results]
        more = matching[start + max_results : start + max_results + 1]
        return page, (more[0].session_id if more else None)

    def _terminate(self, session: Session, *, reason: str) -> None:
        with session.lock:
            if session.status == TERMINATED:
                return
            session.status = TERMINATED
            session.touch()
        session.kernel.close()
        session.sandbox.destroy()
        log.info("session %s %s", session.session_id, reason)

    # --- tools --------------------------------------------------------------------------

    def admit(self, operation: str, session_id: str | None, account: str) -> None:
        """Count a data-plane request; :class:`ThrottlingException` when over a rate limit."""
        self.traffic.admit(operation, session_id, account)

    def invoke(self, session: Session, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Run one tool; :class:`EmulatorError` means an exception event."""
        self.traffic.count_tool(session.session_id, tool)
        fault = self.take_fault(session.session_id, "stream", "InvokeCodeInterpreter")
        if fault is not None:
            raise fault
        if not isinstance(arguments, dict):
            raise ValidationException("arguments must be an object", field="arguments")
        result = run_tool(session, tool, arguments, self.config.cell_timeout)
        if session.status != READY:  # expired or stopped while running
            raise ResourceNotFoundException(f"Session {session.session_id} is terminated")
        return result

    # --- faults -------------------------------------------------------------------------

    def inject_fault(self, fault: Fault) -> None:
        if fault.mode not in ("stream", "http"):
            raise ValidationException("mode must be 'stream' or 'http'", field="mode")
        if fault.mode == "stream" and fault.operation != "InvokeCodeInterpreter":
            raise ValidationException("only InvokeCodeInterpreter has a stream", field="mode")
        try:
            fault.build()
        except KeyError:
            raise ValidationException(f"Unknown exception {fault.error!r}", field="error") from None
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def take_fault(self, session_id: str | None, mode: str, operation: str) -> EmulatorError | None:
        """Pop the first fault that matches this session, mode and operation."""
        with self._lock:
            for fault in self._faults:
                if (
                    fault.mode == mode
                    and fault.operation == operation
                    and fault.session_id in (None, session_id)
                ):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return fault.build()
        return None

    # --- housekeeping -------------------------------------------------------------------

    def _reap(self) -> None:
        while not self._stopping.wait(0.5):
            now = time.monotonic()
            with self._lock:
                sessions = list(self._sessions.values())
            for s in sessions:
                if s.status == READY and now >= s.expires_at:
                    self._terminate(s, reason="expired")
                elif s.status == TERMINATED and now >= s.expires_at + _KEEP_TERMINATED:
                    with self._lock:
                        self._sessions.pop(s.session_id, None)
                    self.traffic.forget(s.session_id)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            sessions = list(self._sessions.values())
        return {
            "sessions": sum(1 for s in sessions if s.status == READY),
            "isolated": not self.config.unisolated,
            "cellTimeout": self.config.cell_timeout,
            "throttled": self.traffic.throttled,
        }

    def shutdown(self) -> None:
        """Terminate every session and remove the state directory."""
        self._stopping.set()
        if self._refiller.is_alive():
            self._refiller.join(timeout=30)
        while not self._pool.empty():
            sandbox, kernel = self._pool.get_nowait()
            kernel.close()
            sandbox.destroy()
        with self._lock:
            sessions = list(self._sessions.values())
        for s in sessions:
            try:
                self._terminate(s, reason="shut down")
            except Exception:
                log.exception("failed to terminate session %s", s.session_id)
        if self._zygote is not None:
            self._zygote.close()
        if self._own_state:
            shutil.rmtree(self.state_root, ignore_errors=True)
