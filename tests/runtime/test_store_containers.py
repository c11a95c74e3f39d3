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
