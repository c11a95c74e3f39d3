"""Each Lambda function's entry module loads only what its function runs (issue 16, item 2).

Module counts are the same on every machine with the pinned dependencies, so they are
asserted; import times are not, so ``bench/cold_start.py`` only prints them.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bench.cold_start import FUNCTIONS, LAMBDA_ENV, Loaded, load

ROOT = Path(__file__).resolve().parents[2]

# At most this many of our modules (``code_exec.*``) per function at INIT. Before the entry
# modules were split (everything in code_exec.api.handler), every buffered function loaded
# 80; before what a request needs was imported on first use (issue 16 item 2), api 74,
# stream 95, jobs 62, cleanup 25, sweeper 26, authorizer 14. What a route or a turn needs is
# imported by it (the agent, the /v1 turn, the file transfer, the sandbox client, the
# store's records, boto3): a module-level import of one of those in ``services.py``,
# ``operations.py``, ``store/__init__.py``, ``sandbox/__init__.py`` or an entry module
# shows up here. A little room is left for the functions whose routes grow with features.
MAX_OURS = {
    "api": 45,
    "stream": 33,
    "jobs": 24,
    "cleanup": 15,  # + lazy_exports, the loader store/ and sandbox/ export through
    "sweeper": 11,
    "authorizer": 10,  # + lazy_exports
}
# What a function that never runs a turn or validates a request body must not load.
HEAVY = {"strands", "anthropic", "pydantic", "opentelemetry", "mcp", "code_exec.agent"}
LIGHT = ("cleanup", "sweeper", "authorizer")
# Loaded by a request's first use, never at INIT: boto3 (with its first client), the X-Ray
# SDK (where tracing is on), the model loops, YAML (a skill upload).
NEVER_AT_INIT = {"boto3", "s3transfer", "aws_xray_sdk", "strands", "yaml", "code_exec.agent"}


@pytest.fixture(scope="module")
def loaded() -> dict[str, Loaded]:
    """Each function's INIT as tests and ``make local`` run it (tracing off); each load is
    its own fresh interpreter (a child process), two at a time."""
    off = {"POWERTOOLS_TRACE_DISABLED": "1"}
    with ThreadPoolExecutor(max_workers=2) as pool:
        loads = pool.map(lambda handler: load(handler, env=off), FUNCTIONS.values())
        return dict(zip(FUNCTIONS, loads, strict=True))


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


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_no_function_loads_boto3_xray_or_the_model_loops_at_init(
    loaded: dict[str, Loaded], function: str
) -> None:
    got = loaded[function].modules
    assert {m for m in got if m in NEVER_AT_INIT or m.split(".")[0] in NEVER_AT_INIT} == set()


@pytest.mark.parametrize("function", ["api", "sweeper"])
def test_in_lambda_init_loads_no_xray_sdk_nor_botocore_client(function: str) -> None:
    """Tracing on: the X-Ray SDK and botocore's client load with the first client, patched
    before it (tests/runtime/test_observability.py), never patch_all()'s imports."""
    got = load(FUNCTIONS[function], env=LAMBDA_ENV).modules
    tops = {m.split(".")[0] for m in got}
    assert tops & {"aws_xray_sdk", "wrapt", "requests", "httpx", "sqlite3", "boto3"} == set()
    assert "botocore.client" not in got


def test_the_authorizer_loads_neither_powertools_nor_boto3(loaded: dict[str, Loaded]) -> None:
    tops = {m.split(".")[0] for m in loaded["authorizer"].third_party}
    assert tops == {"botocore"}  # ClientError only; its client is built on first use


def test_the_split_of_loaded_modules_adds_up() -> None:
    got = Loaded("x.y", ("code_exec", "code_exec.sweeper", "json", "botocore.client"), 0.1)
    assert got.ours == ["code_exec", "code_exec.sweeper"]
    assert got.stdlib == ["json"]
    assert got.third_party == ["botocore.client"]
