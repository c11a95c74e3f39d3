"""Each Lambda function's entry module loads only what its function runs (issue 16, item 2).

Module counts are the same on every machine with the pinned dependencies, so they are
asserted; import times are not, so ``bench/cold_start.py`` only prints them.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bench.cold_start import FUNCTIONS, Loaded, load

ROOT = Path(__file__).resolve().parents[2]

# At most this many of our modules (``code_exec.*``) per function. Before the entry modules
# were split (everything in code_exec.api.handler), every buffered function loaded 80. The
# functions that run turns grow with features (room is left); the three that never do are
# held close: a module-level import of a turn's dependency in ``services.py`` (import those
# in the cached property that builds them) or in ``store/__init__.py`` shows up here.
MAX_OURS = {
    "api": 80,
    "stream": 100,
    "jobs": 70,
    "cleanup": 26,
    "sweeper": 26,
    "authorizer": 14,
}
# What a function that never runs a turn or validates a request body must not load.
HEAVY = {"strands", "anthropic", "pydantic", "opentelemetry", "mcp", "code_exec.agent"}
LIGHT = ("cleanup", "sweeper", "authorizer")


@pytest.fixture(scope="module")
def loaded() -> dict[str, Loaded]:
    # Each load is its own fresh interpreter (a child process): two at a time.
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(FUNCTIONS, pool.map(load, FUNCTIONS.values()), strict=True))


# Where the CDK code names the functions' handlers (the stacks, and the construct library).
CDK_CODE = ("stacks", "bedrock_code_execution")


def test_the_bench_measures_every_function_the_stacks_deploy() -> None:
    named = set()
    for folder in CDK_CODE:
        for path in (ROOT / folder).rglob("*.py"):
            named.update(re.findall(r'"(code_exec(?:\.\w+)+)"', path.read_text()))
    assert named == set(FUNCTIONS.values())


@pytest.mark.parametrize("function", sorted(MAX_OURS))
def test_each_function_loads_at_most_its_bound_of_our_modules(
    loaded: dict[str, Loaded], function: str
) -> None:
    ours = loaded[function].ours
    assert len(ours) <= MAX_OURS[function], ours


@pytest.mark.parametrize("function", LIGHT)
def test_functions_that_run_no_turn_load_no_model_loop_or_sdk(
    loaded: dict[str, Loaded], function: str
) -> None:
    got = loaded[function]
    heavy = {m for m in got.modules if m in HEAVY or m.split(".")[0] in HEAVY}
    assert heavy == set()


def test_the_authorizer_loads_neither_powertools_nor_boto3(loaded: dict[str, Loaded]) -> None:
    tops = {m.split(".")[0] for m in loaded["authorizer"].third_party}
    assert tops == {"botocore"}  # ClientError only; its client is built on first use


def test_the_split_of_loaded_modules_adds_up() -> None:
    got = Loaded("x.y", ("code_exec", "code_exec.sweeper", "json", "botocore.client"), 0.1)
    assert got.ours == ["code_exec", "code_exec.sweeper"]
    assert got.stdlib == ["json"]
    assert got.third_party == ["botocore.client"]
