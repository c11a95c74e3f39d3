"""Every loop end to end through ``run_agent``: recorded model turns, real code execution.

The model's turns are replayed through the real boto3 bedrock-runtime client
(``bedrock_replay``), which fails a test when a request lacks what the recorded turn
answers (the real stdout of the previous cell, the error flag, ...). The code the
model writes runs for real in a code-interpreter emulator session through the real
``SandboxClient``; the expense tools are the demo tools of ``devtools.expense``, preloaded.
``converse_*`` fixtures serve both the ``converse`` and the ``strands`` loop.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from code_exec.models import Limits
from code_exec.sandbox.client import SandboxClient

from devtools.bedrock_replay import (
    EXPENSE_TABLE,
    LOOPS,
    Played,
    bedrock_client,
    fixture_name,
    load_fixture,
    play,
)
from devtools.expense import expense_registry

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def registry():
    return expense_registry("preloaded")


def _play_and_stop(fixture: str | dict, *, loop: str, sandbox: SandboxClient, **kw) -> Played:
    """Play the recording in a new session and stop the session (nothing to look at inside)."""
    played = play(fixture, loop=loop, sandbox=sandbox, bedrock=bedrock_client(), **kw)
    sandbox.stop_session(played.session_id)
    return played


def _usage(result: Any) -> list[tuple[int, int, int, int]]:
    """Each model call's (input, output, cache read, cache write) tokens in a result."""
    return [
        (u.input_tokens, u.output_tokens, u.cache_read_input_tokens, u.cache_write_input_tokens)
        for u in result.usage
    ]


@pytest.mark.parametrize("loop", LOOPS)
def test_expense_audit_ptc_gives_the_exact_table_after_fixing_a_failed_cell(
    loop, sandbox, registry
):
    played = _play_and_stop(
        fixture_name(loop, "expense_audit_ptc"),
        loop=loop,
        sandbox=sandbox,
        registry=registry,
    )
    result = played.runs[0].result

    assert result.stop_reason == "end_turn"
    assert [r.is_error for r in result.code_runs] == [True, False, False]
    # the model saw the real traceback of its failing cell (checked by the replay too)
    assert "KeyError" in result.code_runs[0].stderr and "'cost'" in result.code_runs[0].stderr
    assert result.code_runs[2].stdout == EXPENSE_TABLE
    assert "Bob Martinez" not in result.code_runs[2].stdout
    assert "+$4,876.54" in result.text
    # one usage entry per model call, each response's counters (cache ones included) carried
    # over unchanged; the recorded counts are offline estimates, so their size proves nothing
    assert _usage(result) == [x.estimated_usage for x in played.replay.exchanges]
    assert len(result.usage) == 4


@pytest.mark.parametrize("loop", LOOPS)
def test_expense_audit_direct_mode_puts_every_record_in_the_context(loop, sandbox, registry):
    played = _play_and_stop(
        fixture_name(loop, "expense_audit_direct"),
        loop=loop,
        sandbox=sandbox,
        registry=registry,
    )
    result = played.runs[0].result

    assert result.stop_reason == "end_turn"
    assert result.code_runs == []
    assert "| Grace Taylor | $5,000.00 | $6,474.46 | +$1,474.46 |" in result.text
    # 8 parallel get_expenses results, every record, went to the model in one request
    third = played.replay.exchanges[2]
    assert third.body.count(b"expense_id") >= 8 * 20
    assert _usage(result) == [x.estimated_usage for x in played.replay.exchanges]
    assert len(result.usage) == 4


@pytest.mark.parametrize("loop", LOOPS)
def test_session_keeps_variables_across_turns_and_writes_outputs(loop, sandbox):
    played = play(
        fixture_name(loop, "session_chart"), loop=loop, sandbox=sandbox, bedrock=bedrock_client()
    )
    try:
        first, second = (run.result for run in played.runs)
        assert "mean_sq = 38.5" in first.code_runs[0].stdout
        assert second.code_runs[0].stdout == "sqrt(mean_sq) = 6.2048\n"  # mean_sq from turn 1
        assert second.text.endswith("**6.2048**.")
        # the chart is in the sandbox for the API layer to hand out
        assert "outputs/squares.svg" in " ".join(sandbox.list_files(played.session_id, "outputs"))
        (svg,) = sandbox.read_files(played.session_id, ["outputs/squares.svg"])
        assert svg.text.startswith("<svg") and svg.text.count("<rect") == 10
        # history is loop-native and holds both turns
        assert len(played.runs[1].history) == 8
    finally:
        sandbox.stop_session(played.session_id)


