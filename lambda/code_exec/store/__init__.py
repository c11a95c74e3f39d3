"""Sessions and jobs in one DynamoDB table (single-table design).

Keys (partition ``pk``, sort ``sk``, TTL attribute ``expires_at``, epoch seconds):

| item      | pk                  | sk              | what                                  |
|-----------|---------------------|-----------------|---------------------------------------|
| session   | ``SESSION#<id>``    | ``SESSION``     | sandbox session, conversation, lease  |
| job       | ``JOB#<id>``        | ``JOB``         | request, status, result or error      |
| container | ``CONTAINER#<id>``  | ``CONTAINER``   | /v1 container: sandbox, owner, paused cell |
| API key   | ``APIKEY#<sha256>`` | ``APIKEY``      | owner and name of a /v1 key (hash only) |
| file      | ``FILES#<owner>``   | ``FILE#<id>``   | /v1/files metadata (bytes in S3)      |
| skill     | ``SKILLS#<owner>``  | ``SKILL#<id>``  | /v1/skills skill (never expires)      |
| skill version | ``SKILLS#<owner>`` | ``VERSION#<id>#<v>`` | a version (its zip in S3)   |
| request   | ``IDEMPOTENCY``     | ``REQUEST#<h>`` | answer to an ``Idempotency-Key`` (*)  |

(*) Written by Powertools' idempotency utility (:mod:`code_exec.api.idempotency`), not by
this package; ``<h>`` is the SHA-256 of caller, route and key.

A session carries a *lease* (``lease_owner`` + ``lease_expires_at``) taken with a
conditional write, so two requests never drive one sandbox session at the same
time: the second gets :class:`~code_exec.exceptions.ConflictError` (409). The
lease expires on its own if its holder dies, and is released in ``finally``.

Large JSON values (history, results) go to S3 when they would not fit a
DynamoDB item comfortably; the item then keeps a pointer.

Each kind of item has its own module (:mod:`.session_records`, :mod:`.job_records`,
:mod:`.container_records`, :mod:`.file_records`, :mod:`.skill_records`, :mod:`.api_keys`);
:class:`Store` (:mod:`.table`) is the one object the services hand out, with the methods of
all of them. The names below are imported from their module when first asked for, so a
function that needs one kind of record (the authorizer: API keys) loads only its module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from code_exec.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from code_exec.store.api_keys import ApiKeyRecord, ApiKeyStore, hash_key, new_key
    from code_exec.store.base import INLINE_LIMIT_BYTES
    from code_exec.store.container_records import ContainerRecord, ContainerStore
    from code_exec.store.file_records import FileRecord, FileRecordStore
    from code_exec.store.job_records import JobRecord, JobStatus, JobStore
    from code_exec.store.session_records import SessionGoneError, SessionRecord, SessionStore
    from code_exec.store.skill_records import SkillRecord, SkillStore, SkillVersionRecord
    from code_exec.store.table import Store

# name -> the module that defines it
_WHERE = {
    "ApiKeyRecord": "api_keys",
    "ApiKeyStore": "api_keys",
    "hash_key": "api_keys",
    "new_key": "api_keys",
    "INLINE_LIMIT_BYTES": "base",
    "ContainerRecord": "container_records",
    "ContainerStore": "container_records",
    "FileRecord": "file_records",
    "FileRecordStore": "file_records",
    "JobRecord": "job_records",
    "JobStatus": "job_records",
    "JobStore": "job_records",
    "SessionGoneError": "session_records",
    "SessionRecord": "session_records",
    "SessionStore": "session_records",
    "SkillRecord": "skill_records",
    "SkillStore": "skill_records",
    "SkillVersionRecord": "skill_records",
    "Store": "table",
}

__all__ = [
    "INLINE_LIMIT_BYTES",
    "ApiKeyRecord",
    "ApiKeyStore",
    "ContainerRecord",
    "ContainerStore",
    "FileRecord",
    "FileRecordStore",
    "JobRecord",
    "JobStatus",
    "JobStore",
    "SessionGoneError",
    "SessionRecord",
    "SessionStore",
    "SkillRecord",
    "SkillStore",
    "SkillVersionRecord",
    "Store",
    "hash_key",
    "new_key",
]


__getattr__ = lazy_exports(__name__, _WHERE)
