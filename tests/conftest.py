"""Shared fixtures. The code-interpreter emulator runs once per test session.

Dummy AWS credentials are set for the whole test session (at import time, before any
test module builds a client) so no test can ever reach a real AWS account.

Two plugins hold the rules every test lives by: ``plugin_sandbox`` (a sandbox test that
cannot run fails, naming the cause, unless ``SKIP_SANDBOX_TESTS=1`` skips it loudly) and
``plugin_conformance`` (every emulator response is checked against botocore's model).
``plugin_schedule`` tells xdist to run every module marked ``cdk`` in one worker and to start
the longest units first.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator

import pytest

pytest_plugins = ["tests.plugin_sandbox", "tests.plugin_conformance", "tests.plugin_schedule"]

_DUMMY_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
os.environ.update(_DUMMY_AWS)
for _var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(_var, None)
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull


def _one_botocore_loader_per_process() -> None:
    """Every botocore session shares one ``Loader`` (per data path) in a test process.

    moto gives boto3 a new default session at each ``mock_aws`` start (every module's ``aws``
    fixture) and each session's own Loader parses ``endpoints.json`` and every service model
    it is asked for again (~0.25 s of CPU per test module that mocks AWS). A Lambda
    container parses them once, as here; botocore only reads what a Loader returns.
    """
    import functools

    import botocore.loaders
    import botocore.session

    botocore.session.create_loader = functools.cache(botocore.loaders.create_loader)


_one_botocore_loader_per_process()


def _fewer_gc_passes() -> None:
    """Run the cyclic GC about 15 times less often than Python's default thresholds.

    A test process allocates far more than it keeps: each request builds botocore, moto and
    pydantic objects by the thousand, so the default (a young pass every 700 allocations, a
    full one every 100 young passes) made ~700 passes and 7 full ones for two SDK modules,
    13 % of their process's CPU (measured: 11.3 -> 9.9 CPU-s). No test depends on when
    cycles are freed; what they hold (sockets, threads) is closed explicitly.
    """
    gc.set_threshold(10_000, 10, 10)


_fewer_gc_passes()


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Leave what collection loaded (every module of the suite, botocore's and moto's models,
    the SDK's pydantic types: ~200k objects in a worker) out of the cyclic GC's full passes.

    Each full collection walks every tracked object; those live for the whole run, so the walk
    finds nothing there. Frozen, a worker's full collections (during the run and the five at
    its end, :mod:`_pytest.unraisableexception`) walk only what the tests made. What the tests
    make is collected as before.
    """
    gc.collect()
    gc.freeze()


EMULATOR_CELL_TIMEOUT = 5.0  # seconds; tests of the per-cell limit rely on it
# The service rate-limits InvokeCodeInterpreter; the emulator does too, and every test runs
# with it on: the runtime's retries must absorb throttling wherever it happens.
EMULATOR_RPS_PER_SESSION = 20.0
# Per account, the limit is set well above one test's own rate: a test's clients are paced
# per session, and a thread another test left behind (an abandoned job, a bridged runner
# winding down) must not throttle it. The per-account bucket itself is unit-tested.
EMULATOR_RPS_PER_ACCOUNT = 200.0
EMULATOR_START_TIMEOUT = 30.0


@pytest.fixture(scope="session")
def emulator_url() -> Iterator[str]:
    """URL of a code-interpreter emulator started once for the test session.

    Fails, naming the cause, where bubblewrap cannot create sandboxes (skips only under
    ``SKIP_SANDBOX_TESTS=1``). Always isolated, whatever ``CODE_INTERPRETER_EMULATOR_*``
    the shell has, and checking every response against the service model.
    """
    from emulators.code_interpreter.spawn import EmulatorStartError, start_emulator
    from tests import plugin_conformance, plugin_sandbox

    plugin_sandbox.require(plugin_sandbox.sandbox_problem())
    try:
        emulator = start_emulator(
            start_timeout=EMULATOR_START_TIMEOUT,
            die_with_parent=True,  # if pytest dies abruptly
            cell_timeout=EMULATOR_CELL_TIMEOUT,
            interrupt_grace=3,
            max_sessions=64,
            warm_pool=2,
            workspace_mb=128,
            memory_mb=2048,
            max_processes=64,
            max_rps_per_session=EMULATOR_RPS_PER_SESSION,
            max_rps_per_account=EMULATOR_RPS_PER_ACCOUNT,
            unisolated=False,
            check_responses=True,
        )  # the emulator's log goes to pytest's captured stderr
    except EmulatorStartError as e:
        pytest.fail(str(e))
    with emulator:
        watch = plugin_conformance.watch(emulator.url)
        yield emulator.url
        plugin_conformance.finish(watch)


@pytest.fixture(scope="session")
def agentcore_env(emulator_url: str) -> dict[str, str]:
    """Environment variables that point boto3's bedrock-agentcore client at the emulator."""
    return {
        "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE": emulator_url,
        "AWS_ACCESS_KEY_ID": _DUMMY_AWS["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": _DUMMY_AWS["AWS_SECRET_ACCESS_KEY"],
        "AWS_DEFAULT_REGION": "us-east-1",
    }


@pytest.fixture(scope="session")
def agentcore_client_for(emulator_url: str):  # -> (Config) -> botocore client
    """``agentcore_client_for(config)``: a real boto3 bedrock-agentcore client for the
    emulator that keeps under its request rates (it waits rather than be throttled)."""
    from emulators.code_interpreter import spawn

    def _client(config: object = None):
        return spawn.agentcore_client(
            emulator_url,
            config,
            pace_per_session=EMULATOR_RPS_PER_SESSION,
            pace_per_account=EMULATOR_RPS_PER_ACCOUNT,
        )

    return _client


@pytest.fixture(scope="session")
def agentcore_client(agentcore_client_for):  # -> botocore client for "bedrock-agentcore"
    """A real boto3 bedrock-agentcore client pointed at the emulator, retries off (so an
    injected fault is seen exactly once) and paced under the emulator's request rates."""
    from botocore.config import Config

    config = Config(read_timeout=120, retries={"mode": "standard", "total_max_attempts": 1})
    return agentcore_client_for(config)
