"""Collection loads no CDK, and every module that loads it runs on the CDK worker.

Every xdist worker collects the whole suite, so whatever a test module imports at its top is
paid once per worker: the CDK (``aws_cdk``, a jsii node process, cdk-nag, cfn-lint, the
construct library and the app's ``stacks``) is imported where a test uses it instead. The
modules that do load it are marked ``cdk``, and tests/plugin_schedule.py runs them all in one
worker. A pytest collection in a child process checks both: what the collection imported, and
the ``xdist_group`` every item was given. What collection loaded is then frozen out of the
cyclic GC (tests/conftest.py).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.plugin_schedule import CDK_GROUP, group_of, marked_cdk, next_unit, start_order, waits

pytestmark = pytest.mark.slow(seconds=20)

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
# What loading the CDK means: a module (or a package) any of these name.
CDK_MODULES = (
    "aws_cdk",
    "jsii",
    "cdk_nag",
    "cfnlint",
    "constructs",
    "bedrock_code_execution",
    "stacks",
)
CDK_HELPERS = {"devtools.deployment": {"synth_app"}}  # helpers that synthesize when called
# Two modules that are not marked: one reads the shared AgentStack template, one is this one.
UNMARKED = ("tests/runtime/test_jobs.py", "tests/test_collection_imports.py")

# Runs in the child: collect, then write what was imported and each item's group.
_COLLECT = """
import json, sys
import pytest

HEAVY = {heavy!r}

class Probe:
    def pytest_collection_finish(self, session):
        self.loaded = sorted({{m.split(".")[0] for m in sys.modules}} & set(HEAVY))
        self.marked = {{}}
        for item in session.items:
            module = item.getparent(pytest.Module)
            marked = module.get_closest_marker("cdk") is not None
            self.marked.setdefault(item.nodeid.split("::")[0], set()).add(marked)

probe = Probe()
code = pytest.main(sys.argv[2:], plugins=[probe])
marked = {{module: sorted(seen) for module, seen in probe.marked.items()}}
with open(sys.argv[1], "w") as out:
    json.dump({{"loaded": probe.loaded, "marked": marked}}, out)
sys.exit(code)
"""


def _loads_cdk(path: Path) -> list[str]:
    """The imports in ``path`` (anywhere in it) that load the CDK."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            helpers = CDK_HELPERS.get(node.module, set())
            if {a.name for a in node.names} & helpers:
                found.append(node.module)
            names = [node.module]
        else:
            continue
        found.extend(n for n in names if n.split(".")[0] in CDK_MODULES)
    return found


def _test_modules() -> list[Path]:
    return sorted(TESTS.rglob("test_*.py"))


