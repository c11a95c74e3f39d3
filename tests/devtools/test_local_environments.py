"""``make local`` runs each request alone in its execution environment, as Lambda does: the
buffered function's requests in :class:`~devtools.api_workers.ApiWorkers` processes, the
streaming function's in runtime processes that each serve one invocation at a time.
Concurrent requests meet in separate processes, never in one (module state such as
Powertools' resolver, logger keys and metrics is per process)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

from devtools.api_workers import ApiWorkers
from devtools.local_server import LocalApi

ROOT = Path(__file__).resolve().parents[2]
PROBE = "tests.devtools.probe"
CONCURRENT = 4
WORKERS = 2


def _at_once(call: Callable[[int], dict[str, Any]]) -> list[dict[str, Any]]:
    with ThreadPoolExecutor(CONCURRENT) as pool:
        return list(pool.map(call, range(CONCURRENT)))


def _serve_streams(mode: Literal["process", "thread"]) -> list[dict[str, Any]]:
    """``CONCURRENT`` streamed requests at once against ``WORKERS`` streaming runtimes."""
    api = ApiWorkers(f"{PROBE}.buffered", count=1)
    local = LocalApi(
        api,
        workers=WORKERS,
        mode=mode,
        stream_handler=f"{PROBE}.streamed",
        env={"PYTHONPATH": str(ROOT)},  # the probe, for the runtime started by its wrapper
    )

    def post(_: int) -> dict[str, Any]:
        request = urllib.request.Request(f"{local.url}/invoke/stream", data=b"{}")
        with urllib.request.urlopen(request, timeout=60) as resp:
            return dict(json.loads(resp.read()))

    try:
        with local:
            return _at_once(post)
    finally:
        api.stop()


def test_buffered_requests_at_once_run_in_separate_worker_processes() -> None:
    api = ApiWorkers(f"{PROBE}.buffered", count=WORKERS)
    try:
        seen = _at_once(lambda _: json.loads(api({"path": "/"})["body"]))
    finally:
        api.stop()
    assert [s["active"] for s in seen] == [1] * CONCURRENT, seen
    assert len({s["pid"] for s in seen}) == WORKERS, seen


def test_streamed_requests_at_once_run_in_separate_runtime_processes() -> None:
    """As ``make local`` starts them: through the exec wrapper, one process per runtime."""
    seen = _serve_streams("process")
    assert [s["active"] for s in seen] == [1] * CONCURRENT, seen
    assert len({s["pid"] for s in seen}) == WORKERS, seen


def test_the_probe_sees_invocations_that_share_a_process() -> None:
    """The check above can fail: runtimes as threads of one process (the tests' in-process
    mode, for doubles such as moto) serve invocations side by side in that process."""
    seen = _serve_streams("thread")
    assert len({s["pid"] for s in seen}) == 1, seen
    assert max(s["active"] for s in seen) == WORKERS, seen
