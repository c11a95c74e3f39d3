"""The Lambda REQUEST authorizer of ``/v1/*``: an API key in ``x-api-key`` or ``Authorization:
Bearer``, looked up by its SHA-256 in DynamoDB.

The Anthropic SDK sends ``api_key`` as ``x-api-key`` and ``auth_token`` as ``Authorization:
Bearer``. API Gateway caches authorizer results only per identity source, and with identity
sources configured it refuses (401) any request missing one of them, so either header could
not be optional. The authorizer therefore runs on every request (API Gateway's cache is off:
``results_cache_ttl`` 0 in ``stacks/api.py``) and caches keys itself, per warm instance:

* **Revocation latency.** A verified key is cached for :data:`CACHE_SECONDS` (30 s), so a key
  revoked with ``make api-key REVOKE=<id>`` is refused everywhere at most 30 s later (each warm
  instance reads it again once its entry is that old; the gateway adds nothing, its cache
  being off). The price is one ``GetItem`` per key, warm instance and 30 s.
* **Bounded memory, no thrashing.** Verified keys sit in an LRU of at most
  :data:`MAX_CACHED_KEYS` entries: the least recently used one goes, never the whole cache.
* **Unknown and revoked keys** are remembered for only :data:`MISS_CACHE_SECONDS` in a second,
  smaller LRU (:data:`MAX_CACHED_MISSES`), so a client retrying one bad key costs a read per
  period, a key tried before it was minted works within that period, and a flood of random
  keys (a read each, unavoidably) can only push out other misses, never a good key.

A missing, unknown or revoked key answers 401 (API Gateway's ``UNAUTHORIZED`` response, which
the stack renders in Anthropic's envelope).

The context it passes on (``owner``, ``key_name``) is what the API function trusts: only API
Gateway, after this authorizer, invokes it for ``/v1/*``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from functools import cached_property
from typing import Any

from code_exec.config import RuntimeConfig
from code_exec.injectable import Injectable
from code_exec.store.api_keys import ApiKeyRecord, ApiKeyStore, hash_key

__all__ = [
    "CACHE_SECONDS",
    "MAX_CACHED_KEYS",
    "MAX_CACHED_MISSES",
    "MISS_CACHE_SECONDS",
    "Authorizer",
    "AuthorizerServices",
    "api_key_of",
    "handler",
    "services",
]

logger = logging.getLogger(__name__)

CACHE_SECONDS = 30.0  # the revocation latency (API Gateway's own cache is off)
MISS_CACHE_SECONDS = 10.0  # short: a key minted a moment ago must work at once
MAX_CACHED_KEYS = 10_000  # verified keys (LRU); ~100 bytes of hash and record each
MAX_CACHED_MISSES = 1_000  # unknown or revoked keys (LRU), apart so they evict only each other


class Unauthorized(Exception):
    """API Gateway answers 401 when a REQUEST authorizer raises exactly ``Unauthorized``."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


def api_key_of(headers: dict[str, Any] | None) -> str | None:
    """The key from ``x-api-key``, else from ``Authorization: Bearer <key>``."""
    lowered = {str(k).lower(): str(v) for k, v in (headers or {}).items() if v is not None}
    key = lowered.get("x-api-key", "").strip()
    if key:
        return key
    scheme, _, token = lowered.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def _resource(method_arn: str) -> str:
    """Every ``/v1/*`` method of the stage the request came to."""
    api, _, rest = method_arn.partition("/")
    stage = rest.split("/", 1)[0]
    return f"{api}/{stage}/*/v1/*"


