"""What each session of the load test does, and the settings that size it.

Kept apart from the locustfile (which only locust's own process imports: it patches the
standard library with gevent) so the runner and the tests read the same plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "CONFLICT",
    "DELETE",
    "EXECUTE",
    "INVOKE",
    "NEW_SESSION",
    "PAIR_RAN",
    "REQUEST_TYPES",
    "LoadSettings",
    "SettingsError",
    "expected_counts",
    "session_plan",
]

# Request types, as locust names them in its statistics. A session's first execute starts
# its sandbox session; the executes of a concurrent pair sleep on purpose: each is counted
# apart, so the plain execute's latency is that of a code run in a running session.
NEW_SESSION = "POST /sessions/{id}/execute (first: starts the sandbox)"
EXECUTE = "POST /sessions/{id}/execute"
INVOKE = "POST /invoke (ptc, bridged tools)"
PAIR_RAN = "POST /sessions/{id}/execute (concurrent pair: ran, sleeps 3 s)"
CONFLICT = "POST /sessions/{id}/execute (concurrent pair: 409 expected)"
DELETE = "DELETE /sessions/{id}"
REQUEST_TYPES = (NEW_SESSION, EXECUTE, INVOKE, PAIR_RAN, CONFLICT, DELETE)

_CYCLE = (INVOKE, EXECUTE, EXECUTE)  # after the first execute; rotated per session


class SettingsError(ValueError):
    """A load setting has a bad value (the message names the variable)."""


@dataclass(frozen=True)
class LoadSettings:
    """How big the test is.

    Attributes:
        sessions: concurrent named sessions (one locust user each).
        requests: requests per session before its ``DELETE`` (at least 4: the first
            execute, an invoke, and room for the concurrent pair).
        conflict_every: every n-th session (0, n, 2n, ...) sends one request while another
            holds its session; 0: none does.
        time_limit: seconds after which the test stops whatever is left.
    """

    sessions: int = 20
    requests: int = 10
    conflict_every: int = 2
    time_limit: float = 600.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LoadSettings:
        """``LOAD_SESSIONS``, ``LOAD_REQUESTS``, ``LOAD_CONFLICT_EVERY``, ``LOAD_TIME_LIMIT``."""
        values = {}
        for name, lo in (("sessions", 1), ("requests", 4), ("conflict_every", 0)):
            var = f"LOAD_{name.upper()}"
            raw = env.get(var, "").strip()
            if raw:
                if not raw.isdigit() or int(raw) < lo:
                    raise SettingsError(f"{var} must be an integer >= {lo}, got {raw!r}")
                values[name] = int(raw)
        raw = env.get("LOAD_TIME_LIMIT", "").strip()
        if raw:
            try:
                limit = float(raw)
            except ValueError:
                limit = 0.0
            if not limit > 0:
                raise SettingsError(f"LOAD_TIME_LIMIT must be seconds > 0, got {raw!r}")
            values["time_limit"] = limit
        return cls(**values)  # type: ignore[arg-type]

    def env(self) -> dict[str, str]:
        """These settings as the locustfile reads them."""
        return {
            "LOAD_SESSIONS": str(self.sessions),
            "LOAD_REQUESTS": str(self.requests),
            "LOAD_CONFLICT_EVERY": str(self.conflict_every),
            "LOAD_TIME_LIMIT": str(self.time_limit),
        }

    def conflicts(self, index: int) -> bool:
        return self.conflict_every > 0 and index % self.conflict_every == 0


def session_plan(index: int, settings: LoadSettings) -> list[str]:
    """The steps of session ``index``: request types, :data:`CONFLICT` standing for the
    concurrent pair (two executes at once: one runs, :data:`PAIR_RAN`, the other must get
    409, :data:`CONFLICT`).

    The first step, :data:`NEW_SESSION`, is an execute that starts the session and its
    counter; the rest cycle through
    invoke, execute, execute, starting at a point that depends on the session so that the
    sessions' invokes do not all fall together. A conflicting session makes its pair
    halfway through. The ``DELETE`` that ends every session is not part of the plan.
    """
    pair = settings.conflicts(index)
    rest = settings.requests - 1 - (2 if pair else 0)
    steps = [_CYCLE[(index + i) % len(_CYCLE)] for i in range(rest)]
    if INVOKE not in steps:
        steps[0] = INVOKE
    if pair:
        steps.insert(len(steps) // 2, CONFLICT)
    return [NEW_SESSION, *steps]


def expected_counts(settings: LoadSettings) -> dict[str, int]:
    """How many requests of each type a complete run makes."""
    counts = dict.fromkeys(REQUEST_TYPES, 0)
    for index in range(settings.sessions):
        for step in session_plan(index, settings):
            if step == CONFLICT:
                counts[PAIR_RAN] += 1
            counts[step] += 1
        counts[DELETE] += 1
    return counts
