"""Thinking without a sandbox: the capability table, request checks, usage, history, errors.

Model turns are recorded Bedrock responses served through the real boto3 client
(``bedrock_replay``). The end-to-end round trips (code running between the turns) are in
``test_agent_thinking.py``.
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest
from code_exec.agent import AgentDeps, run_agent
from code_exec.config import RuntimeConfig
from code_exec.exceptions import ModelError, RequestValidationError
from code_exec.loops.capabilities import (
    CLAUDE_MODELS,
    THINKING_TYPES,
    capabilities,
    claude_model,
    foundation_model_id,
)
from code_exec.loops.history_formats import adapt, format_of, storable
from code_exec.models import AgentRequest, Limits, ThinkingConfig

from devtools.bedrock_replay import (
    LOOPS,
    BedrockReplay,
    Exchange,
    bedrock_client,
    check_expectations,
    load_fixture,
)

SONNET_5 = "global.anthropic.claude-sonnet-5"
SONNET_5_5 = "global.anthropic.claude-sonnet-5-5"
SONNET_4_5 = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
NOVA = "us.amazon.nova-pro-v1:0"
CONFIG = RuntimeConfig(
    default_model_id=SONNET_5, allowed_model_ids=(SONNET_5, SONNET_5_5, SONNET_4_5, NOVA)
)


@pytest.fixture
def bedrock():
    return bedrock_client()


def _deps(bedrock, **kw) -> AgentDeps:
    return AgentDeps(
        sandbox=None, sandbox_session_id="unused", bedrock=bedrock, config=CONFIG, **kw
    )


# --- the one table of Claude models ----------------------------------------------------------


def test_claude_models_are_looked_up_by_any_profile_prefix_or_arn():
    sonnet_5 = claude_model(SONNET_5)
    assert sonnet_5 is not None and sonnet_5.anthropic_id == "claude-sonnet-5"
    assert sonnet_5.in_user_guide and sonnet_5.profile_id("us") == "us.anthropic.claude-sonnet-5"
    assert claude_model("anthropic.claude-sonnet-5") is sonnet_5
    assert claude_model("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-5")
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.anthropic.claude-sonnet-5"
    assert claude_model(arn) is sonnet_5
    assert foundation_model_id(SONNET_4_5) == "anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert claude_model(NOVA) is None
    with pytest.raises(ValueError, match="not an inference-profile prefix: 'mars'"):
        sonnet_5.profile_id("mars")
    # one entry per id and per Anthropic name (the Anthropic-name alias map reads this table)
    assert len({m.bedrock_id for m in CLAUDE_MODELS}) == len(CLAUDE_MODELS)
    assert len({m.anthropic_id for m in CLAUDE_MODELS}) == len(CLAUDE_MODELS)
    for m in CLAUDE_MODELS:
        assert m.capabilities.thinking is not None
        assert m.capabilities.thinking <= set(THINKING_TYPES), m.name


def test_sonnet_5_5_takes_no_disabled_thinking_and_no_forced_tool_choice():
    caps = capabilities(SONNET_5_5)
    assert caps.thinking == {"adaptive", "between_tools"}
    assert caps.rejects_disabled_thinking and not caps.forced_tool_choice
    model = claude_model(SONNET_5_5)
    assert model is not None and not model.in_user_guide  # from Anthropic and integrations
    assert not capabilities(SONNET_5).rejects_disabled_thinking
    assert capabilities(SONNET_5).forced_tool_choice
    assert "enabled" not in capabilities(SONNET_5).thinking  # budget_tokens is refused
    assert capabilities(SONNET_4_5).thinking == {"enabled", "disabled"}


def test_current_claude_models_get_cache_points_and_error_status():
    for model_id in (SONNET_5, SONNET_5_5, "global.anthropic.claude-haiku-5-5"):
        caps = capabilities(model_id)
        assert caps.cache_system and caps.cache_tools and caps.tool_result_status, model_id
    unknown = capabilities("global.anthropic.claude-haiku-5-5")
    assert unknown.thinking is None  # not in the table: a setting is sent as asked
    assert capabilities(NOVA).thinking == frozenset()


# --- a request's thinking setting --------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_id", "thinking", "limits", "field", "words"),
    [
        (SONNET_5, {"type": "enabled"}, {}, "thinking.budget_tokens", "required"),
        (
            SONNET_4_5,
            {"type": "enabled", "budget_tokens": 4096},
            {},
            "thinking.budget_tokens",
            "less than limits.max_tokens (4096)",
        ),
        (SONNET_5, {"type": "adaptive", "budget_tokens": 2048}, {}, "thinking.budget_tokens", ""),
        (SONNET_5_5, {"type": "disabled"}, {}, "thinking.type", "adaptive, between_tools"),
        (
            SONNET_5,
            {"type": "enabled", "budget_tokens": 2048},
            {"max_tokens": 8000},
            "thinking.type",
            "'enabled'",
        ),
        (SONNET_4_5, {"type": "between_tools"}, {}, "thinking.type", "disabled, enabled"),
        (NOVA, {"type": "adaptive"}, {}, "thinking", "takes no thinking"),
    ],
)
def test_a_thinking_setting_the_model_does_not_take_is_refused_naming_the_field(
    bedrock, model_id, thinking, limits, field, words
):
    request = AgentRequest(
        prompt="hi",
        loop="converse",
        model_id=model_id,
        thinking=ThinkingConfig(**thinking),
        limits=Limits(**limits),
    )
    with BedrockReplay({"turns": []}).attach(bedrock), pytest.raises(RequestValidationError) as e:
        run_agent(request, deps=_deps(bedrock))  # refused before any model call
    assert e.value.field == field and words in e.value.message
    assert e.value.status == 400


def test_claude_code_refuses_a_thinking_setting(bedrock):
    request = AgentRequest(prompt="hi", loop="claude_code", thinking={"type": "adaptive"})
    with pytest.raises(RequestValidationError) as e:
        run_agent(request, deps=_deps(bedrock))
    assert e.value.field == "thinking"


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize(
    ("model_id", "thinking"),
    [
        (SONNET_5, None),
        (SONNET_5, {"type": "adaptive"}),
        (SONNET_5_5, {"type": "between_tools"}),
        (SONNET_4_5, {"type": "enabled", "budget_tokens": 2048}),
    ],
)
def test_thinking_is_sent_only_when_set_and_tool_choice_is_never_forced(
    bedrock, loop, model_id, thinking
):
    fixture = copy.deepcopy(load_fixture("converse_plain_answer"))
    operation = "InvokeModel" if loop == "messages" else "Converse"
    if loop == "messages":
        fixture["turns"][0]["response"]["body"] = {
            "id": "msg_bdrk_01Xq3vJ8kT2mW5nR7pL9sY4c",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-5",
            "content": [{"type": "text", "text": "6 x 7 = 42."}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 412, "output_tokens": 9},
        }
    fixture["turns"][0]["expect"].update(
        {"operation": operation, "model_id": model_id, "thinking": thinking, "tool_choice": "auto"}
    )
    limits = Limits(max_tokens=8192)
    request = AgentRequest(
        prompt="What is 6 x 7?", loop=loop, model_id=model_id, thinking=thinking, limits=limits
    )
    with BedrockReplay(fixture).attach(bedrock) as replay:
        run = run_agent(request, deps=_deps(bedrock))
    assert run.result.text == "6 x 7 = 42."
    sent = replay.exchanges[0].request
    if thinking is None:
        assert "thinking" not in json.dumps(sent)  # nothing: the model's own default applies


# --- usage ---------------------------------------------------------------------------------


def test_thinking_tokens_are_read_where_bedrock_reports_them(bedrock):
    fixture = copy.deepcopy(load_fixture("invoke_thinking_tool_loop"))
    turn = fixture["turns"][1]  # thinking + the final answer, no tool call
    usage = turn["response"]["body"]["usage"]
    usage["output_tokens_details"] = {"thinking_tokens": 96}  # Anthropic's usage breakdown
    turn["expect"] = {"operation": "InvokeModel", "messages": 1}
    fixture["turns"] = [turn]
    with BedrockReplay(fixture).attach(bedrock):
        run = run_agent(AgentRequest(prompt="hi", model_id=SONNET_5), deps=_deps(bedrock))
    [got] = run.result.usage
    assert got.thinking_tokens == 96 and got.output_tokens == usage["output_tokens"]

    converse = copy.deepcopy(load_fixture("converse_thinking_tool_loop"))
    turn = converse["turns"][1]
    turn["expect"] = {"operation": "Converse", "messages": 1}
    converse["turns"] = [turn]
    for loop in ("converse", "strands"):
        with BedrockReplay(converse).attach(bedrock):
            run = run_agent(
                AgentRequest(prompt="hi", loop=loop, model_id=SONNET_5), deps=_deps(bedrock)
            )
        [got] = run.result.usage
        assert got.thinking_tokens is None  # Converse's usage has no thinking breakdown
        assert got.output_tokens == turn["response"]["body"]["usage"]["outputTokens"]


# --- Bedrock refuses a dropped thinking block --------------------------------------------------


def _history_without_thinking(loop: str) -> list[dict[str, Any]]:
    """A conversation stopped after a tool call whose thinking block was lost."""
    name = "invoke_thinking_tool_loop" if loop == "messages" else "converse_thinking_tool_loop"
    first = load_fixture(name)["turns"][0]["response"]["body"]
    if loop == "messages":
        call = next(b for b in first["content"] if b["type"] == "tool_use")
        return [
            {"role": "user", "content": [{"type": "text", "text": "Sum the first 30 primes."}]},
            {"role": "assistant", "content": [call]},
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": call["id"],
                        "content": [{"type": "text", "text": "sum: 1593"}],
                    }
                ],
            },
        ]
    call = next(b for b in first["output"]["message"]["content"] if "toolUse" in b)
    result = {"toolUseId": call["toolUse"]["toolUseId"], "content": [{"text": "sum: 1593"}]}
    return [
        {"role": "user", "content": [{"text": "Sum the first 30 primes."}]},
        {"role": "assistant", "content": [call]},
        {"role": "user", "content": [{"toolResult": result}]},
    ]


@pytest.mark.parametrize("loop", LOOPS)
def test_a_dropped_thinking_block_rejected_by_bedrock_is_a_model_error(bedrock, loop):
    history = _history_without_thinking(loop)
    request = AgentRequest(prompt="Carry on.", loop=loop, model_id=SONNET_5)
    replay = BedrockReplay("thinking_dropped").attach(bedrock)
    with replay, pytest.raises(ModelError) as err:
        run_agent(request, deps=_deps(bedrock, history=history))
    assert replay.served == 1
    assert err.value.status == 502 and err.value.code == "ModelError"
    assert "ValidationException" in err.value.message
    assert "redacted_thinking" not in err.value.message  # the service's text is not echoed


# --- the replay catches a dropped or reordered block -------------------------------------------


def _second_exchange(name: str) -> tuple[list[dict[str, Any]], Exchange]:
    """The recorded conversation's second request, rebuilt as the loops send it."""
    fixture = load_fixture(name)
    turns = fixture["turns"]
    invoke = name.startswith("invoke")
    first = turns[0]["response"]["body"]
    assistant = first["content"] if invoke else first["output"]["message"]["content"]
    messages = [
        {"role": "user", "content": [{"type": "text", "text": fixture["calls"][0]["prompt"]}]},
        {"role": "assistant", "content": copy.deepcopy(assistant)},
        {"role": "user", "content": []},
    ]
    operation = "InvokeModel" if invoke else "Converse"
    request = {"messages": messages}
    return turns, Exchange(operation, "m", json.dumps(request).encode(), request, {})


