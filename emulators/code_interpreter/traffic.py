"""Data-plane traffic: calls counted per session, and the service's request-rate limits.

AgentCore rate-limits ``InvokeCodeInterpreter`` per account (a service quota) and answers
a request over the rate with ``ThrottlingException`` (HTTP 429, before any stream). The
emulator does the same, per session and per account (the access key id the request was
signed with), with token buckets that refill at the configured rate and hold one
second's worth of requests. A rate of 0 means no limit.

The counts are the emulator's own bookkeeping, read through the local-only admin
endpoint ``GET /_emulator/sessions/<id>/calls``; they never appear in a response of a
modelled operation.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .exceptions import ThrottlingException

__all__ = ["RATE_LIMITED", "RateLimiter", "SessionTraffic", "Traffic"]

RATE_LIMITED = frozenset({"InvokeCodeInterpreter"})  # operations the limits apply to


class RateLimiter:
    """Token buckets by key: ``rate`` requests a second, bursts of up to one second's worth."""

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, as of)
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """Take one token from ``key``'s bucket; False when it is empty (throttle)."""
        if self.rate <= 0:
            return True
        with self._lock:
            now = self._clock()
            tokens, since = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - since) * self.rate)
            allowed = tokens >= 1.0
            self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
            return allowed

    def wait(self, key: str) -> None:
        """Block until ``key``'s bucket has a token, and take it (a client pacing itself)."""
        while not self.allow(key):
            time.sleep(0.5 / max(self.rate, 1.0))

    def forget(self, key: str) -> None:
        with self._lock:
            self._buckets.pop(key, None)


@dataclass
class SessionTraffic:
    """What one session was sent: requests by operation and tool, and how many were refused."""

    operations: Counter[str] = field(default_factory=Counter)
    tools: Counter[str] = field(default_factory=Counter)
    throttled: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": sum(self.operations.values()),
            "operations": dict(self.operations),
            "tools": dict(self.tools),
            "throttled": self.throttled,
        }


class Traffic:
    """Counts every data-plane request per session and applies the rate limits."""

    def __init__(
        self,
        *,
        per_session: float = 0.0,
        per_account: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = RateLimiter(per_session, clock=clock)
        self._accounts = RateLimiter(per_account, clock=clock)
        self._traffic: dict[str, SessionTraffic] = {}
        self._throttled_total = 0
        self._lock = threading.Lock()

    def admit(self, operation: str, session_id: str | None, account: str) -> None:
        """Count a request; raise :class:`ThrottlingException` when it is over a rate."""
        limited = operation in RATE_LIMITED
        refused = limited and not self._accounts.allow(account)
        if limited and not refused and session_id:
            refused = not self._sessions.allow(session_id)
        with self._lock:
            if refused:
                self._throttled_total += 1
            if session_id:
                traffic = self._traffic.setdefault(session_id, SessionTraffic())
                traffic.operations[operation] += 1
                traffic.throttled += refused
        if refused:
            raise ThrottlingException("Rate exceeded")

    def count_tool(self, session_id: str, tool: str) -> None:
        """Count an admitted ``InvokeCodeInterpreter`` by its tool name."""
        with self._lock:
            self._traffic.setdefault(session_id, SessionTraffic()).tools[tool] += 1

    def of(self, session_id: str) -> SessionTraffic:
        """A copy of what ``session_id`` was sent so far."""
        with self._lock:
            t = self._traffic.get(session_id, SessionTraffic())
            return SessionTraffic(Counter(t.operations), Counter(t.tools), t.throttled)

    @property
    def throttled(self) -> int:
        """Requests refused so far, every session and account."""
        with self._lock:
            return self._throttled_total

    def forget(self, session_id: str) -> None:
        """Drop a session's counts and bucket (the session is gone for good)."""
        self._sessions.forget(session_id)
        with self._lock:
            self._traffic.pop(session_id, None)