@pytest.mark.parametrize("loop", LOOPS)
def test_max_turns_stops_the_loop(loop, sandbox, registry):
    fixture = copy.deepcopy(load_fixture(fixture_name(loop, "expense_audit_ptc")))
    fixture["turns"] = fixture["turns"][:2]  # the model is called twice, then stopped
    played = _play_and_stop(
        fixture,
        loop=loop,
        sandbox=sandbox,
        registry=registry,
        limits=Limits(max_turns=2),
    )
    result = played.runs[0].result
    assert result.stop_reason == "max_turns"
    assert len(result.usage) == 2
    assert len(result.code_runs) == 2  # the tools the last call asked for still ran
    # the history ends with the tool results, ready for the next turn
    assert played.runs[0].history[-1]["role"] == "user"


class _SteppingClock:
    """Monotonic seconds that advance 10 s on every reading."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 10.0
        return self.now


@pytest.mark.parametrize("loop", LOOPS)
def test_wall_time_stops_the_loop_before_the_next_model_call(loop, sandbox, registry):
    from code_exec.agent import AgentDeps, run_agent
    from code_exec.config import RuntimeConfig
    from code_exec.models import AgentRequest

    from devtools.bedrock_replay import DEFAULT_MODEL_ID, BedrockReplay

    fixture = copy.deepcopy(load_fixture(fixture_name(loop, "expense_audit_ptc")))
    fixture["turns"] = fixture["turns"][:1]
    bedrock = bedrock_client()
    session_id = sandbox.start_session()
    try:
        request = AgentRequest(
            prompt=fixture["calls"][0]["prompt"],
            loop=loop,
            tools=fixture["calls"][0]["tools"],
            limits=Limits(wall_time_seconds=25),
        )
        deps = AgentDeps(
            sandbox=sandbox,
            sandbox_session_id=session_id,
            bedrock=bedrock,
            config=RuntimeConfig(
                default_model_id=DEFAULT_MODEL_ID, allowed_model_ids=(DEFAULT_MODEL_ID,)
            ),
            registry=registry,
            clock=_SteppingClock(),
        )
        with BedrockReplay(fixture).attach(bedrock):
            run = run_agent(request, deps=deps)
    finally:
        sandbox.stop_session(session_id)
    assert run.result.stop_reason == "wall_time"
    assert len(run.result.usage) == 1
    assert len(run.result.code_runs) == 1
    assert run.history[-1]["role"] == "user"  # tool results in place for the next turn


@pytest.mark.parametrize("loop", ["converse", "strands"])
def test_non_claude_model_sees_a_failed_cell_as_an_error_in_words(loop, sandbox):
    played = _play_and_stop("converse_code_error_llama", loop=loop, sandbox=sandbox)
    result = played.runs[0].result
    assert result.model_id == "us.meta.llama3-3-70b-instruct-v1:0"
    assert [r.is_error for r in result.code_runs] == [True, False]
    assert "ZeroDivisionError" in result.code_runs[0].stderr
    assert result.code_runs[1].stdout == "[3.3333333333333335, None, 2.5]\n"
    # no toolResult.status for a model that does not take it; the error is in the text
    second = played.replay.exchanges[1].request
    tool_result = second["messages"][-1]["content"][0]["toolResult"]
    assert "status" not in tool_result
    assert tool_result["content"][0]["text"].startswith("Error: ")
    # no cache points for a model without prompt caching
    assert not any(b"cachePoint" in x.body for x in played.replay.exchanges)
    assert _usage(result) == [x.estimated_usage for x in played.replay.exchanges]


def test_expense_audit_ptc_with_bridged_tools_runs_them_outside_the_sandbox(sandbox):
    """Same recorded turns, tools *bridged*: the cells call stubs, the orchestrator runs them."""
    played = _play_and_stop(
        "invoke_expense_audit_ptc",
        loop="messages",
        sandbox=sandbox,
        registry=expense_registry("bridged"),
    )
    result = played.runs[0].result
    assert [r.is_error for r in result.code_runs] == [True, False, False]
    assert result.code_runs[2].stdout == EXPENSE_TABLE