@pytest.mark.parametrize("name", ["invoke_thinking_tool_loop", "converse_thinking_tool_loop"])
def test_replay_names_a_dropped_reordered_or_altered_thinking_block(name):
    turns, x = _second_exchange(name)
    expect = {"replays_thinking_of": [1]}
    assert check_expectations(expect, x, turns) == []
    content = x.request["messages"][1]["content"]
    original = copy.deepcopy(content)

    content[:] = [original[1], *original[2:]]  # the signed block dropped
    [problem] = check_expectations(expect, x, turns)
    assert "turn 1's thinking was dropped or altered: 1 of 2" in problem

    content[:] = [original[1], original[0], *original[2:]]  # the two blocks swapped
    assert check_expectations(expect, x, turns) == ["turn 1's thinking blocks were reordered"]

    content[:] = [*original[2:], original[0], original[1]]  # moved after the tool use
    [problem] = check_expectations(expect, x, turns)
    assert "must keep its place" in problem

    altered = copy.deepcopy(original)
    block = altered[0]
    if "signature" in block:
        block["signature"] = block["signature"][:-4] + "AAAA"
    else:
        text = block["reasoningContent"]["reasoningText"]
        text["signature"] = text["signature"][:-4] + "AAAA"
    content[:] = altered
    [problem] = check_expectations(expect, x, turns)
    assert "dropped or altered: 1 of 2" in problem  # a changed signature is another block