class _Lru:
    """Entries that expire, at most ``size`` of them; the least recently used goes first."""

    def __init__(self, size: int, ttl: float) -> None:
        self.size, self.ttl = size, ttl
        self._items: OrderedDict[str, tuple[float, ApiKeyRecord | None]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, digest: str, now: float) -> tuple[bool, ApiKeyRecord | None]:
        """(found, record): found only while the entry is younger than ``ttl``."""
        entry = self._items.get(digest)
        if entry is None:
            return False, None
        if entry[0] <= now:
            del self._items[digest]
            return False, None
        self._items.move_to_end(digest)
        return True, entry[1]

    def put(self, digest: str, record: ApiKeyRecord | None, now: float) -> None:
        self._items[digest] = (now + self.ttl, record)
        self._items.move_to_end(digest)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def drop(self, digest: str) -> None:
        self._items.pop(digest, None)


class Authorizer:
    """Checks keys against the table; caches verified keys and misses apart (module doc).

    Args:
        store: the key store.
        clock: monotonic seconds (tests move it).
        max_keys: how many verified keys are kept (LRU).
        max_misses: how many unknown or revoked keys are kept (LRU).
    """

    def __init__(
        self,
        store: ApiKeyStore,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_keys: int = MAX_CACHED_KEYS,
        max_misses: int = MAX_CACHED_MISSES,
    ) -> None:
        self._store, self._clock = store, clock
        self._keys = _Lru(max_keys, CACHE_SECONDS)
        self._misses = _Lru(max_misses, MISS_CACHE_SECONDS)
        self._lock = threading.Lock()  # local servers call one authorizer from threads

    @property
    def max_keys(self) -> int:
        return self._keys.size

    @property
    def max_misses(self) -> int:
        return self._misses.size

    @property
    def cached(self) -> tuple[int, int]:
        """How many (verified keys, misses) are cached now."""
        return len(self._keys), len(self._misses)

    def record(self, key: str) -> ApiKeyRecord | None:
        """The key's active record, or None (unknown or revoked), from the cache if fresh."""
        digest, now = hash_key(key), self._clock()
        with self._lock:
            for cache in (self._keys, self._misses):
                found, cached = cache.get(digest, now)
                if found:
                    return cached
        record = self._store.api_key(key)
        if record is not None and not record.active:
            record = None
        with self._lock:
            if record is not None:
                self._misses.drop(digest)
                self._keys.put(digest, record, now)
            else:
                self._keys.drop(digest)
                self._misses.put(digest, None, now)
        return record

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        key = api_key_of(event.get("headers"))
        record = self.record(key) if key else None
        if record is None:
            logger.info("refused a /v1 request: %s", "unknown key" if key else "no key")
            raise Unauthorized()
        return {
            "principalId": record.owner,
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Action": "execute-api:Invoke",
                        "Effect": "Allow",
                        "Resource": _resource(str(event.get("methodArn", ""))),
                    }
                ],
            },
            "context": {"owner": record.owner, "key_name": record.name},
        }


class AuthorizerServices(Injectable):
    """What the authorizer function builds, once per container and on first use: its settings,
    a DynamoDB client, the key store and the caching :class:`Authorizer` (the same shape as
    :class:`code_exec.services.Services`, without the API's heavier clients, so the
    authorizer's cold start stays small). Tests override any of them by keyword."""

    INJECTABLE = ("config", "dynamodb", "keys", "authorizer")

    def __init__(self, **overrides: Any) -> None:
        self.override(**overrides)

    @cached_property
    def config(self) -> RuntimeConfig:
        return RuntimeConfig.from_env()

    @cached_property
    def dynamodb(self) -> Any:
        import boto3

        return boto3.client("dynamodb")

    @cached_property
    def keys(self) -> ApiKeyStore:
        return ApiKeyStore(self.dynamodb, self.config.table_name, ttl_seconds=0)

    @cached_property
    def authorizer(self) -> Authorizer:
        return Authorizer(self.keys)


services = AuthorizerServices()


def reset() -> None:
    """Forget the client and the cache (tests, local mode after the environment changed)."""
    services.reset()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point (``code_exec.anthropic.authorizer.handler``)."""
    return services.authorizer(event)
