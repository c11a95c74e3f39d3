"""Container items against moto: the lease carries the owner, and the item stays within
DynamoDB's 400 KB whatever a cell leaves in it.

Every read and write is counted at the botocore layer (an event hook on the real client).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import boto3
import pytest
from code_exec.exceptions import ConflictError
from code_exec.store import ContainerRecord, Store
from code_exec.store import base as store_base

from .conftest import BUCKET, REGION, TABLE


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def calls() -> Counter[str]:
    return Counter()


@pytest.fixture
def store(aws: None, calls: Counter[str]) -> Store:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    s3 = boto3.client("s3", region_name=REGION)
    for client in (dynamodb, s3):

        def count(model: Any, **_: Any) -> None:
            calls[model.name] += 1

        client.meta.events.register("provide-client-params", count)
    return Store(dynamodb, TABLE, ttl_seconds=3600, s3=s3, bucket=BUCKET, clock=Clock())


def _container(store: Store, container_id: str, owner: str) -> ContainerRecord:
    now = 1_700_000_000.0
    record = ContainerRecord(
        container_id, owner, created_at=now, session_ends_at=now + 900, idle_until=now + 300
    )
    store.create_container(record, "creator", 60)
    store.release_container(container_id, "creator")
    return record


def test_a_failed_lease_is_told_apart_without_a_second_read(
    store: Store, calls: Counter[str]
) -> None:
    """Unknown, foreign and busy are told apart from the failed write alone (the old item it
    returns), and a foreign owner never holds the lease: one UpdateItem each, no GetItem."""
    _container(store, "container_a", "alice")
    calls.clear()
    assert store.acquire_container("container_unknown", "alice", "l1", 60) is None
    assert store.acquire_container("container_a", "bob", "l2", 60) is None  # foreign
    record = store.acquire_container("container_a", "alice", "l3", 60)
    assert record is not None and record.owner == "alice"
    with pytest.raises(ConflictError):
        store.acquire_container("container_a", "alice", "l4", 60)  # busy
    assert store.acquire_container("container_a", "bob", "l5", 60) is None  # foreign and busy
    assert calls == Counter(UpdateItem=5)


def _json_of(size: int) -> dict[str, Any]:
    """A JSON value of about ``size`` bytes (under the per-value inline limit)."""
    return {"blob": "x" * (size - 12)}


def test_a_container_item_stays_under_400_kb_whatever_its_state_holds(
    store: Store, calls: Counter[str]
) -> None:
    """Each JSON attribute alone fits inline (under 200 KB), all of them together would not
    fit an item (400 KB): the largest go to S3 until the item fits, and all read back."""
    record = _container(store, "container_big", "alice")
    leased = store.acquire_container("container_big", "alice", "l1", 60)
    assert leased is not None
    near = store_base.INLINE_LIMIT_BYTES - 1_000
    record.runner = _json_of(near)
    record.pending = _json_of(near)
    record.executed = {"srvtoolu_1": _json_of(near)}
    record.placed = {"file_1": _json_of(near)}
    calls.clear()
    store.save_container(record, "l1")
    assert calls["PutObject"] >= 2, calls  # the rest would not fit beside the others
    store.release_container("container_big", "l1")
    back = store.acquire_container("container_big", "alice", "l2", 60)
    assert back is not None
    assert (back.runner, back.pending, back.executed, back.placed) == (
        record.runner,
        record.pending,
        record.executed,
        record.placed,
    )