# --- history across turns and loops ------------------------------------------------------------


def _thinking_history(fmt: str) -> list[dict[str, Any]]:
    name = "invoke_thinking_tool_loop" if fmt == "anthropic" else "converse_thinking_tool_loop"
    first = load_fixture(name)["turns"][0]["response"]["body"]
    if fmt == "anthropic":
        call = next(b for b in first["content"] if b["type"] == "tool_use")
        result = {"type": "tool_result", "tool_use_id": call["id"], "content": "sum: 1593"}
        return [
            {"role": "user", "content": [{"type": "text", "text": "go"}]},
            {"role": "assistant", "content": first["content"]},
            {"role": "user", "content": [result]},
        ]
    content = copy.deepcopy(first["output"]["message"]["content"])
    redacted = content[1]["reasoningContent"]
    redacted["redactedContent"] = base64.b64decode(redacted["redactedContent"])  # as boto3 has it
    call = next(b for b in content if "toolUse" in b)
    result = {"toolUseId": call["toolUse"]["toolUseId"], "content": [{"text": "sum: 1593"}]}
    return [
        {"role": "user", "content": [{"text": "go"}]},
        {"role": "assistant", "content": content},
        {"role": "user", "content": [{"toolResult": result}]},
    ]


def test_stored_history_keeps_redacted_thinking_bytes_through_json():
    history = _thinking_history("converse")
    blob = history[1]["content"][1]["reasoningContent"]["redactedContent"]
    assert isinstance(blob, bytes)
    stored = json.loads(json.dumps(storable(history)))  # what DynamoDB / S3 keep
    restored = adapt(stored, "converse")
    assert restored[1]["content"][1]["reasoningContent"]["redactedContent"] == blob
    assert restored[1]["content"][0] == history[1]["content"][0]  # signature kept
    anthropic = _thinking_history("anthropic")
    assert adapt(json.loads(json.dumps(storable(anthropic))), "anthropic") == anthropic