def _collect(tmp_path: Path, *paths: str) -> dict[str, object]:
    out = tmp_path / "collected.json"
    # the third-party plugins the CDK modules' collection does not need (syrupy's report of
    # the snapshots a collection leaves unused would fail it); addopts leave out the others
    unused = ("xdist", "hypothesispytest", "schemathesis", "syrupy", "cacheprovider")
    args = [f"-pno:{name}" for name in unused] + ["--collect-only", "-q", *paths]
    script = _COLLECT.format(heavy=CDK_MODULES)
    proc = subprocess.run(
        [sys.executable, "-c", script, str(out), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text())


def test_every_test_module_that_loads_the_cdk_is_marked_cdk() -> None:
    unmarked = {
        str(p.relative_to(REPO)): _loads_cdk(p)
        for p in _test_modules()
        if _loads_cdk(p) and not marked_cdk(p)
    }
    assert unmarked == {}
    assert _loads_cdk(TESTS / "runtime" / "test_least_privilege.py") == ["devtools.deployment"]


def test_collecting_the_cdk_modules_loads_no_cdk_and_groups_them_on_one_worker(
    tmp_path: Path,
) -> None:
    marked = [str(p.relative_to(REPO)) for p in _test_modules() if marked_cdk(p)]
    assert len(marked) >= 15  # tests/stacks, tests/examples, tests/integ and a few runtime ones

    found = _collect(tmp_path, *marked, *UNMARKED)

    assert found["loaded"] == []
    # the scheduler's reading of the sources is the marks pytest collects
    assert found["marked"] == {
        **{module: [True] for module in marked},
        **{module: [False] for module in UNMARKED},
    }
    groups = {module: group_of(f"{module}::test", REPO) for module in found["marked"]}
    assert groups == {
        **{module: CDK_GROUP for module in marked},
        **{module: module for module in UNMARKED},
    }


def _write_modules(root: Path, sources: dict[str, str]) -> None:
    for name, source in sources.items():
        (root / name).write_text(source)


def test_a_cdk_mark_is_read_alone_or_in_a_list_and_only_at_the_top(tmp_path: Path) -> None:
    sources = {
        "alone.py": "import pytest\npytestmark = pytest.mark.cdk\n",
        "listed.py": "import pytest\npytestmark = [pytest.mark.sandbox, pytest.mark.cdk]\n",
        "other.py": "import pytest\npytestmark = pytest.mark.sandbox\n",
        "one_test.py": "import pytest\n@pytest.mark.cdk\ndef test_x():\n    pass\n",
    }
    _write_modules(tmp_path, sources)
    groups = {name: group_of(f"{name}::test_x", tmp_path) for name in sources}
    assert groups == {
        "alone.py": CDK_GROUP,
        "listed.py": CDK_GROUP,
        "other.py": "other.py",
        "one_test.py": "one_test.py",
    }


def test_units_start_with_the_cdk_group_and_the_slow_modules(tmp_path: Path) -> None:
    _write_modules(
        tmp_path,
        {
            "few.py": "",
            "many.py": "",
            "slow_few.py": "import pytest\npytestmark = [pytest.mark.sandbox, pytest.mark.slow]\n",
            "slow_many.py": "import pytest\npytestmark = pytest.mark.slow\n",
            "slowest.py": "import pytest\npytestmark = [\n    pytest.mark.slow(seconds=90),\n]\n",
            "slow_short.py": "import pytest\npytestmark = pytest.mark.slow(seconds=12)\n",
            "maybe.py": "import pytest\nW = ''\npytestmark = pytest.mark.skipif(0, reason=W)\n",
            "stack.py": "import pytest\npytestmark = pytest.mark.cdk\n",
        },
    )
    tests = {"few.py": 1, "many.py": 4, "slow_few.py": 1, "slow_many.py": 2, "stack.py": 1}
    tests |= {"slow_short.py": 3, "slowest.py": 1, "maybe.py": 2}
    collected = [f"{module}::t{n}" for module, count in tests.items() for n in range(count)]

    ordered = start_order(collected, tmp_path)

    assert sorted(ordered) == sorted(collected)
    modules = list(dict.fromkeys(nodeid.split("::")[0] for nodeid in ordered))
    # the CDK group, the slow modules by the seconds their mark gives (30 when it gives none),
    # then the rest; ties by number of tests, then as collected; a module's tests stay
    # together and in order
    assert modules == [
        "stack.py",
        "slowest.py",
        "slow_many.py",
        "slow_few.py",
        "slow_short.py",
        "many.py",
        "maybe.py",
        "few.py",
    ]
    assert [n for n in ordered if n.startswith("many.py")] == [f"many.py::t{n}" for n in range(4)]


def test_one_module_that_waits_runs_at_a_time_and_starts_first(tmp_path: Path) -> None:
    _write_modules(
        tmp_path,
        {
            "busy.py": "import pytest\npytestmark = pytest.mark.slow(seconds=40)\n",
            "paused.py": "import pytest\npytestmark = pytest.mark.slow(seconds=50, waits=True)\n",
            "deadline.py": (
                "import pytest\npytestmark = [\n    pytest.mark.slow(seconds=20, waits=True),\n]\n"
            ),
            "said_no.py": "import pytest\npytestmark = pytest.mark.slow(seconds=30, waits=False)\n",
            "plain.py": "",
        },
    )
    assert [waits(tmp_path / m) for m in ("busy.py", "paused.py", "deadline.py")] == [
        False,
        True,
        True,
    ]
    assert not waits(tmp_path / "said_no.py") and not waits(tmp_path / "plain.py")
    queued = [CDK_GROUP, "paused.py", "busy.py", "said_no.py", "deadline.py", "plain.py"]
    # none in progress: the first that waits goes first
    assert next_unit(queued, False, tmp_path) == "paused.py"
    # one in progress: the others, in order, and those that wait after them
    assert next_unit(queued, True, tmp_path) == CDK_GROUP
    assert next_unit(["deadline.py", "plain.py"], True, tmp_path) == "plain.py"
    assert next_unit(["deadline.py"], True, tmp_path) == "deadline.py"
    assert next_unit(["busy.py", "plain.py"], False, tmp_path) == "busy.py"


_RECORDING_TEST = """
import os, pytest
{mark}
@pytest.mark.parametrize("n", range(5))
def test_records_its_worker(n, request):
    with open(os.path.join(os.environ["RECORD_DIR"], request.node.name + "-" + __name__), "w") as f:
        f.write(os.environ["PYTEST_XDIST_WORKER"])
"""


def test_loadgroup_runs_the_cdk_modules_in_one_worker_and_each_other_module_in_one(
    tmp_path: Path,
) -> None:
    suite, record = tmp_path / "suite", tmp_path / "record"
    suite.mkdir()
    record.mkdir()
    modules = {
        "cdk_a": "pytestmark = pytest.mark.cdk",
        "cdk_b": "pytestmark = pytest.mark.cdk",
        "plain_c": "",
        "plain_d": "",
        "waits_e": "pytestmark = pytest.mark.slow(seconds=20, waits=True)",
        "waits_f": "pytestmark = pytest.mark.slow(seconds=10, waits=True)",
    }
    for name, mark in modules.items():
        (suite / f"test_{name}.py").write_text(_RECORDING_TEST.format(mark=mark))
    (suite / "pytest.ini").write_text(
        "[pytest]\nmarkers =\n    cdk: loads the CDK\n    slow(seconds, waits): long\n"
    )
    unused = ("langsmith_plugin", "locust", "typeguard", "anyio", "hypothesispytest")
    unused += ("schemathesis", "syrupy", "cacheprovider")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(suite / "pytest.ini"), "--rootdir", str(suite)]
        + [f"-pno:{name}" for name in unused]
        + ["-p", "tests.plugin_schedule", "-n", "2", "--dist", "loadgroup", "-q", str(suite)],
        cwd=REPO,  # where ``tests.plugin_schedule`` is importable
        env={**os.environ, "RECORD_DIR": str(record)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr

    workers: dict[str, set[str]] = {}
    for path in record.iterdir():
        workers.setdefault(path.name.split("-test_")[1], set()).add(path.read_text())
    assert sorted(workers) == sorted(modules)
    assert all(len(seen) == 1 for seen in workers.values()), workers
    assert workers["cdk_a"] == workers["cdk_b"]


def test_what_collection_loaded_is_left_out_of_the_cyclic_gc() -> None:
    """tests/conftest.py freezes, after collection, what it loaded (this module among it): the
    worker's full collections then walk only what the tests made."""
    import gc

    assert gc.get_freeze_count() > 0
    assert not any(obj is sys.modules[__name__].__dict__ for obj in gc.get_objects())
