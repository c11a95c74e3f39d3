"""``make load``'s plan and its reading of locust's results (no server, no locust run; the
run itself is driven in ``tests/runtime/test_api_local.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from bench.load.plan import (
    CONFLICT,
    DELETE,
    EXECUTE,
    INVOKE,
    NEW_SESSION,
    PAIR_RAN,
    LoadSettings,
    SettingsError,
    expected_counts,
    session_plan,
)
from bench.load.report import read_results, render, verdict

# Locust 2.47's CSV header lines, as it writes them (--csv PREFIX).
STATS_HEADER = (
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
    "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,"
    "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%"
)
FAILURES_HEADER = "Method,Name,Error,Occurrences,First Seen,Last Seen"
EXCEPTIONS_HEADER = "Count,Message,Traceback,Nodes"


def test_every_session_makes_its_requests_then_deletes() -> None:
    settings = LoadSettings()  # 20 sessions x 10 requests, every 2nd with a concurrent pair
    for index in range(settings.sessions):
        plan = session_plan(index, settings)
        assert plan[0] == NEW_SESSION and NEW_SESSION not in plan[1:]
        assert INVOKE in plan
        requests = len(plan) + plan.count(CONFLICT)  # a pair is two requests
        assert requests == settings.requests
        assert plan.count(CONFLICT) == (1 if index % 2 == 0 else 0)
    counts = expected_counts(settings)
    assert counts[NEW_SESSION] == counts[DELETE] == 20
    assert counts[PAIR_RAN] == counts[CONFLICT] == 10
    assert sum(counts.values()) - counts[DELETE] == 200
    invokes = [session_plan(i, settings).index(INVOKE) for i in range(3)]
    assert len(set(invokes)) == 3  # sessions do not all invoke at the same step


def test_the_smallest_plan_still_has_each_kind() -> None:
    plan = session_plan(0, LoadSettings(sessions=1, requests=4))
    assert plan == [NEW_SESSION, CONFLICT, INVOKE]


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"LOAD_SESSIONS": "0"}, "LOAD_SESSIONS"),
        ({"LOAD_REQUESTS": "3"}, "LOAD_REQUESTS"),
        ({"LOAD_CONFLICT_EVERY": "x"}, "LOAD_CONFLICT_EVERY"),
        ({"LOAD_TIME_LIMIT": "-5"}, "LOAD_TIME_LIMIT"),
    ],
)
def test_bad_settings_name_their_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(SettingsError, match=name):
        LoadSettings.from_env(env)


def test_settings_round_trip_through_the_environment() -> None:
    settings = LoadSettings(sessions=3, requests=5, conflict_every=0, time_limit=30.0)
    assert LoadSettings.from_env(settings.env()) == settings


def _write(prefix: Path, stats: Sequence[str], failures: Sequence[str] = ()) -> None:
    Path(f"{prefix}_stats.csv").write_text("\n".join([STATS_HEADER, *stats]) + "\n")
    Path(f"{prefix}_failures.csv").write_text("\n".join([FAILURES_HEADER, *failures]) + "\n")
    Path(f"{prefix}_exceptions.csv").write_text(EXCEPTIONS_HEADER + "\n")


def _row(name: str, count: int, failed: int, p50: int, p95: int, top: float) -> str:
    quoted = f'"{name}"' if "," in name else name
    cells = [p50, p50, p50, p50, p95, p95, p95, p95, p95, p95, p95]
    return f"POST,{quoted},{count},{failed},{p50},1.0,1.0,{top},10,1.0,0.0," + ",".join(
        map(str, cells)
    )


def test_results_are_read_and_judged(tmp_path: Path) -> None:
    settings = LoadSettings(sessions=2, requests=4)
    expected = expected_counts(settings)
    assert expected == {
        NEW_SESSION: 2,
        EXECUTE: 2,
        INVOKE: 2,
        PAIR_RAN: 1,
        CONFLICT: 1,
        DELETE: 2,
    }
    prefix = tmp_path / "locust"
    _write(
        prefix,
        [
            _row(NEW_SESSION, 2, 0, 950, 3100, 3087.2),
            _row(EXECUTE, 2, 0, 80, 90, 91.0),
            _row(INVOKE, 2, 0, 720, 720, 724.0),
            _row(PAIR_RAN, 1, 0, 3100, 3100, 3104.0),
            _row(CONFLICT, 1, 0, 370, 370, 367.0),
            _row(DELETE, 2, 0, 120, 120, 116.0),
            ",Aggregated,10,0,370,1.0,1.0,3087.2,10,1.0,0.0,370,370,370,370,3100,3100,"
            "3100,3100,3100,3100,3100",
        ],
    )
    results = read_results(prefix)
    assert results.types[INVOKE].p95_ms == 720 and results.types[NEW_SESSION].max_ms == 3087.2
    assert "Aggregated" not in results.types
    assert results.conflicts == 1
    results.extra.update({"ready_after_run": 0, "ready_after_sweep": 0, "throttled": 12})
    assert verdict(results, expected) == []
    assert render(results, []).endswith("PASS")

    results.extra["ready_after_sweep"] = 2
    assert verdict(results, expected) == ["2 sandbox session(s) READY after the sweep"]


def test_failures_and_missing_requests_fail_the_run(tmp_path: Path) -> None:
    expected = expected_counts(LoadSettings(sessions=2, requests=4))
    prefix = tmp_path / "locust"
    failure = (
        'POST,"POST /invoke (ptc, bridged tools)",'
        "CatchResponseError('429: SandboxThrottled: Rate exceeded'),1,"
        "2026-11-29T00:15:51Z,2026-11-29T00:15:59Z"
    )
    _write(
        prefix,
        [_row(NEW_SESSION, 2, 0, 950, 3100, 3087.2), _row(INVOKE, 2, 1, 720, 720, 724.0)],
        [failure],
    )
    results = read_results(prefix)
    problems = verdict(results, expected)
    assert f"{INVOKE}: 1 failed" in problems
    assert f"{CONFLICT}: 0 requests made, 1 planned" in problems
    assert f"{DELETE}: 0 requests made, 2 planned" in problems
    assert "failed 1 x POST /invoke (ptc, bridged tools): CatchResponseError('429" in render(
        results, problems
    )


def test_no_results_at_all_is_a_failed_run(tmp_path: Path) -> None:
    problems = verdict(read_results(tmp_path / "missing"), {EXECUTE: 1})
    assert problems == [f"{EXECUTE}: 0 requests made, 1 planned"]
