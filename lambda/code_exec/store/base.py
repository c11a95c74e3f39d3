"""The table both stores share: one DynamoDB table (single-table design), the clock, and
JSON values kept inline or, past :data:`INLINE_LIMIT_BYTES`, in S3 with a pointer.

DynamoDB deletes items past their ``expires_at`` lazily (often days later), so readers
check :meth:`TableBase._expired` themselves. A value written to S3 gets a key of its own
on every save: an S3 write cannot be made conditional on the item's lease, so a writer
that then loses the condition leaves only an object nobody points to (the bucket's
lifecycle rule removes it), never someone else's data.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

__all__ = ["INLINE_LIMIT_BYTES", "TableBase", "is_conditional_failure"]

INLINE_LIMIT_BYTES = 200_000  # JSON values above this go to S3 (DynamoDB items max 400 KB)


def is_conditional_failure(e: ClientError) -> bool:
    """True when a conditional write was refused (the condition did not hold)."""
    return e.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class TableBase:
    """Typed access to the table. ``dynamodb`` and ``s3`` are boto3 clients."""

    def __init__(
        self,
        dynamodb: Any,
        table_name: str,
        *,
        ttl_seconds: int,
        s3: Any = None,
        bucket: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = dynamodb
        self._table = table_name
        self._ttl = ttl_seconds
        self._s3 = s3
        self._bucket = bucket
        self._clock = clock

    def _expired(self, item: dict[str, Any]) -> bool:
        """True when the item's TTL has passed (DynamoDB may not have deleted it yet)."""
        expires_at = int(item.get("expires_at", {}).get("N", "0"))
        return 0 < expires_at < self._clock()

    def _put_json(self, prefix: str, value: Any) -> dict[str, Any]:
        """The attribute value for ``value``: inline, or a pointer to a new S3 object.

        Args:
            prefix: where under ``state/`` the object goes (a unique suffix is added).
        """
        raw = json.dumps(value, default=str)
        if len(raw) <= INLINE_LIMIT_BYTES or self._s3 is None:
            return {"S": raw}
        return self._put_raw(prefix, raw)

    def _put_json_within(
        self, values: dict[str, tuple[str, Any]], budget: int
    ) -> dict[str, dict[str, Any]]:
        """Attribute values for several JSON values of ONE item, inline only while together
        they stay within ``budget`` bytes.

        Each value alone may be inline up to :data:`INLINE_LIMIT_BYTES`, but a DynamoDB item
        holds 400 KB in all: past ``budget`` the largest values go to S3 (as
        :meth:`_put_json` puts one) until the rest fits. Without S3 every value stays inline.

        Args:
            values: attribute name -> (S3 prefix, value).
            budget: the bytes the item can spare for these values together.
        """
        raw = {name: json.dumps(value, default=str) for name, (_, value) in values.items()}
        inline = {n for n, r in raw.items() if len(r) <= INLINE_LIMIT_BYTES or self._s3 is None}
        while self._s3 is not None and sum(len(raw[n]) for n in inline) > budget:
            inline.remove(max(inline, key=lambda n: len(raw[n])))
        return {
            name: {"S": raw[name]} if name in inline else self._put_raw(prefix, raw[name])
            for name, (prefix, _) in values.items()
        }

    def _put_raw(self, prefix: str, raw: str) -> dict[str, Any]:
        s3_key = f"state/{prefix}-{uuid.uuid4().hex}.json"
        self._s3.put_object(
            Bucket=self._bucket, Key=s3_key, Body=raw.encode(), ContentType="application/json"
        )
        return {"M": {"s3_key": {"S": s3_key}}}

    def _get_json(self, attr: dict[str, Any] | None) -> Any:
        if not attr:
            return None
        if "S" in attr:
            return json.loads(attr["S"])
        s3_key = attr["M"]["s3_key"]["S"]
        body = self._s3.get_object(Bucket=self._bucket, Key=s3_key)["Body"].read()
        return json.loads(body)
