"""The Powertools side of ``Idempotency-Key`` (:mod:`code_exec.api.idempotency`, the rules).

Powertools' idempotency utility (``DynamoDBPersistenceLayer`` + ``idempotent_function``) keeps
the records in the project's one table; nothing here re-implements its locking, expiry or
payload validation. Its errors become ours (422 reused key, 409 in progress), an answer that
could not be stored is still given, and an answer over the table's inline limit is stored in
S3 (:class:`_Offloaded`). Importing Powertools' utility imports boto3: this module loads with
the first request that sends a key.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping
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

from code_exec.api.idempotency import (
    EXPIRES_AFTER_SECONDS,
    HEADER,
    IdempotencyInProgressError,
    IdempotencyKeyReusedError,
    Outcome,
    caller_scope,
    check_key,
)
from code_exec.observability import MetricUnit, metrics
from code_exec.services import Services
from code_exec.store import base as store_base

__all__ = ["Idempotency"]

logger = logging.getLogger(__name__)

_PK = "IDEMPOTENCY"
_SK_PREFIX = "REQUEST"


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
        key: str,
        *,
        raw_event: Mapping[str, Any],
        body: dict[str, Any],
        context: Any,
        fn: Callable[[], dict[str, Any]],
    ) -> Outcome:
        """``fn()`` (the route's JSON answer), or the stored answer of an earlier request.

        Args:
            key: the ``Idempotency-Key`` header (a request without one never gets here).
            raw_event: the proxy event (caller identity, method and path).
            body: the validated request body (its hash guards against a reused key).
            context: the Lambda context (its remaining time bounds the in-progress lock).

        Raises:
            RequestValidationError: a malformed key (400).
            IdempotencyKeyReusedError: the key was used with another body (422).
            IdempotencyInProgressError: the first request still runs (409, Retry-After).
        """
        check_key(key)
        request = {
            "scope": caller_scope(raw_event),
            "route": f"{raw_event.get('httpMethod')} {raw_event.get('path')}",
            "key": key,
            "body": body,
        }
        return self._once(request, context=context, fn=fn)

    def _once(
        self, request: dict[str, Any], *, context: Any, fn: Callable[[], dict[str, Any]]
    ) -> Outcome:
        """``fn()``, or the answer stored for ``request``."""
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
