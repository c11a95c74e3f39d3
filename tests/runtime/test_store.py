"""The DynamoDB store against moto: expired items, and large values kept in S3.

DynamoDB deletes expired items lazily (up to days after ``expires_at``), so every read must
compare ``expires_at`` itself. A value too large for the item goes to S3; a request that
lost its lease must not be able to overwrite what the session's new owner stored there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from code_exec.exceptions import NotFoundError
from code_exec.store import JobRecord, JobStatus, SessionGoneError, Store
from code_exec.store import base as store_base

from .conftest import BUCKET, REGION, TABLE

TTL = 3600


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(aws: None, clock: Clock) -> Store:
    return Store(
        boto3.client("dynamodb", region_name=REGION),
        TABLE,
        ttl_seconds=TTL,
        s3=boto3.client("s3", region_name=REGION),
        bucket=BUCKET,
        clock=clock,
    )


@pytest.fixture
def large_values(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every stored JSON value goes to S3 (as a history over 200 KB would)."""
    monkeypatch.setattr(store_base, "INLINE_LIMIT_BYTES", 16)
    yield


def _save(store: Store, session_id: str, owner: str, **fields: Any) -> None:
    record = store.acquire_session(session_id, owner, 60)
    for name, value in fields.items():
        setattr(record, name, value)
    store.save_session(record, owner)
    store.release_session(session_id, owner)


def test_an_expired_session_is_not_read_back(store: Store, clock: Clock) -> None:
    _save(store, "expiring", "a", sandbox_session_id="SB1", history=[{"role": "user"}])
    assert store.get_session("expiring") is not None
    clock.now += TTL + 1  # past expires_at; DynamoDB has not deleted the item yet
    assert store.get_session("expiring") is None


def test_an_expired_tombstone_does_not_answer_410_forever(store: Store, clock: Clock) -> None:
    _save(store, "tomb", "a", sandbox_session_id="SB1", history=[{"role": "user"}])
    store.mark_session_stopped("tomb")
    assert store.acquire_session("tomb", "b", 60).stopped  # within the TTL: still a tombstone
    store.release_session("tomb", "b")
    clock.now += TTL + 1
    fresh = store.acquire_session("tomb", "c", 60)  # expired: the id starts fresh
    assert (fresh.status, fresh.sandbox_session_id, fresh.history) == ("ACTIVE", None, [])
    store.release_session("tomb", "c")


def test_a_leased_session_does_not_expire_under_its_holder(store: Store, clock: Clock) -> None:
    """A job may hold a session longer than the TTL: taking the lease extends the TTL."""
    _save(store, "long", "a", sandbox_session_id="SB1")
    clock.now += TTL - 10
    record = store.acquire_session("long", "job", 900)
    clock.now += 600  # past the TTL set by the last save, still inside the lease
    assert store.get_session("long") is not None
    store.save_session(record, "job")


def test_the_last_save_gives_the_lease_back_in_the_same_write(store: Store) -> None:
    record = store.acquire_session("one-write", "a", 60)
    record.sandbox_session_id = "SB1"
    store.save_session(record, "a", release=True)
    taken = store.acquire_session("one-write", "b", 60)  # free at once, and saved
    assert taken.sandbox_session_id == "SB1"
    with pytest.raises(SessionGoneError):  # "a" gave it back: it cannot write any more
        store.save_session(record, "a", release=True)
    with pytest.raises(ValueError, match="owner"):
        store.save_session(taken, release=True)


def test_an_expired_job_is_not_found(store: Store, clock: Clock) -> None:
    store.create_job(JobRecord(job_id="old-job", status=JobStatus.QUEUED, request={"p": 1}))
    assert store.get_job("old-job").status == JobStatus.QUEUED
    clock.now += TTL + 1
    with pytest.raises(NotFoundError):
        store.get_job("old-job")


def test_a_request_that_lost_its_lease_cannot_overwrite_the_new_sessions_history(
    store: Store, large_values: None
) -> None:
    """A deletes-and-recreates race: request A's lease is gone (DELETE), request B re-creates
    the session and saves its history; A's late save fails, and B's history stays B's."""
    a = store.acquire_session("raced", "A", 60)
    store.delete_session("raced")  # DELETE /sessions/raced while A runs
    b = store.acquire_session("raced", "B", 60)
    b.history = [{"role": "user", "content": "B's conversation"}]
    store.save_session(b, "B")
    a.history = [{"role": "user", "content": "A's conversation"}]
    with pytest.raises(SessionGoneError):
        store.save_session(a, "A")
    got = store.get_session("raced")
    assert got is not None
    assert got.history == [{"role": "user", "content": "B's conversation"}]


def test_moto_answers_one_dynamodb_request_at_a_time(store: Store) -> None:
    """A job's Lambda (moto's Step Functions thread) updates the job while the test polls it:
    moto's backend is not thread-safe, so ``local_aws`` serializes its DynamoDB requests (as
    DynamoDB's item operations are atomic). A read held inside moto keeps a write out."""
    import threading

    from moto.dynamodb.models import DynamoDBBackend

    store.create_job(JobRecord(job_id="polled", status=JobStatus.QUEUED, request={"p": 1}))
    inside, gate = threading.Event(), threading.Event()
    get_item = DynamoDBBackend.get_item

    def held_get_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is reader:  # moto's UpdateItem reads through it too
            inside.set()
            assert gate.wait(30), "the test never opened the gate"
        return get_item(self, *args, **kwargs)

    wrote = threading.Event()

    def write() -> None:
        store.update_job("polled", status=JobStatus.RUNNING)
        wrote.set()

    reader = threading.Thread(target=store.get_job, args=("polled",))
    writer = threading.Thread(target=write)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(DynamoDBBackend, "get_item", held_get_item)
        reader.start()
        try:
            assert inside.wait(30)
            writer.start()
            # Without the lock, the write lands at once; with it, not while the read is inside.
            assert not wrote.wait(0.5)
        finally:
            gate.set()
            reader.join(30)
            if writer.ident is not None:  # started
                writer.join(30)
    assert wrote.is_set()
    assert store.get_job("polled").status == JobStatus.RUNNING
