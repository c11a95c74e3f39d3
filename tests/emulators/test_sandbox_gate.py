"""A sandbox test that cannot run fails, naming the cause; skipping is a loud opt-out.

Each test runs pytest in a subprocess on real sandbox tests with bubblewrap made
unavailable (missing from PATH, or present but refused by the kernel), and checks the
exit status and what the run says.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from emulators.code_interpreter.spawn import ROOT

from .conftest import UNUSED_PLUGINS

pytestmark = pytest.mark.slow(seconds=15)

# One test through the emulator fixture, one marked ``sandbox`` that builds its own backend.
TARGETS = [
    "tests/emulators/test_emulator_sessions.py::test_clear_context_resets_state",
    "tests/emulators/test_emulator_backend.py::test_without_a_quota_mount",
]
_REFUSED = (
    "#!/bin/sh\n"
    "echo 'bwrap: No permissions to create new namespace, likely because the kernel does "
    "not allow non-privileged user namespaces.' >&2\nexit 1\n"
)


def _pytest(path: str, *args: str, opt_out: bool = False) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "SKIP_SANDBOX"))}
    env["PATH"] = path
    if opt_out:
        env["SKIP_SANDBOX_TESTS"] = "1"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *UNUSED_PLUGINS, "-q", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_without_bubblewrap_sandbox_tests_fail_naming_the_cause(tmp_path: Path) -> None:
    # an empty PATH: no bwrap. ``-rN`` drops the short summary, which repeats the cause
    # only when the terminal is wide enough not to cut it, so the count is exact anywhere.
    code, out = _pytest(str(tmp_path), "-rN", *TARGETS)
    assert code == 1, out
    assert "2 errors" in out and "skipped" not in out, out
    assert out.count("sandbox test cannot run: bubblewrap (bwrap) is not installed") == 2, out
    assert "SKIP_SANDBOX_TESTS=1" in out  # the way out is named too


def test_a_bubblewrap_the_kernel_refuses_fails_naming_the_cause(tmp_path: Path) -> None:
    fake = tmp_path / "bwrap"
    fake.write_text(_REFUSED)
    fake.chmod(0o755)
    code, out = _pytest(f"{tmp_path}:/usr/bin:/bin", *TARGETS)
    assert code == 1, out
    assert "2 errors" in out, out
    assert "bubblewrap cannot create a sandbox here: bwrap: No permissions" in out, out


def test_the_opt_out_skips_loudly_and_passes(tmp_path: Path) -> None:
    code, out = _pytest(str(tmp_path), *TARGETS, opt_out=True)
    assert code == 0, out
    assert "2 skipped" in out, out
    assert "2 SANDBOX TESTS WERE SKIPPED (SKIP_SANDBOX_TESTS=1)" in out, out
    assert "NOT RUN: 2 test(s) because bubblewrap (bwrap) is not installed" in out, out


def test_any_other_skip_fails_the_run_even_under_the_opt_out(tmp_path: Path) -> None:
    test = tmp_path / "test_quietly.py"
    test.write_text("import pytest\n\ndef test_x():\n    pytest.skip('not today')\n")
    for opt_out in (False, True):
        plugin = ("-p", "tests.plugin_sandbox")
        code, out = _pytest("/usr/bin:/bin", *plugin, str(test), opt_out=opt_out)
        assert code == 1, out
        assert "1 TESTS SKIPPED OUTSIDE SKIP_SANDBOX_TESTS: THE RUN FAILS" in out, out
        assert "test_quietly.py::test_x: not today" in out, out


def test_ci_refuses_the_opt_out(tmp_path: Path) -> None:
    """``.ci/run`` stops before ``make test`` when the opt-out is set (a fake make shows it)."""
    make = tmp_path / "make"
    make.write_text("#!/bin/sh\necho MAKE WAS RUN\n")
    make.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "SKIP_SANDBOX_TESTS": "1"}
    proc = subprocess.run(
        ["/bin/bash", str(ROOT / ".ci" / "run")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    assert "MAKE WAS RUN" not in proc.stdout
    assert "SKIP_SANDBOX_TESTS" in proc.stderr
    del env["SKIP_SANDBOX_TESTS"]
    ran = subprocess.run(
        ["/bin/bash", str(ROOT / ".ci" / "run")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (ran.returncode, ran.stdout) == (0, "MAKE WAS RUN\n")
