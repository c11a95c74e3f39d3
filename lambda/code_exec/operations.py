"""What the routes and the job machine do, without HTTP: sessions, turns, code runs, jobs.

Session rules (documented in the README):

* A request without a session id gets a one-shot sandbox session that is ALWAYS
  stopped when the request ends (``finally``).
* A request with a session id uses the session of that name, creating it on first
  use. Its sandbox session id, conversation history and metadata persist in
  DynamoDB (TTL ``SESSION_TTL_SECONDS``, renewed on every use); Python state and
  files continue until the sandbox session expires or ``DELETE /sessions/{id}``.
* Only one request at a time may use a session: a conditional lease in DynamoDB (with
  expiry, given back by the request's last save, else in ``finally``) answers 409 to the second.
* When the sandbox session behind a stored session has expired or was stopped,
  the request answers **410 SessionExpired** (the session is marked stopped; it
  never silently restarts, which would lose state the caller relies on).
  ``DELETE /sessions/{id}`` clears it, after which the id starts fresh.
* Once the code has run, nothing after it fails the request: output collection and the
  session's save report into ``after_run_errors`` (:mod:`code_exec.after_run`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from code_exec import deadline
from code_exec.after_run import AfterRun
from code_exec.exceptions import (
    RequestValidationError,
    SandboxError,
    SessionExpiredError,
    SessionNotFoundError,
)
from code_exec.models import AfterRunError, AgentRequest, AgentResult, InputFile
from code_exec.observability import MetricUnit, metrics
from code_exec.owners import Owner, request_owner, session_owner
from code_exec.sandbox import ExecutionResult
from code_exec.services import Services
from code_exec.store import SessionGoneError, SessionRecord

if TYPE_CHECKING:  # these, the agent and skills are imported where a turn or code run uses them
    from code_exec.loops.events import TurnStream
    from code_exec.outputs import Collected

__all__ = ["API_WALL_TIME_SECONDS", "ActiveSession", "Operations"]

logger = logging.getLogger(__name__)

API_WALL_TIME_SECONDS = 22  # API Gateway REST integrations stop at 29 s
API_LEASE_SECONDS = 60  # longer than any synchronous request can run
JOB_LEASE_MARGIN_SECONDS = 60


@dataclass
class ActiveSession:
    """The sandbox session a request runs in."""

    sandbox_session_id: str
    run_id: str
    session_id: str | None = None  # the caller's session id; None for a one-shot session
    record: SessionRecord | None = None

    @property
    def key_prefix(self) -> str:
        """S3 prefix for this run's output files."""
        return f"files/sessions/{self.session_id or self.sandbox_session_id}/{self.run_id}"


