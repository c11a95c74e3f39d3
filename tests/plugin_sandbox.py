"""Sandbox tests run or fail; skipping them is one explicit, loud opt-out.

A test marked ``sandbox`` (every test using the emulator is marked at collection) needs
bubblewrap to create sandboxes. Where the machine cannot, the test fails and names the
cause. ``SKIP_SANDBOX_TESTS=1`` is the opt-out for machines without bubblewrap: those
tests are then skipped, counted and named in a banner at the end of the run. Tests that
need one more feature of the sandbox (a quota mount, a pids cgroup, node) call
:func:`require` with what is missing, under the same rule.

Any other skip fails the run: a test that skips without saying so at the top of the
summary is a test that can no longer fail.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import pytest

__all__ = ["OPT_OUT", "opted_out", "require", "sandbox_problem"]

OPT_OUT = "SKIP_SANDBOX_TESTS"
_TAG = "[sandbox unavailable]"  # in every opt-out skip reason; how the summary finds them
_skips: list[tuple[str, str]] = []  # (node id, reason) of every skip in this run


def opted_out() -> bool:
    """True when ``SKIP_SANDBOX_TESTS=1``."""
    return os.environ.get(OPT_OUT, "") == "1"


@functools.cache
def sandbox_problem() -> str | None:
    """Why the emulator cannot create sandboxes on this machine (None: it can)."""
    from emulators.code_interpreter.sandbox import bwrap_problem

    return bwrap_problem()


def require(problem: str | None) -> None:
    """Fail the running test naming ``problem``; skip it loudly under the opt-out instead."""
    if problem is None:
        return
    if opted_out():
        pytest.skip(f"{_TAG} {problem}")
    pytest.fail(
        f"sandbox test cannot run: {problem}\n"
        f"Fix the machine (make setup installs bubblewrap), or set {OPT_OUT}=1 to skip the "
        "sandbox tests, loudly, on a machine without bubblewrap.",
        pytrace=False,
    )


def pytest_configure(config: pytest.Config) -> None:
    _skips.clear()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        uses_emulator = "emulator_url" in getattr(item, "fixturenames", ())
        if uses_emulator and item.get_closest_marker("sandbox") is None:
            item.add_marker(pytest.mark.sandbox)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("sandbox") is not None:
        require(sandbox_problem())


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and isinstance(report.longrepr, tuple):
        _skips.append((report.nodeid, str(report.longrepr[2]).removeprefix("Skipped: ")))


def _split() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(opt-out skips with their cause, every other skip)."""
    ours = [(n, r.removeprefix(_TAG).strip()) for n, r in _skips if r.startswith(_TAG)]
    return ours, [(n, r) for n, r in _skips if not r.startswith(_TAG)]


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _, others = _split()
    if others and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    ours, others = _split()
    tr = terminalreporter
    if ours:
        tr.write_sep("!", f"{len(ours)} SANDBOX TESTS WERE SKIPPED ({OPT_OUT}=1)", red=True)
        reasons: dict[str, int] = {}
        for _, reason in ours:
            reasons[reason] = reasons.get(reason, 0) + 1
        for reason, count in sorted(reasons.items()):
            tr.write_line(f"NOT RUN: {count} test(s) because {reason}", red=True, bold=True)
        tr.write_line("These tests prove the sandbox; this run proves nothing about it.", red=True)
    elif opted_out():
        tr.write_line(f"{OPT_OUT}=1 is set, but the sandbox works here: every test ran.")
    if others:
        tr.write_sep("!", f"{len(others)} TESTS SKIPPED OUTSIDE {OPT_OUT}: THE RUN FAILS", red=True)
        for nodeid, reason in others:
            tr.write_line(f"{nodeid}: {reason}", red=True)


def pytest_report_header() -> str | None:
    if opted_out():
        return f"{OPT_OUT}=1: sandbox tests that cannot run here are SKIPPED, not failed"
    return None
