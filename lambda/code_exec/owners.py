"""Who owns a sandbox session, written into the session itself when it starts.

Every sandbox session is started with a ``name`` that names its owner: the client-named
session, the job, the one request that uses it (buffered, or a streamed turn, which may
run far longer), or the ``/v1/messages`` container. The owner's record exists before
``StartCodeInterpreterSession`` is called (the session's lease, the RUNNING job, the
container's record), so even
when a Lambda dies between starting a session and recording its id, the sweeper
(:mod:`code_exec.sweeper`) can tell from ``ListCodeInterpreterSessions`` alone whose
session it is, and whether that owner still holds it.

Names stay within what the service accepts for a session name (1..100 characters) and
use only letters, digits, ``-`` and ``_`` (caller session ids are ``[A-Za-z0-9_-]{1,64}``,
job and run ids are hex).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

__all__ = [
    "Owner",
    "OwnerKind",
    "container_owner",
    "job_owner",
    "parse_owner",
    "request_owner",
    "session_owner",
    "stream_owner",
]

OwnerKind = Literal["session", "job", "request", "stream", "container"]
_KINDS: tuple[str, ...] = get_args(OwnerKind)
_PREFIX = "bcx"


@dataclass(frozen=True)
class Owner:
    """The owner of a sandbox session: its kind and its id (session id, job id, run id)."""

    kind: OwnerKind
    key: str

    @property
    def name(self) -> str:
        """The sandbox session name that records this owner."""
        return f"{_PREFIX}-{self.kind}-{self.key}"


def session_owner(session_id: str) -> Owner:
    """A client-named session (``session_id``), whether an API request or a job uses it."""
    return Owner("session", session_id)


def job_owner(job_id: str) -> Owner:
    """A job without a named session: the job's one-shot sandbox session."""
    return Owner("job", job_id)


def request_owner(run_id: str) -> Owner:
    """One buffered API request without a named session (stopped when the request ends)."""
    return Owner("request", run_id)


def stream_owner(run_id: str) -> Owner:
    """One streamed turn without a named session (stopped when the turn ends; it may run
    as long as the streaming function may, up to 15 minutes)."""
    return Owner("stream", run_id)


def container_owner(container_id: str) -> Owner:
    """A ``/v1/messages`` container (its id is ``container_<token>``)."""
    return Owner("container", container_id)


def parse_owner(name: str | None) -> Owner | None:
    """The owner a session name records; None for a name this deployment did not give."""
    if not name:
        return None
    prefix, _, rest = name.partition("-")
    kind, _, key = rest.partition("-")
    if prefix != _PREFIX or kind not in _KINDS or not key:
        return None
    return Owner(kind, key)  # type: ignore[arg-type]