class Operations:
    """Use cases over injected :class:`~code_exec.services.Services`."""

    def __init__(self, services: Services) -> None:
        self.s = services

    # --- sessions -----------------------------------------------------------------------

    @contextmanager
    def session(
        self,
        session_id: str | None,
        *,
        lease_seconds: float = API_LEASE_SECONDS,
        on_started: Callable[[str], None] | None = None,
        owner: Owner | None = None,
    ) -> Iterator[ActiveSession]:
        """The sandbox session for one request, leased and cleaned up on the way out.

        Every sandbox session is started with its owner's name (:mod:`code_exec.owners`):
        the named session, else ``owner`` (a job, a streamed turn), else this request. A
        named session's or a job's record (the lease, the RUNNING job) exists before the
        start, so the sweeper can attribute the session even if this Lambda dies before
        recording its id.
        """
        run_id = self.s.new_id()
        sandbox = self.s.sandbox
        if session_id is None:
            sb = self._start_sandbox(owner or request_owner(run_id))
            try:
                if on_started:
                    on_started(sb)
                self.s.files.prepare(sandbox, sb)
                yield ActiveSession(sandbox_session_id=sb, run_id=run_id)
            finally:
                self.stop_quietly(sb)
            return

        lease = run_id
        record = self.s.store.acquire_session(session_id, lease, lease_seconds)
        released = False  # the last save gives the lease back in the same write
        try:
            if record.stopped:
                raise self._expired(session_id)
            if record.sandbox_session_id is None:
                started = self._start_sandbox(session_owner(session_id))
                try:
                    self.s.files.prepare(sandbox, started)
                    record.sandbox_session_id = started
                    self.s.store.save_session(record, lease)  # saved at once: never leak it
                except Exception:
                    self.stop_quietly(started)  # not recorded: stop it now, not at the next sweep
                    raise
            elif sandbox.session_status(record.sandbox_session_id) != "READY":
                self.s.store.mark_session_stopped(session_id, lease)
                raise self._expired(session_id)
            if on_started:
                on_started(record.sandbox_session_id)
            active = ActiveSession(
                sandbox_session_id=record.sandbox_session_id,
                run_id=run_id,
                session_id=session_id,
                record=record,
            )
            try:
                yield active
            except SessionNotFoundError as e:
                self.s.store.mark_session_stopped(session_id, lease)
                raise self._expired(session_id) from e
            try:
                self.s.store.save_session(record, lease, release=True)
            except SessionGoneError:  # DELETE /sessions/{id} while this request ran
                logger.warning("session %s was deleted during the request", session_id)
            released = True  # by the save, or there is no lease of ours left to give back
        finally:
            if not released:
                self.s.store.release_session(session_id, lease)

    def _start_sandbox(self, owner: Owner) -> str:
        timeout = self.s.config.session_timeout_seconds
        try:
            return str(
                self._timed(
                    "SandboxStartLatency",
                    lambda: self.s.sandbox.start_session(name=owner.name, timeout_seconds=timeout),
                )
            )
        except Exception:
            metrics.add_metric(name="SandboxStartFailures", unit=MetricUnit.Count, value=1)
            raise

    @staticmethod
    def _expired(session_id: str) -> SessionExpiredError:
        return SessionExpiredError(
            f"session {session_id!r} has expired or was stopped; DELETE /sessions/{session_id} "
            "to reuse the id, or use a new session id",
            field="session_id",
        )

    def stop_quietly(self, sandbox_session_id: str) -> None:
        try:
            self.s.sandbox.stop_session(sandbox_session_id)
        except SandboxError:
            logger.warning("could not stop sandbox session %s", sandbox_session_id, exc_info=True)

    def delete_session(self, session_id: str) -> bool:
        """Stop the session's sandbox now and forget the session. True if it existed.

        Does not wait for a lease: DELETE is the kill switch for a runaway session.
        """
        record = self.s.store.get_session(session_id)
        if record is None:
            return False
        if record.sandbox_session_id:
            self.s.sandbox.stop_session(record.sandbox_session_id)  # idempotent
        self.s.store.delete_session(session_id)
        return True

    # --- direct code execution ----------------------------------------------------------

    def execute(
        self,
        session_id: str,
        *,
        code: str | None,
        command: str | None,
        language: str = "python",
        clear_context: bool = False,
        files: list[InputFile] | None = None,
    ) -> tuple[ExecutionResult, Collected, float, list[AfterRunError]]:
        """Run code or a command in the named session; its result, files (and what was not
        collected), duration, and what failed after the code ran (reported, never raised:
        :mod:`code_exec.after_run`)."""
        from code_exec.outputs import Collected

        inputs = self.s.files.load_inputs(files or [])
        outputs = Collected()  # defined whatever fails after the run
        with AfterRun() as after, self.session(session_id) as active:
            sandbox, sb = self.s.sandbox, active.sandbox_session_id
            self.s.files.write_inputs(sandbox, sb, inputs)
            start = time.perf_counter()
            if command is not None:
                result = sandbox.execute_command(sb, command)
            elif language == "python" and not clear_context:
                result = sandbox.run_cell(sb, code or "", timeout_seconds=_cell_limit())
            else:
                result = sandbox.execute_code(
                    sb, code or "", language=language, clear_context=clear_context
                )
            duration_ms = (time.perf_counter() - start) * 1000.0
            after.ran()  # from here on, a failure must not lose the result
            metrics.add_metric(name="CodeRuns", unit=MetricUnit.Count, value=1)
            metrics.add_metric(
                name="SandboxExecLatency", unit=MetricUnit.Milliseconds, value=duration_ms
            )
            if not result.ok:
                metrics.add_metric(name="CodeRunErrors", unit=MetricUnit.Count, value=1)
            outputs = after.collect(
                active,
                lambda: self.s.files.collect_outputs(sandbox, sb, key_prefix=active.key_prefix),
                Collected(),
            )
        return result, outputs, duration_ms, after.errors

    # --- agent turns ----------------------------------------------------------------------

    def check_request(self, request: AgentRequest) -> AgentRequest:
        """Resolve the model id and validate what pydantic cannot (allow-list, thinking, files).

        Nothing is downloaded here: input files are checked for shape only (the turn
        reads them once, :meth:`invoke`).
        """
        from code_exec.agent import check_thinking, check_tools, check_web, resolve_model_id
        from code_exec.anthropic.skills import parse_refs

        model_id = resolve_model_id(request, self.s.config)
        check_thinking(request, model_id)
        check_web(request)
        self.s.files.check_inputs(request.files)  # fail fast on bad files, before any sandbox
        if request.loop != "claude_code":  # Claude Code brings its own tools
            check_tools(request.tools, self.s.registry)  # a job would only fail later
        if parse_refs(request.skills, "skills") and not request.skills_owner:
            raise RequestValidationError(
                "name the API key owner whose skills these are", field="skills_owner"
            )
        return request.model_copy(update={"model_id": model_id})

    def invoke(
        self,
        request: AgentRequest,
        *,
        wall_time_cap: float | None = API_WALL_TIME_SECONDS,
        lease_seconds: float = API_LEASE_SECONDS,
        on_started: Callable[[str], None] | None = None,
        stream: TurnStream | None = None,
        owner: Owner | None = None,
    ) -> AgentResult:
        """Run one agent turn; the session (if any) keeps its history for the next turn.

        ``wall_time_cap`` (None: none) caps the request's wall-time limit: the buffered
        route stays under API Gateway's 29 s. ``stream`` streams the turn (see
        :class:`~code_exec.loops.events.TurnStream`); ``on_started`` gets the sandbox
        session id once the session is ready, before the turn starts. ``owner`` names who
        owns a one-shot sandbox session (a job, a streamed turn); see :meth:`session`.
        """
        request = self.check_request(request)
        if wall_time_cap is not None and request.limits.wall_time_seconds > wall_time_cap:
            limits = request.limits.model_copy(update={"wall_time_seconds": int(wall_time_cap)})
            request = request.model_copy(update={"limits": limits})
        from code_exec.anthropic.skills_invoke import place_skills, resolve_skills
        from code_exec.outputs import Collected

        inputs = self.s.files.load_inputs(request.files)
        used = resolve_skills(self.s, request)
        outputs = Collected()  # defined whatever fails after the run
        with (
            AfterRun() as after,
            self.session(
                request.session_id, lease_seconds=lease_seconds, on_started=on_started, owner=owner
            ) as active,
        ):
            history: list[Any] = []
            if active.record is not None:
                history = self._history_for(active.record, request)
            self.s.files.write_inputs(self.s.sandbox, active.sandbox_session_id, inputs)
            request = place_skills(self.s, used, active, request)
            run = self._run_agent(request, active, history, stream)
            after.ran()
            outputs = after.collect(
                active,
                lambda: self.s.files.collect_outputs(
                    self.s.sandbox, active.sandbox_session_id, key_prefix=active.key_prefix
                ),
                Collected(),
            )
            if (record := active.record) is not None:
                record.history = list(run.history)
                record.metadata = {**record.metadata, "loop": request.loop, "mode": request.mode}
        result: AgentResult = run.result
        result = result.model_copy(
            update={
                "session_id": request.session_id,
                "files": [*result.files, *outputs.files],
                "files_skipped": [*result.files_skipped, *outputs.skipped],
                "after_run_errors": [*result.after_run_errors, *after.errors],
            }
        )
        self._record_usage(result)
        return result

    @staticmethod
    def _history_for(record: SessionRecord, request: AgentRequest) -> list[Any]:
        """The session's conversation, if this request can continue it.

        Its loop fixes the wire format of the stored history, and its mode the tools the
        history's tool-use blocks refer to (a PTC conversation continued in direct mode
        without tools would be a request Bedrock rejects), so both must match.
        """
        for name in ("loop", "mode"):
            held, wanted = record.metadata.get(name), getattr(request, name)
            if record.history and held and held != wanted:
                raise RequestValidationError(
                    f"session {record.session_id!r} holds a {name} {held!r} conversation; "
                    f"use {name} {held!r} or a new session id",
                    field=name,
                )
        return record.history

    def _run_agent(
        self,
        request: AgentRequest,
        active: ActiveSession,
        history: list[Any],
        stream: TurnStream | None = None,
    ) -> Any:
        from code_exec.agent import AgentDeps

        deps = AgentDeps(
            bedrock=self.s.bedrock,
            sandbox=self.s.sandbox,
            sandbox_session_id=active.sandbox_session_id,
            history=history,
            config=self.s.config,
            registry=self.s.registry,
            stream=stream,
            web_search=self.s.web_search if request.web and request.web.search else None,
            web_fetcher=self.s.web_fetcher if request.web and request.web.fetch else None,
        )
        return self.s.run_agent(request, deps=deps)

    @staticmethod
    def _record_usage(result: AgentResult) -> None:
        count = MetricUnit.Count
        for u in result.usage:
            metrics.add_metric(name="InputTokens", unit=count, value=u.input_tokens)
            metrics.add_metric(name="OutputTokens", unit=count, value=u.output_tokens)
            metrics.add_metric(
                name="CacheReadInputTokens", unit=count, value=u.cache_read_input_tokens
            )
            metrics.add_metric(
                name="CacheWriteInputTokens", unit=count, value=u.cache_write_input_tokens
            )
        metrics.add_metric(name="ModelCalls", unit=count, value=len(result.usage))
        metrics.add_metric(name="CodeRuns", unit=count, value=len(result.code_runs))
        errors = sum(1 for run in result.code_runs if run.is_error)
        metrics.add_metric(name="CodeRunErrors", unit=count, value=errors)

    def _timed(self, name: str, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        try:
            return fn()
        finally:
            ms = (time.perf_counter() - start) * 1000.0
            metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=ms)


def _cell_limit() -> float | None:
    """A direct cell's time limit: what the request's deadline leaves for it
    (:meth:`~code_exec.deadline.Deadline.cell_seconds`), so the cell is interrupted in the
    sandbox (the session survives, the route answers) rather than cut off by the call's
    timeout while it runs on. None outside a request with a deadline."""
    bound = deadline.current()
    if bound is None:
        return None
    bound.check("the cell")
    limit = bound.cell_seconds()
    return None if limit is None else max(0.5, limit)
