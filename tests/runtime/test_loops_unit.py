"""Loop behaviour that needs no sandbox: model errors, caching per model, limits, history.

Model turns are recorded Bedrock responses served through the real boto3 client
(``bedrock_replay``); nothing here needs AWS or the network.
"""

from __future__ import annotations

import copy

import pytest
from code_exec.agent import AgentDeps, run_agent
from code_exec.config import RuntimeConfig
from code_exec.exceptions import ModelError, ModelNotAllowedError, ModelThrottledError
from code_exec.loops.capabilities import capabilities
from code_exec.loops.history_formats import adapt, format_of
from code_exec.loops.toolbox import format_output, truncate
from code_exec.models import AgentRequest, Limits

from devtools.bedrock_replay import (
    LOOPS,
    BedrockReplay,
    ReplayMismatch,
    bedrock_client,
    load_fixture,
)

CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
LLAMA = "us.meta.llama3-3-70b-instruct-v1:0"
NOVA = "us.amazon.nova-pro-v1:0"
CONFIG = RuntimeConfig(default_model_id=CLAUDE, allowed_model_ids=(CLAUDE, LLAMA, NOVA))


@pytest.fixture
def bedrock():
    return bedrock_client()


def _deps(bedrock, **kw) -> AgentDeps:
    return AgentDeps(
        sandbox=None, sandbox_session_id="unused", bedrock=bedrock, config=CONFIG, **kw
    )


@pytest.mark.parametrize("loop", LOOPS)
def test_throttling_from_bedrock_becomes_model_throttled_error(bedrock, loop):
    with BedrockReplay("throttled").attach(bedrock), pytest.raises(ModelThrottledError) as err:
        run_agent(AgentRequest(prompt="hi", loop=loop), deps=_deps(bedrock))
    assert err.value.status == 429
    assert isinstance(err.value, ModelError)
    assert "Too many requests" not in err.value.message  # the service's text is not echoed


def test_model_outside_allow_list_is_rejected_naming_the_field(bedrock):
    request = AgentRequest(prompt="hi", model_id="anthropic.claude-v2")
    with pytest.raises(ModelNotAllowedError) as err:
        run_agent(request, deps=_deps(bedrock))
    assert err.value.field == "model_id"


@pytest.mark.parametrize(
    ("loop", "model", "system", "tools"),
    [
        ("converse", CLAUDE, True, True),
        ("converse", NOVA, True, False),
        ("converse", LLAMA, False, False),
        ("strands", CLAUDE, True, True),
        ("strands", NOVA, True, False),
        ("strands", LLAMA, False, False),
    ],
)
def test_cache_points_only_where_the_model_supports_them(bedrock, loop, model, system, tools):
    fixture = copy.deepcopy(load_fixture("converse_plain_answer"))
    fixture["turns"][0]["expect"]["cache"] = {"system": system, "tools": tools}
    fixture["turns"][0]["expect"]["model_id"] = model
    request = AgentRequest(prompt="What is 6 x 7?", loop=loop, model_id=model)
    with BedrockReplay(fixture).attach(bedrock) as replay:
        run = run_agent(request, deps=_deps(bedrock))
    assert run.result.text == "6 x 7 = 42."
    assert run.result.stop_reason == "end_turn"
    [usage] = run.result.usage  # the recorded estimate, carried over
    assert (usage.input_tokens, usage.output_tokens) == replay.exchanges[0].estimated_usage[:2]


def test_a_strands_turn_builds_no_boto3_session_or_client_of_its_own(bedrock, monkeypatch):
    """Strands' ``BedrockModel`` makes a client from a session at every request: a new
    ``boto3.Session`` would parse the endpoints and the service model again (~0.14 s of CPU),
    a new client costs ~4 ms. The loop's model calls go to the client it was given."""
    import boto3
    import botocore.session

    sessions: list[object] = []
    made: list[str] = []
    new_session, create_client = (
        boto3.session.Session.__init__,
        botocore.session.Session.create_client,
    )

    def counting_session(self, *args, **kwargs):
        sessions.append(self)
        new_session(self, *args, **kwargs)

    def counting_client(self, service_name, *args, **kwargs):
        made.append(service_name)
        return create_client(self, service_name, *args, **kwargs)

    monkeypatch.setattr(boto3.session.Session, "__init__", counting_session)
    monkeypatch.setattr(botocore.session.Session, "create_client", counting_client)
    request = AgentRequest(prompt="What is 6 x 7?", loop="strands")
    with BedrockReplay("converse_plain_answer").attach(bedrock) as replay:
        run = run_agent(request, deps=_deps(bedrock))
    assert run.result.text == "6 x 7 = 42."
    assert len(replay.exchanges) == 1  # served on the client given, through its hooks
    assert (sessions, made) == ([], [])


def test_prompt_caching_off_sends_no_cache_points(bedrock):
    fixture = copy.deepcopy(load_fixture("converse_plain_answer"))
    fixture["turns"][0]["expect"]["cache"] = {"system": False, "tools": False}
    request = AgentRequest(prompt="What is 6 x 7?", loop="converse", prompt_caching=False)
    with BedrockReplay(fixture).attach(bedrock):
        run_agent(request, deps=_deps(bedrock))


