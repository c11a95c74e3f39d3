"""The ``/v1`` authorizer's cache: how long a revoked key still works, and what it holds.

Keys live in moto's DynamoDB through the real :class:`ApiKeyStore`; reads are counted with a
botocore event hook on the real client; the clock is injected.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from code_exec.anthropic.authorizer import (
    CACHE_SECONDS,
    MISS_CACHE_SECONDS,
    Authorizer,
    Unauthorized,
)
from code_exec.store import ApiKeyRecord, ApiKeyStore, hash_key
from moto import mock_aws

from devtools import local_aws

REGION = "us-east-1"
TABLE = "authorizer-cache-table"
ARN = "arn:aws:execute-api:us-east-1:1:api/prod/POST/v1/messages"


class Reads:
    """GetItem calls the authorizer makes (counted on the real client)."""

    def __init__(self, client: Any) -> None:
        self.count = 0
        client.meta.events.register("before-call.dynamodb.GetItem", self._seen)

    def _seen(self, **_: Any) -> None:
        self.count += 1


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiKeyStore]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        local_aws.create_resources(TABLE, "authorizer-cache-bucket", region=REGION)
        yield ApiKeyStore(boto3.client("dynamodb", region_name=REGION), TABLE, ttl_seconds=0)


def _mint(store: ApiKeyStore, name: str) -> str:
    key = "sk-bcx-" + secrets.token_urlsafe(16)
    store.put_api_key(key, owner="alice", name=name)
    return key


def _allowed(auth: Authorizer, key: str) -> bool:
    try:
        auth({"headers": {"x-api-key": key}, "methodArn": ARN})
    except Unauthorized:
        return False
    return True


def test_a_revoked_key_stops_working_within_the_documented_cache_period(
    store: ApiKeyStore,
) -> None:
    """API Gateway does not cache this authorizer (TTL 0 in the stack), so the authorizer's
    own positive cache is the whole revocation latency: at most a minute."""
    assert CACHE_SECONDS <= 60
    now = [1000.0]
    auth = Authorizer(store, clock=lambda: now[0])
    key = _mint(store, "laptop")
    assert _allowed(auth, key)
    assert store.revoke_api_key(hash_key(key)).status == "REVOKED"
    now[0] += CACHE_SECONDS - 1
    assert _allowed(auth, key)  # still cached on this warm instance
    now[0] += 1
    assert not _allowed(auth, key)  # read again: revoked


class _Keys:
    """A key store in memory, for the flood below (10k moto reads would be slow)."""

    def __init__(self, *keys: str) -> None:
        self.reads = 0
        self.records = {hash_key(k): ApiKeyRecord(hash_key(k), "alice", "n", 0.0) for k in keys}

    def api_key(self, key: str) -> ApiKeyRecord | None:
        self.reads += 1
        return self.records.get(hash_key(key))


def test_random_keys_cannot_evict_a_good_one_nor_grow_the_cache() -> None:
    """Unknown keys are remembered briefly in a bounded cache of their own: a flood of random
    keys costs a read each, but the good key stays cached and memory stays bounded."""
    now = [0.0]
    keys = _Keys("sk-good")
    auth = Authorizer(keys, clock=lambda: now[0])  # type: ignore[arg-type]
    assert _allowed(auth, "sk-good") and keys.reads == 1
    flood = 10_050  # past any size the cache keeps
    for n in range(flood):
        assert not _allowed(auth, f"sk-random-{n}")
    assert keys.reads == 1 + flood
    assert _allowed(auth, "sk-good")
    assert keys.reads == 1 + flood  # the good key was not evicted
    cached_keys, cached_misses = auth.cached
    assert cached_keys == 1 and cached_misses <= auth.max_misses < flood


def test_the_positive_cache_is_an_lru_of_bounded_size(store: ApiKeyStore) -> None:
    reads = Reads(store._db)
    now = [0.0]
    auth = Authorizer(store, clock=lambda: now[0], max_keys=3)
    keys = [_mint(store, f"k{n}") for n in range(4)]
    for key in keys[:3]:
        assert _allowed(auth, key)
    assert _allowed(auth, keys[0])  # used recently: kept
    assert reads.count == 3
    assert _allowed(auth, keys[3])  # a fourth: the least recently used (keys[1]) goes
    assert reads.count == 4 and auth.cached == (3, 0)
    for key in (keys[0], keys[2], keys[3]):
        assert _allowed(auth, key)
    assert reads.count == 4
    assert _allowed(auth, keys[1])
    assert reads.count == 5


def test_an_unknown_key_is_remembered_only_briefly(store: ApiKeyStore) -> None:
    """A key minted a moment after a request tried it works once the short miss period is
    over."""
    assert MISS_CACHE_SECONDS <= 10
    reads = Reads(store._db)
    now = [0.0]
    auth = Authorizer(store, clock=lambda: now[0])
    key = "sk-bcx-" + secrets.token_urlsafe(16)
    assert not _allowed(auth, key) and not _allowed(auth, key)
    assert reads.count == 1  # a client retrying the same bad key costs one read
    store.put_api_key(key, owner="alice", name="late")
    now[0] += MISS_CACHE_SECONDS
    assert _allowed(auth, key)
