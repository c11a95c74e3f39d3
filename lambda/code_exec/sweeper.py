"""The sweeper: stop every READY sandbox session that no live owner holds.

An EventBridge schedule runs it (``sweeper_handler``). It lists the interpreter's READY
sessions (``ListCodeInterpreterSessions``) and, for each one older than the grace period,
asks the owner its name records (:mod:`code_exec.owners`) whether it still holds it:

* ``bcx-session-<id>``: the session record, unless it expired or was tombstoned, holds
  the sandbox session it records; while a request holds the lease and nothing is recorded
  yet, the one being started (:meth:`SessionRecord.holds`).
* ``bcx-job-<id>``: the job, while RUNNING and before its deadline (:meth:`JobRecord.holds`).
* ``bcx-request-<id>``: nothing; a buffered API request ends (and stops it) within the
  grace period.
* ``bcx-stream-<id>``: its name alone, for :data:`STREAM_HOLD_SECONDS` after it started; a
  streamed turn ends (and stops it) before its function's deadline, which no Lambda
  function's timeout puts further away.
* ``bcx-container-<id>``: the ``/v1/messages`` container until it expires (its rolling idle
  expiry, or its session's end): so the sandbox of a container nobody came back to is
  stopped once it expired (:meth:`ContainerRecord.holds`).
* any other name, or none: nothing (the interpreter belongs to this deployment).

Everything else is stopped and counted in the ``LeakedSessionsStopped`` metric; the READY
sessions left are reported as ``SandboxSessionsActive``. The sweeper only reads records
(``dynamodb:GetItem``, never the conversation in S3) and never writes them, and a session
record it finds wrong is left for its owner.

Each session is decided on its own: when its owner cannot be read (DynamoDB throttled,
unavailable, refused), that session is left alone, reported ``unchecked`` (and counted in
``SweepOwnersUnchecked``), and decided by a later sweep; the others are still swept. A
session that cannot be stopped is reported ``failed``.

The grace period is a setting (``SWEEP_GRACE_SECONDS``, :class:`~code_exec.config.RuntimeConfig`);
how often the sweeper runs is the stack's schedule.

Its AWS calls: ``bedrock-agentcore:ListCodeInterpreterSessions`` (every page),
``StopCodeInterpreterSession`` per leaked session (``GetCodeInterpreterSession`` when a
stop is refused, to tell an already stopped session), and ``dynamodb:GetItem`` per owner.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from code_exec.exceptions import CodeExecError, NotFoundError, SandboxError
from code_exec.observability import MetricUnit, metrics
from code_exec.owners import parse_owner

if TYPE_CHECKING:
    from code_exec.sandbox.sessions import SessionSummary  # the sandbox client loads on first use

__all__ = ["STREAM_HOLD_SECONDS", "SweepReport", "Sweeper"]

logger = logging.getLogger(__name__)

# Lambda's maximum function timeout: a streamed turn's one-shot session, started during its
# invocation, is stopped by that invocation before this long has passed.
STREAM_HOLD_SECONDS = 900.0


@dataclass
class SweepReport:
    """What one sweep saw and did (session ids)."""

    ready: int = 0
    stopped: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    young: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # could not be stopped
    unchecked: list[str] = field(default_factory=list)  # the owner could not be read

    def as_dict(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "stopped": self.stopped,
            "held": len(self.held),
            "young": len(self.young),
            "failed": self.failed,
            "unchecked": self.unchecked,
        }


class Sweeper:
    """Stops leaked sandbox sessions.

    Args:
        services: the Lambda's :class:`~code_exec.services.Services` (``sessions`` lists
            and stops, ``store`` reads owners).
        grace_seconds: sessions younger than this are left alone (default: the
            ``SWEEP_GRACE_SECONDS`` setting, read when a sweep starts).
        clock: wall clock (epoch seconds); owners' leases and deadlines are compared to it.
    """

    def __init__(
        self,
        services: Any,
        *,
        grace_seconds: float | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.s = services
        self.grace_seconds = grace_seconds
        self._clock = clock

    def sweep(self) -> SweepReport:
        """One pass over the interpreter's READY sessions."""
        now = (self._clock or self.s.clock)()
        grace = self.grace_seconds
        if grace is None:
            grace = self.s.config.sweep_grace_seconds
        report = SweepReport()
        for summary in self.s.sessions.list_sessions(status="READY"):
            report.ready += 1
            sid = summary.session_id
            if now - summary.created_at.timestamp() < grace:
                report.young.append(sid)
                continue
            try:
                held = self._held(summary, now)
            except (CodeExecError, ClientError, BotoCoreError):
                # one owner's read failing must not end the sweep: leave it for the next one
                logger.warning("could not read the owner of session %s", sid, exc_info=True)
                report.unchecked.append(sid)
                continue
            if held:
                report.held.append(sid)
            else:
                self._stop(summary, report)
        count = MetricUnit.Count
        metrics.add_metric(name="LeakedSessionsStopped", unit=count, value=len(report.stopped))
        metrics.add_metric(name="SweepOwnersUnchecked", unit=count, value=len(report.unchecked))
        active = report.ready - len(report.stopped)
        metrics.add_metric(name="SandboxSessionsActive", unit=count, value=active)
        logger.info("sweep: %s", report.as_dict())
        return report

    def _held(self, summary: SessionSummary, now: float) -> bool:
        owner = parse_owner(summary.name)
        if owner is None or owner.kind == "request":
            return False
        if owner.kind == "stream":
            return now - summary.created_at.timestamp() < STREAM_HOLD_SECONDS
        if owner.kind == "session":
            record = self.s.store.get_session(owner.key, history=False)
            return record is not None and record.holds(summary.session_id, now)
        if owner.kind == "container":
            container = self.s.store.get_container(owner.key)
            return container is not None and container.holds(summary.session_id, now)
        try:
            job = self.s.store.get_job(owner.key, payload=False)
        except NotFoundError:
            return False
        return job.holds(summary.session_id, now)

    def _stop(self, summary: SessionSummary, report: SweepReport) -> None:
        try:
            self.s.sessions.stop_session(summary.session_id)
        except SandboxError:
            logger.warning("could not stop leaked session %s", summary.session_id, exc_info=True)
            report.failed.append(summary.session_id)
            return
        logger.warning(
            "stopped leaked sandbox session %s (%s, started %s)",
            summary.session_id,
            summary.name or "no name",
            summary.created_at.isoformat(),
        )
        report.stopped.append(summary.session_id)