def test_replay_fails_the_test_when_the_request_lacks_what_the_turn_expects(bedrock):
    request = AgentRequest(prompt="What is 7 x 6?", loop="converse")  # not the recorded prompt
    replay = BedrockReplay("converse_plain_answer").attach(bedrock)
    # raised in botocore's before-send hook; the loop translates only botocore's own errors
    with pytest.raises(ReplayMismatch, match="turn 1: last message lacks 'What is 6 x 7"):
        run_agent(request, deps=_deps(bedrock))
    with pytest.raises(ReplayMismatch, match="What is 6 x 7"):
        replay.assert_done()
    replay.detach()


def test_max_tokens_stops_the_turn_and_closes_the_cut_tool_use(bedrock):
    request = AgentRequest(prompt="Load the data", loop="messages", limits=Limits(max_tokens=16))
    with BedrockReplay("invoke_max_tokens").attach(bedrock):
        run = run_agent(request, deps=_deps(bedrock))
    assert run.result.stop_reason == "max_tokens"
    assert run.result.code_runs == []  # the cut tool call is not run
    last = run.history[-1]
    assert last["role"] == "user" and last["content"][0]["is_error"] is True


def test_capability_table():
    assert capabilities("global.anthropic.claude-sonnet-4-5-20250929-v1:0").cache_tools
    assert capabilities(
        "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-7-sonnet-20250219-v1:0"
    ).cache_system
    assert not capabilities("anthropic.claude-3-haiku-20240307-v1:0").prompt_caching
    assert capabilities("anthropic.claude-3-haiku-20240307-v1:0").tool_result_status
    assert capabilities(NOVA).cache_system and not capabilities(NOVA).cache_tools
    assert not capabilities(LLAMA).prompt_caching and not capabilities(LLAMA).tool_result_status


def test_history_converts_between_wire_formats():
    anthropic = [
        {"role": "user", "content": [{"type": "text", "text": "go"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "running"},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "execute_code",
                    "input": {"code": "1/0"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "is_error": True,
                    "content": [{"type": "text", "text": "ZeroDivisionError"}],
                }
            ],
        },
    ]
    converse = adapt(anthropic, "converse")
    assert format_of(converse) == "converse"
    assert converse[2]["content"][0]["toolResult"]["status"] == "error"
    assert adapt(converse, "anthropic") == anthropic
    strands_like = [{**m, "tracking_id": "x", "metadata": {}} for m in converse]
    assert adapt(strands_like, "converse") == converse  # bookkeeping keys dropped


def test_output_for_the_model_is_truncated_with_a_note():
    text = "x" * 50_000
    out = truncate(text, 1000)
    assert len(out) < 1200 and "characters of output omitted" in out
    assert format_output("out\n", "err\n", 100) == "out\n\nstderr:\nerr\n"


def test_direct_tools_run_in_process_and_a_raising_tool_is_an_error_result():
    from code_exec.loops.toolbox import DirectTools

    from devtools.expense import expense_registry

    tools = DirectTools(list(expense_registry("preloaded")))
    assert [s.name for s in tools.specs] == [
        "get_team_members",
        "get_expenses",
        "get_custom_budget",
    ]
    assert tools.specs[1].input_schema["required"] == ["employee_id", "quarter"]
    ok = tools.run("get_custom_budget", {"user_id": "ENG002"})
    assert not ok.is_error and '"budget_limit": 12000.0' in ok.text
    bad = tools.run("get_expenses", {"employee_id": "ENG999", "quarter": "Q3"})
    assert bad.is_error and bad.text.startswith("ValueError: unknown employee id")
    unknown = tools.run("delete_everything", {})
    assert unknown.is_error and "available: get_custom_budget" in unknown.text


@pytest.mark.parametrize("loop", LOOPS)
def test_cache_read_and_write_tokens_are_reported_per_model_call(bedrock, loop):
    """Bedrock's own usage field names (Converse camelCase, Anthropic snake_case) are read."""
    if loop == "messages":
        fixture = copy.deepcopy(load_fixture("invoke_expense_audit_ptc"))
        turn = fixture["turns"][-1]  # an end_turn text answer
        turn["response"]["body"]["usage"] = {
            "input_tokens": 21,
            "cache_creation_input_tokens": 433,
            "cache_read_input_tokens": 1877,
            "output_tokens": 141,
        }
        operation = "InvokeModel"
    else:
        fixture = copy.deepcopy(load_fixture("converse_plain_answer"))
        turn = fixture["turns"][0]
        turn["response"]["body"]["usage"] = {
            "inputTokens": 21,
            "outputTokens": 141,
            "totalTokens": 2472,
            "cacheReadInputTokens": 1877,
            "cacheWriteInputTokens": 433,
        }
        operation = "Converse"
    turn["expect"] = {"operation": operation, "messages": 1}
    fixture["turns"] = [turn]
    with BedrockReplay(fixture).attach(bedrock):
        run = run_agent(AgentRequest(prompt="hi", loop=loop), deps=_deps(bedrock))
    [usage] = run.result.usage
    assert (usage.input_tokens, usage.output_tokens) == (21, 141)
    assert (usage.cache_read_input_tokens, usage.cache_write_input_tokens) == (1877, 433)
