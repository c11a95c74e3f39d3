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
(``dynamodb:GetItem``, never the conversation in S3) and never writes them: a throttled
table does not stop it, and a session record it finds wrong is left for its owner.

Its AWS calls: ``bedrock-agentcore:ListCodeInterpreterSessions`` (every page),
``StopCodeInterpreterSession`` per leaked session (``GetCodeInterpreterSession`` when a
stop is refused, to tell an already stopped session), and ``dynamodb:GetItem`` per owner.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from code_exec.exceptions import NotFoundError, SandboxError
from code_exec.observability import MetricUnit, metrics
from code_exec.owners import parse_owner
from code_exec.sandbox.sessions import SessionSummary

__all__ = ["GRACE_SECONDS", "STREAM_HOLD_SECONDS", "SweepReport", "Sweeper"]

logger = logging.getLogger(__name__)

# Longer than any owner can take between StartCodeInterpreterSession and recording the
# session (and than a buffered API request lives: API Gateway stops at 29 s), so a session
# being started is never stopped under its owner.
GRACE_SECONDS = 300.0
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
    failed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "stopped": self.stopped,
            "held": len(self.held),
            "young": len(self.young),
            "failed": self.failed,
        }


class Sweeper:
    """Stops leaked sandbox sessions.

    Args:
        services: the Lambda's :class:`~code_exec.services.Services` (``sessions`` lists
            and stops, ``store`` reads owners).
        grace_seconds: sessions younger than this are left alone.
        clock: wall clock (epoch seconds); owners' leases and deadlines are compared to it.
    """

    def __init__(
        self,
        services: Any,
        *,
        grace_seconds: float = GRACE_SECONDS,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.s = services
        self.grace_seconds = grace_seconds
        self._clock = clock

    def sweep(self) -> SweepReport:
        """One pass over the interpreter's READY sessions."""
        now = (self._clock or self.s.clock)()
        report = SweepReport()
        for summary in self.s.sessions.list_sessions(status="READY"):
            report.ready += 1
            sid = summary.session_id
            if now - summary.created_at.timestamp() < self.grace_seconds:
                report.young.append(sid)
            elif self._held(summary, now):
                report.held.append(sid)
            else:
                self._stop(summary, report)
        count = MetricUnit.Count
        metrics.add_metric(name="LeakedSessionsStopped", unit=count, value=len(report.stopped))
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