@pytest.mark.parametrize(
    ("source", "target"), [("anthropic", "converse"), ("converse", "anthropic")]
)
def test_switching_format_drops_thinking_but_refuses_an_open_tool_loop(source, target):
    history = _thinking_history(source)
    with pytest.raises(RequestValidationError) as err:
        adapt(history, target)  # the model needs this turn's thinking back: refused
    assert err.value.field == "loop" and err.value.status == 400
    answer = {"type": "text", "text": "1593"} if source == "anthropic" else {"text": "1593"}
    finished = [*history, {"role": "assistant", "content": [answer]}]
    converted = adapt(finished, target)
    assert format_of(converted) == target
    assert not any(
        b.get("type") in ("thinking", "redacted_thinking") or "reasoningContent" in b
        for m in converted
        for b in m["content"]
    )
    kinds = [next(iter(b)) if target == "converse" else b["type"] for b in converted[1]["content"]]
    assert kinds == (["text", "toolUse"] if target == "converse" else ["text", "tool_use"])


@pytest.mark.parametrize(
    ("operation", "request_body", "problem"),
    [
        ("Converse", {"toolConfig": {"toolChoice": {"any": {}}}}, "forced tool choice"),
        ("Converse", {"toolConfig": {"toolChoice": {"tool": {"name": "x"}}}}, "forced"),
        ("InvokeModel", {"tool_choice": {"type": "tool", "name": "x"}}, "forced tool choice"),
        ("InvokeModel", {"thinking": {"type": "adaptive"}}, "thinking sent"),
        ("Converse", {"additionalModelRequestFields": {"thinking": {"type": "x"}}}, "thinking"),
    ],
)
def test_replay_fails_a_forced_tool_choice_or_an_unasked_thinking_setting(
    operation, request_body, problem
):
    body = {"messages": [{"role": "user", "content": []}], **request_body}
    x = Exchange(operation, "m", json.dumps(body).encode(), body, {})
    [found] = check_expectations({"tool_choice": "auto", "thinking": None}, x)
    assert problem in found
    assert (
        check_expectations({"tool_choice": "auto"}, Exchange(operation, "m", b"{}", {}, {})) == []
    )
