"""Every emulator response of the test run is checked against botocore's service model.

The emulator the tests start runs with ``check_responses``: its server checks each
response it sends (``emulators.code_interpreter.conformance``), whoever the client is, and
keeps the mismatches. After each test this plugin reads them and fails the test during
which they appeared; the emulator fixture reads them once more before it stops, and the
terminal summary says how many responses were checked.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

__all__ = ["Watch", "watch"]


@dataclass
class Watch:
    """The running emulator's conformance log, read incrementally."""

    url: str
    reported: int = 0  # mismatches already turned into a failure
    checked: int = 0

    def read(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/_emulator/conformance", timeout=10) as r:
            report: dict[str, Any] = json.loads(r.read())
        if not report.get("enabled"):
            raise AssertionError("the test emulator does not check its responses")
        self.checked = int(report["checked"])
        return report

    def fail_on_new(self) -> None:
        """Fail (the current test or teardown) with the mismatches not reported yet."""
        mismatches = self.read()["mismatches"]
        new, self.reported = mismatches[self.reported :], len(mismatches)
        if new:
            lines = [
                f"{m['request']} -> {m['status']} ({m['operation']}): {p}"
                for m in new
                for p in m["problems"]
            ]
            pytest.fail(
                "the emulator sent responses the bedrock-agentcore service model does not "
                "allow:\n" + "\n".join(lines),
                pytrace=False,
            )


_current: list[Watch] = []  # the session's emulator, once started
_totals: dict[str, int] = {}


def watch(url: str) -> Watch:
    """Start watching the session emulator at ``url`` (called by its fixture)."""
    w = Watch(url)
    w.read()
    _current[:] = [w]
    return w


def finish(w: Watch) -> None:
    """The last read before the emulator stops; its totals go to the summary."""
    try:
        w.fail_on_new()
    finally:
        _totals["checked"] = w.checked
        _totals["mismatches"] = w.reported
        _current.clear()


@pytest.fixture(autouse=True)
def _emulator_responses_match_the_service_model() -> Iterator[None]:
    yield
    if _current:
        _current[0].fail_on_new()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _totals:
        terminalreporter.write_line(
            f"emulator: {_totals['checked']} responses checked against botocore's "
            f"bedrock-agentcore service model, {_totals['mismatches']} mismatches"
        )
