"""Locust's CSV results (``--csv PREFIX``) read back, judged and printed.

Locust writes ``PREFIX_stats.csv`` (one row per request name: counts and response-time
percentiles in milliseconds, then an ``Aggregated`` row), ``PREFIX_failures.csv`` (one row
per request name and error) and ``PREFIX_exceptions.csv`` (errors raised in the
locustfile itself). :func:`read_results` reads them; :func:`verdict` says what is wrong
with a run; :func:`render` prints it for a person.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.load.plan import CONFLICT, REQUEST_TYPES

__all__ = ["Failure", "LoadResults", "TypeStats", "read_results", "render", "verdict"]


@dataclass(frozen=True)
class TypeStats:
    """One request type: how many, how many failed, latency percentiles (ms)."""

    name: str
    requests: int
    failures: int
    p50_ms: float
    p95_ms: float
    max_ms: float


@dataclass(frozen=True)
class Failure:
    name: str
    error: str
    occurrences: int


@dataclass
class LoadResults:
    """A run as locust saw it, plus what the emulator and the sweep saw afterwards."""

    types: dict[str, TypeStats]
    failures: list[Failure]
    exceptions: list[str]
    extra: dict[str, Any] = field(default_factory=dict)

    def count(self, name: str) -> int:
        stats = self.types.get(name)
        return stats.requests if stats else 0

    @property
    def conflicts(self) -> int:
        """The deliberate concurrent requests that got their 409."""
        stats = self.types.get(CONFLICT)
        return stats.requests - stats.failures if stats else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "types": {k: asdict(v) for k, v in self.types.items()},
            "failures": [asdict(f) for f in self.failures],
            "exceptions": self.exceptions,
            "conflicts_409": self.conflicts,
            **self.extra,
        }


def read_results(prefix: str | Path) -> LoadResults:
    """Read ``PREFIX_stats.csv``, ``PREFIX_failures.csv`` and ``PREFIX_exceptions.csv``."""
    prefix = str(prefix)
    types: dict[str, TypeStats] = {}
    for row in _rows(f"{prefix}_stats.csv"):
        if row["Name"] == "Aggregated":
            continue
        types[row["Name"]] = TypeStats(
            name=row["Name"],
            requests=int(row["Request Count"]),
            failures=int(row["Failure Count"]),
            p50_ms=_ms(row["50%"]),
            p95_ms=_ms(row["95%"]),
            max_ms=_ms(row["Max Response Time"]),
        )
    failures = [
        Failure(row["Name"], row["Error"], int(row["Occurrences"]))
        for row in _rows(f"{prefix}_failures.csv")
    ]
    exceptions = [f"{row['Count']} x {row['Message']}" for row in _rows(f"{prefix}_exceptions.csv")]
    return LoadResults(types, failures, exceptions)


def verdict(results: LoadResults, expected: dict[str, int]) -> list[str]:
    """What is wrong with the run (empty: nothing): every planned request made, none
    failed (a deliberate concurrent request fails unless it got its 409), nothing raised
    in the locustfile, and no sandbox session READY after the run or after the sweep."""
    problems = []
    for name, want in expected.items():
        got = results.count(name)
        if got != want:
            problems.append(f"{name}: {got} requests made, {want} planned")
    for stats in results.types.values():
        if stats.failures:
            problems.append(f"{stats.name}: {stats.failures} failed")
    problems += [f"locustfile error: {e}" for e in results.exceptions]
    for key, label in (
        ("ready_after_run", "after the run"),
        ("ready_after_sweep", "after the sweep"),
    ):
        ready = results.extra.get(key)
        if ready:
            problems.append(f"{ready} sandbox session(s) READY {label}")
    return problems


def render(results: LoadResults, problems: list[str]) -> str:
    """The table and verdict printed at the end of ``make load``."""
    width = max(len(n) for n in (*REQUEST_TYPES, *results.types, "request type"))
    lines = [
        f"{'request type':<{width}}  {'count':>5}  {'errors':>6}  {'p50 ms':>7}  "
        f"{'p95 ms':>7}  {'max ms':>7}"
    ]
    for name in [*REQUEST_TYPES, *sorted(set(results.types) - set(REQUEST_TYPES))]:
        s = results.types.get(name)
        if s is None:
            continue
        lines.append(
            f"{name:<{width}}  {s.requests:>5}  {s.failures:>6}  {s.p50_ms:>7.0f}  "
            f"{s.p95_ms:>7.0f}  {s.max_ms:>7.0f}"
        )
    extra = results.extra
    lines += [
        "",
        f"409 Conflict on the deliberate concurrent requests: {results.conflicts}",
        f"InvokeCodeInterpreter requests throttled by the emulator (absorbed by retries "
        f"unless an error above says otherwise): {extra.get('throttled', '?')}",
        f"sandbox sessions READY after the run: {extra.get('ready_after_run', '?')}; "
        f"after one sweep: {extra.get('ready_after_sweep', '?')} "
        f"(the sweep stopped {len((extra.get('sweep') or {}).get('stopped', []))})",
    ]
    for f in results.failures:
        lines.append(f"  failed {f.occurrences} x {f.name}: {f.error}")
    lines.append("")
    lines.append("PASS" if not problems else "FAIL:\n  " + "\n  ".join(problems))
    return "\n".join(lines)


def _rows(path: str) -> list[dict[str, str]]:
    file = Path(path)
    if not file.exists():
        return []
    with file.open(newline="") as f:
        return list(csv.DictReader(f))


def _ms(raw: str) -> float:
    """Locust writes ``N/A`` where it has no sample."""
    try:
        return float(raw)
    except ValueError:
        return 0.0
