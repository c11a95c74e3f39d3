"""The Lambda REQUEST authorizer of ``/v1/*``: an API key in ``x-api-key`` or ``Authorization:
Bearer``, looked up by its SHA-256 in DynamoDB.

The Anthropic SDK sends ``api_key`` as ``x-api-key`` and ``auth_token`` as ``Authorization:
Bearer``. API Gateway caches authorizer results only per identity source, and with identity
sources configured it refuses (401) any request missing one of them, so either header could
not be optional. The authorizer therefore runs on every request (API Gateway's cache is off)
and caches verified keys itself, per warm instance, for :data:`CACHE_SECONDS`: a key is looked
up in DynamoDB at most once per instance and period. A missing or unknown key answers 401
(API Gateway's ``UNAUTHORIZED`` response, which the stack renders in Anthropic's envelope).

The context it passes on (``owner``, ``key_name``) is what the API function trusts: only API
Gateway, after this authorizer, invokes it for ``/v1/*``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import cached_property
from typing import Any

from code_exec.config import RuntimeConfig
from code_exec.injectable import Injectable
from code_exec.store.api_keys import ApiKeyRecord, ApiKeyStore, hash_key

__all__ = ["CACHE_SECONDS", "Authorizer", "AuthorizerServices", "api_key_of", "handler", "services"]

logger = logging.getLogger(__name__)

CACHE_SECONDS = 300.0
MISS_CACHE_SECONDS = 10.0  # short: a key minted a moment ago must work at once
_MAX_CACHED = 10_000


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


class Authorizer:
    """Checks keys against the table; caches the outcome per key hash."""

    def __init__(self, store: ApiKeyStore, clock: Callable[[], float] = time.monotonic) -> None:
        self._store, self._clock = store, clock
        self._cache: dict[str, tuple[float, ApiKeyRecord | None]] = {}

    def record(self, key: str) -> ApiKeyRecord | None:
        digest, now = hash_key(key), self._clock()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        record = self._store.api_key(key)
        if len(self._cache) >= _MAX_CACHED:
            self._cache.clear()
        ttl = CACHE_SECONDS if record is not None else MISS_CACHE_SECONDS
        self._cache[digest] = (now + ttl, record)
        return record

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        key = api_key_of(event.get("headers"))
        record = self.record(key) if key else None
        if record is None or not record.active:
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
