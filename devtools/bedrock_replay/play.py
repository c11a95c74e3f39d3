"""Driving ``run_agent`` from a fixture's calls (tests, fixture authoring, the bench)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from devtools.bedrock_replay.fixtures import DEFAULT_MODEL_ID, load_fixture
from devtools.bedrock_replay.replay import BedrockReplay

__all__ = ["Played", "bedrock_client", "emulated_sandbox", "play"]


@dataclass
class Played:
    """The result of :func:`play`: the double, each run, and the (still running) session;
    with ``stream=True``, the events each streamed run reported, in order."""

    replay: BedrockReplay
    runs: list[Any]
    session_id: str
    events: list[list[Any]]


def play(
    fixture: str | dict[str, Any],
    *,
    loop: str,
    sandbox: Any,
    bedrock: Any,
    registry: Any = None,
    check: bool = True,
    stream: bool = False,
    extra_deps: dict[str, Any] | None = None,
    **request: Any,
) -> Played:
    """Run the fixture's ``calls`` through ``run_agent`` in one new sandbox session.

    Each call is one ``run_agent`` turn sharing the session and the history returned by
    the previous one, as the API layer does. ``request`` overrides request fields for
    every call. ``stream=True`` streams every turn (the replay then requires streamed
    model calls) and collects its events. The caller stops the session
    (``sandbox.stop_session(played.session_id)``) after looking inside it. ``check=False``
    is for authoring a recording only: unmet expectations are then kept in
    ``replay.failures`` instead of failing the call. ``extra_deps``: more ``AgentDeps`` fields
    (the web backends).
    """
    from code_exec.agent import AgentDeps, run_agent
    from code_exec.config import RuntimeConfig
    from code_exec.loops.events import TurnStream
    from code_exec.models import AgentRequest

    fixture = fixture if isinstance(fixture, dict) else load_fixture(fixture)
    model_id = fixture.get("model_id", DEFAULT_MODEL_ID)
    config = RuntimeConfig(default_model_id=model_id, allowed_model_ids=(model_id,))
    replay = BedrockReplay(fixture, strict=check, stream=stream).attach(bedrock)
    session_id = sandbox.start_session()
    runs: list[Any] = []
    events: list[list[Any]] = []
    history: list[dict[str, Any]] = []
    try:
        for call in fixture["calls"]:
            fields = {k: v for k, v in call.items() if k != "turns"}
            req = AgentRequest(loop=loop, model_id=model_id, **{**fields, **request})
            reported: list[Any] = []
            deps = AgentDeps(
                sandbox=sandbox,
                sandbox_session_id=session_id,
                bedrock=bedrock,
                history=history,
                config=config,
                registry=registry,
                stream=TurnStream(reported.append) if stream else None,
                **(extra_deps or {}),
            )
            run = run_agent(req, deps=deps)
            history = run.history
            runs.append(run)
            events.append(reported)
    except BaseException:
        replay.detach()
        sandbox.stop_session(session_id)
        raise
    replay.detach()
    if check:
        replay.assert_done()
    return Played(replay, runs, session_id, events)


@contextmanager
def emulated_sandbox(*, start_timeout: float = 30.0) -> Iterator[Any]:
    """A ``SandboxClient`` on a code-interpreter emulator started for the block (no pytest).

    For the bench and fixture authoring; tests use the ``emulator_url`` fixture instead.
    """
    from botocore.config import Config
    from code_exec.sandbox.client import SandboxClient

    from emulators.code_interpreter.spawn import start_emulator

    with start_emulator(start_timeout=start_timeout) as emulator:
        client = emulator.client(Config(read_timeout=120, retries={"total_max_attempts": 1}))
        yield SandboxClient("aws.codeinterpreter.v1", client=client)


def bedrock_client(endpoint_url: str | None = None) -> Any:
    """A real boto3 bedrock-runtime client with dummy credentials and no retries."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
