"""Sessions and jobs in one DynamoDB table (single-table design).

Keys (partition ``pk``, sort ``sk``, TTL attribute ``expires_at``, epoch seconds):

| item     | pk               | sk        | what                                              |
|----------|------------------|-----------|---------------------------------------------------|
| session  | ``SESSION#<id>`` | ``SESSION`` | sandbox session id, conversation history, lease |
| job      | ``JOB#<id>``     | ``JOB``     | request, status, result or error                 |
| pending  | ``PENDING#<id>`` | ...       | paused tool calls of ``/v1/messages`` (later)     |

A session carries a *lease* (``lease_owner`` + ``lease_expires_at``) taken with a
conditional write, so two requests never drive one sandbox session at the same
time: the second gets :class:`~code_exec.exceptions.ConflictError` (409). The
lease expires on its own if its holder dies, and is released in ``finally``.

Large JSON values (history, results) go to S3 when they would not fit a
DynamoDB item comfortably; the item then keeps a pointer.

Each kind of item has its own module (:mod:`.sessions`, :mod:`.jobs`); :class:`Store` is
the one object the services hand out, with the methods of both.
"""

from __future__ import annotations

from code_exec.store.base import INLINE_LIMIT_BYTES
from code_exec.store.jobs import JobRecord, JobStatus, JobStore
from code_exec.store.sessions import SessionGoneError, SessionRecord, SessionStore

__all__ = [
    "INLINE_LIMIT_BYTES",
    "JobRecord",
    "JobStatus",
    "SessionGoneError",
    "SessionRecord",
    "Store",
]


class Store(SessionStore, JobStore):
    """Sessions and jobs in the one table."""
