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
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.idempotency.serialization.base import (
    BaseIdempotencySerializer,
)
from botocore.exceptions import BotoCoreError, ClientError

from code_exec.exceptions import CodeExecError, ConflictError, RequestValidationError
from code_exec.observability import MetricUnit, metrics
from code_exec.services import Services
from code_exec.store import base as store_base

__all__ = [
    "EXPIRES_AFTER_SECONDS",
    "HEADER",
    "KEY_PATTERN",
    "REPLAYED_HEADER",
    "Idempotency",
    "IdempotencyInProgressError",
    "IdempotencyKeyReusedError",
    "Outcome",
    "caller_scope",
]

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
EXPIRES_AFTER_SECONDS = 24 * 3600
IN_PROGRESS_RETRY_AFTER_SECONDS = 2
_KEY = re.compile(KEY_PATTERN)
_PK = "IDEMPOTENCY"
_SK_PREFIX = "REQUEST"
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


class _Offloaded(BaseIdempotencySerializer):
    """Stores an answer inline, or past the table's inline limit in S3 with a pointer."""

    def __init__(self, services: Services) -> None:
        self.s = services

    def to_dict(self, data: Any) -> dict[str, Any]:
        raw = json.dumps(data, default=str)
        if len(raw) <= store_base.INLINE_LIMIT_BYTES:
            return {"inline": data}
        key = f"state/idempotency/{uuid.uuid4().hex}.json"  # the functions' state/ prefix
        self.s.s3.put_object(
            Bucket=self.s.config.files_bucket,
            Key=key,
            Body=raw.encode(),
            ContentType="application/json",
        )
        return {"s3_key": key}

    def from_dict(self, data: dict[str, Any]) -> Any:
        if "inline" in data:
            return data["inline"]
        body = self.s.s3.get_object(Bucket=self.s.config.files_bucket, Key=data["s3_key"])
        return json.loads(body["Body"].read())


def _replayed(response: Any, idempotent_data: DataRecord) -> Outcome:
    """Powertools' hook for an answer read from the store (not for a fresh run)."""
    return Outcome(body=response, replayed=True)


def _run(request: dict[str, Any], fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """What the utility wraps: ``request`` is what it hashes; ``fn`` runs the route."""
    return fn()


class Idempotency:
    """Runs a route's work at most once per (caller, route, key), via Powertools."""

    def __init__(self, services: Services) -> None:
        self.s = services
        self._layer: DynamoDBPersistenceLayer | None = None
        self._layer_for: tuple[int, str] | None = None

    def _persistence(self) -> DynamoDBPersistenceLayer:
        """One persistence layer per DynamoDB client (rebuilt when tests swap the client)."""
        current = (id(self.s.dynamodb), self.s.config.table_name)
        if self._layer is None or self._layer_for != current:
            self._layer = DynamoDBPersistenceLayer(
                table_name=self.s.config.table_name,
                key_attr="pk",
                sort_key_attr="sk",
                static_pk_value=_PK,
                expiry_attr="expires_at",  # the table's TTL attribute
                in_progress_expiry_attr="in_progress_expires_at_ms",
                status_attr="idempotency_status",
                data_attr="response",
                validation_key_attr="request_hash",
                boto3_client=self.s.dynamodb,
            )
            self._layer_for = current
        return self._layer

    def run(
        self,
        key: str | None,
        *,
        raw_event: Mapping[str, Any],
        body: dict[str, Any],
        context: Any,
        fn: Callable[[], dict[str, Any]],
    ) -> Outcome:
        """``fn()`` (the route's JSON answer), or the stored answer of an earlier request.

        Args:
            key: the ``Idempotency-Key`` header; None runs ``fn`` as is.
            raw_event: the proxy event (caller identity, method and path).
            body: the validated request body (its hash guards against a reused key).
            context: the Lambda context (its remaining time bounds the in-progress lock).

        Raises:
            RequestValidationError: a malformed key (400).
            IdempotencyKeyReusedError: the key was used with another body (422).
            IdempotencyInProgressError: the first request still runs (409, Retry-After).
        """
        if key is None:
            return Outcome(body=fn())
        check_key(key)
        request = {
            "scope": caller_scope(raw_event),
            "route": f"{raw_event.get('httpMethod')} {raw_event.get('path')}",
            "key": key,
            "body": body,
        }
        config = IdempotencyConfig(
            event_key_jmespath="[scope, route, key]",
            payload_validation_jmespath="body",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=EXPIRES_AFTER_SECONDS,
            hash_function="sha256",
            lambda_context=context,
            response_hook=_replayed,
        )
        once = idempotent_function(
            _run,
            data_keyword_argument="request",
            persistence_store=self._persistence(),
            config=config,
            output_serializer=_Offloaded(self.s),
            key_prefix=_SK_PREFIX,
        )
        answered: list[dict[str, Any]] = []

        def answer() -> dict[str, Any]:
            answered.append(fn())
            return answered[-1]

        try:
            out = once(request=request, fn=answer)
        except IdempotencyValidationError as e:
            raise IdempotencyKeyReusedError(
                f"this {HEADER} was used with a different request body; "
                "use a new key for a new request",
                field=HEADER,
            ) from e
        except IdempotencyAlreadyInProgressError as e:
            raise IdempotencyInProgressError(
                f"a request with this {HEADER} is still running; retry later for its answer",
                field=HEADER,
            ) from e
        except IdempotencyPersistenceLayerError as e:
            if answered:  # the route ran and answered; only storing its answer failed
                logger.warning(
                    "answer not stored under its %s; answered anyway", HEADER, exc_info=e
                )
                metrics.add_metric(
                    name="IdempotencyAnswersNotStored", unit=MetricUnit.Count, value=1
                )
                return Outcome(body=answered[-1])
            cause = e.__cause__
            if isinstance(cause, ClientError | BotoCoreError):
                raise cause from e  # a table or bucket failure, classified as such upstream
            raise
        if isinstance(out, Outcome):
            return Outcome(body=self._fresh_urls(out.body), replayed=True)
        return Outcome(body=out)

    def _fresh_urls(self, body: dict[str, Any]) -> dict[str, Any]:
        """A replayed answer with its files' presigned URLs signed again: the stored ones
        expire long before the record does (``FILES_URL_EXPIRY_SECONDS`` vs 24 h)."""
        files = body.get("files")
        if not isinstance(files, list):
            return body
        store = self.s.files
        fresh = [{**f, "url": store.download_url(f["s3_key"], f["name"])} for f in files]
        return {**body, "files": fresh}
