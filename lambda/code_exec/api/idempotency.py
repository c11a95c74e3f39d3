"""``Idempotency-Key`` on the routes that run something: a repeat returns the first answer.

A client that retries ``POST /sessions/{id}/execute``, ``POST /invoke`` or ``POST /jobs``
(after a timeout, a dropped connection, a 429 or 503 it cannot tell apart from "did not run")
sends the same ``Idempotency-Key`` header; within 24 hours the repeat gets the first answer
back, marked ``Idempotent-Replayed: true``, and nothing runs again. Without the header a
route behaves as before. The records are Powertools' idempotency utility
(``DynamoDBPersistenceLayer`` + ``idempotent_function``) in the project's one table; nothing
here re-implements its locking, expiry or payload validation.

Rules (the API's contract, also in ``docs/architecture.md``):

* **Scope.** A record is keyed by the caller, the route and the key: the SHA-256 of
  ``[caller, "<METHOD> <path>", key]``. The caller is the IAM principal API Gateway
  authenticated (``requestContext.identity``: account, ``userArn`` with an assumed role's
  session name dropped — SDKs renew role sessions under new names — and the API Gateway key
  id when one is required), so two callers never share a record, and the same key on two
  session ids (paths) or two routes is two records.
* **Payload.** The validated body is hashed (SHA-256 of its canonical JSON). The same key with
  a different body answers **422** ``IdempotencyKeyReused`` naming the header (the IETF
  ``Idempotency-Key`` draft's choice; the key was reused, the request is not wrong as such).
* **In progress.** A repeat while the first request still runs answers **409**
  ``IdempotencyInProgress`` with ``Retry-After``. The lock ends with the first request's
  Lambda (its remaining time is the record's in-progress expiry), so a request whose Lambda
  died never locks its key for 24 hours.
* **Errors are not cached.** When the route raises (any 4xx or 5xx), the record is deleted
  and the next request with that key runs afresh: an error's ``Retry-After`` promises that
  trying again can succeed, which a replayed error would break. Only a route's answer is
  stored, and an executed cell that failed (``is_error``) is such an answer. So a key covers
  a lost answer, a timed-out client and a retry racing the first request.
* **After the code ran, nothing fails the request.** Once a cell has run, a failure of what
  follows (copying its output files, saving the session) is reported in the answer's
  ``after_run_errors``, not raised (:mod:`code_exec.after_run`): the answer is stored and a
  retry with the same key replays it instead of running the code again. If the answer
  itself cannot be stored (the table or bucket refuses Powertools' final write), the client
  still gets it; the record stays in progress until the first request's Lambda time is up
  (a retry until then answers 409), after which a retry runs afresh.
* **Header.** 1..255 visible ASCII characters (``!``..``~``); anything else is **400**
  naming ``Idempotency-Key``.

Items: ``pk = "IDEMPOTENCY"``, ``sk = "REQUEST#<sha256>"``, TTL in the table's ``expires_at``
(epoch seconds, 24 h on). A stored answer over the table's inline limit goes to the files
bucket under ``state/idempotency/`` (the item keeps a pointer), as large history does.

This module is what every route needs at import (the header's rules, the answer type); the
Powertools side (:class:`code_exec.api.idempotent_runs.Idempotency`, which loads boto3 with
Powertools' persistence layer) is imported by the first request that sends a key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from code_exec.exceptions import CodeExecError, ConflictError, RequestValidationError

__all__ = [
    "EXPIRES_AFTER_SECONDS",
    "HEADER",
    "KEY_PATTERN",
    "REPLAYED_HEADER",
    "IdempotencyInProgressError",
    "IdempotencyKeyReusedError",
    "Outcome",
    "caller_scope",
    "check_key",
]

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
EXPIRES_AFTER_SECONDS = 24 * 3600
IN_PROGRESS_RETRY_AFTER_SECONDS = 2
_KEY = re.compile(KEY_PATTERN)
# arn:aws:sts::123456789012:assumed-role/Role/session -> the role, whatever the session
_ASSUMED_ROLE = re.compile(r"^(arn:[^:]+:sts::\d+:assumed-role/[^/]+)/.+$")


class IdempotencyKeyReusedError(CodeExecError):
    """The key was used before, by this caller on this route, with a different body."""

    status, code = 422, "IdempotencyKeyReused"


class IdempotencyInProgressError(ConflictError):
    """The first request with this key is still running."""

    code = "IdempotencyInProgress"
    retry_after = IN_PROGRESS_RETRY_AFTER_SECONDS


@dataclass(frozen=True)
class Outcome:
    """A route's answer (JSON), and whether it is a stored one replayed."""

    body: dict[str, Any]
    replayed: bool = False


def caller_scope(raw_event: Mapping[str, Any]) -> str:
    """Who is asking, as API Gateway authenticated them (stable across their retries).

    An assumed role's session name is dropped: SDKs renew role credentials under new
    session names, and a retry must still find its record.
    """
    context = raw_event.get("requestContext") or {}
    identity = context.get("identity") or {}
    arn = str(identity.get("userArn") or identity.get("caller") or "")
    match = _ASSUMED_ROLE.match(arn)
    principal = match.group(1) if match else arn
    account = identity.get("accountId") or context.get("accountId") or ""
    return json.dumps([account, principal, identity.get("apiKeyId") or ""])


def check_key(key: str) -> None:
    """Raises: RequestValidationError naming the header, for a key outside :data:`KEY_PATTERN`."""
    if not _KEY.match(key):
        raise RequestValidationError(
            f"{HEADER} must be 1 to 255 visible ASCII characters (no spaces), "
            f"got {len(key)} character(s)",
            field=HEADER,
        )
