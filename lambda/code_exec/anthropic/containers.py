"""A request's container: found (and leased) or created on first use, saved and released.

``container_...`` ids map to an AgentCore sandbox session and a DynamoDB record
(:mod:`code_exec.store.container_records`). A container is the key owner's: another owner's id
answers 404 exactly as an unknown one does, so ids cannot be probed. It expires at the
earlier of its rolling idle expiry (last use + ``CONTAINER_IDLE_SECONDS``) and the end of its
sandbox session (start + ``SESSION_TIMEOUT_SECONDS``: AgentCore sessions cannot be extended);
an expired id answers 404 and its sandbox is stopped (by the request that finds it expired,
or by the sweeper: the session is named for the container, :mod:`code_exec.owners`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from code_exec.anthropic.ids import new_container_id
from code_exec.exceptions import NotFoundError, SandboxError
from code_exec.owners import container_owner
from code_exec.store import ContainerRecord

__all__ = ["LEASE_SECONDS", "ContainerSession", "rfc3339"]

logger = logging.getLogger(__name__)

LEASE_SECONDS = 60.0  # a request's lease unless it says how long it may run


def rfc3339(epoch: float) -> str:
    """``2026-02-25T20:07:37.475893Z`` (what Anthropic's ``expires_at`` looks like)."""
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


class ContainerSession:
    """The container of one request (opened lazily when no id was given).

    Args:
        lease: the request's lease id.
        lease_seconds: how long the lease holds: longer than the request may run, so a
            request that dies without releasing it blocks its container only that long.
    """

    def __init__(
        self, services: Any, owner: str, lease: str, *, lease_seconds: float = LEASE_SECONDS
    ) -> None:
        self.s = services
        self.owner = owner
        self.lease = lease
        self.lease_seconds = lease_seconds
        self.record: ContainerRecord | None = None
        self.skills: list[dict[str, str]] | None = None  # the response's container.skills

    # --- open ----------------------------------------------------------------------------

    def open(self, container_id: str) -> ContainerRecord:
        """Lease the caller's existing container.

        Raises:
            NotFoundError: no such container for this owner, or it has expired (404).
            ConflictError: another request is using it (409).
        """
        record = self.s.store.acquire_container(
            container_id, self.owner, self.lease, self.lease_seconds
        )
        if record is None:  # unknown, or another owner's (never leased: nothing to probe)
            raise NotFoundError(f"container {container_id!r} not found", field="container")
        now = self.s.clock()
        if record.status != "ACTIVE" or record.expires_at <= now:
            self._expire(record)
            raise NotFoundError(
                f"container {container_id!r} expired at {rfc3339(record.expires_at)}; "
                "send the request without container to start a new one",
                field="container",
            )
        self.record = record
        return record

    def ensure(self) -> ContainerRecord:
        """The container, created (with a new sandbox session) when the request had none."""
        if self.record is not None:
            return self.record
        now = self.s.clock()
        timeout = self.s.config.session_timeout_seconds
        record = ContainerRecord(
            container_id=new_container_id(),
            owner=self.owner,
            created_at=now,
            session_ends_at=now + timeout,
            idle_until=now + self.s.config.container_idle_seconds,
        )
        self.s.store.create_container(record, self.lease, self.lease_seconds)
        self.record = record
        try:
            owner = container_owner(record.container_id)  # the sweeper asks this record
            session = self.s.sandbox.start_session(name=owner.name, timeout_seconds=timeout)
        except BaseException:
            record.status = "STOPPED"
            self._save_quietly()
            raise
        record.sandbox_session_id = session
        try:
            self.s.store.save_container(record, self.lease)  # recorded at once: never leaked
            self.s.files.prepare(self.s.sandbox, session)
        except BaseException:
            record.status = "STOPPED"
            self._save_quietly()
            raise
        logger.info("container %s started sandbox session %s", record.container_id, session)
        return record

    @property
    def session_id(self) -> str:
        record = self.ensure()
        assert record.sandbox_session_id
        return record.sandbox_session_id

    # --- close ---------------------------------------------------------------------------

    def sandbox_gone(self) -> NotFoundError:
        """Mark the container expired after its sandbox session turned out to be gone."""
        assert self.record is not None
        self.record.status = "STOPPED"
        return NotFoundError(
            f"container {self.record.container_id!r} has expired (its sandbox session ended)",
            field="container",
        )

    def close(self) -> None:
        """Renew the idle expiry, store the record and give the lease back (once)."""
        record, self.record = self.record, None
        if record is None:
            return
        try:
            if record.status == "ACTIVE":
                record.idle_until = self.s.clock() + self.s.config.container_idle_seconds
            elif record.sandbox_session_id:
                self._stop_quietly(record.sandbox_session_id)
            self.s.store.save_container(record, self.lease)
        finally:
            self.s.store.release_container(record.container_id, self.lease)

    @property
    def wire(self) -> dict[str, Any] | None:
        """The response's ``container`` object (None when the request had none), with the
        skills it holds when the request named any."""
        if self.record is None or self.record.status != "ACTIVE":
            return None
        idle = self.s.clock() + self.s.config.container_idle_seconds
        expires = min(idle, self.record.session_ends_at or idle)
        wire: dict[str, Any] = {"id": self.record.container_id, "expires_at": rfc3339(expires)}
        if self.skills is not None:
            wire["skills"] = self.skills
        return wire

    def _expire(self, record: ContainerRecord) -> None:
        try:
            if record.status == "ACTIVE":
                record.status = "STOPPED"
                if record.sandbox_session_id:
                    self._stop_quietly(record.sandbox_session_id)
                self.s.store.save_container(record, self.lease)
        finally:
            self.s.store.release_container(record.container_id, self.lease)

    def _save_quietly(self) -> None:
        try:
            self.close()
        except Exception:
            logger.warning("could not store container state", exc_info=True)

    def _stop_quietly(self, session_id: str) -> None:
        try:
            self.s.sandbox.stop_session(session_id)
        except SandboxError:
            logger.warning("could not stop sandbox session %s", session_id, exc_info=True)
