"""The request-surface table (``code_exec.anthropic.surface``): it covers what the pinned SDK
and Claude Code send, validation follows it, and ``docs/anthropic-api.md`` is generated from it.

Regenerate the document with ``python -m devtools.surface_doc``.
"""

from __future__ import annotations

import typing

import pydantic
import pytest
import typing_extensions
from anthropic.types import anthropic_beta_param
from anthropic.types.beta import message_create_params
from anthropic.types.beta.beta_tool_union_param import BetaToolUnionParam
from code_exec.anthropic import surface
from code_exec.anthropic.bedrock import bedrock_betas, request_body
from code_exec.anthropic.tools import plan_tools
from code_exec.anthropic.wire import MessagesRequest
from code_exec.exceptions import RequestValidationError

from devtools import surface_doc

# What Claude Code 2.1.328 sends on every request (captured; issue 15).
CLAUDE_CODE_BETAS = (
    "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,"
    "thinking-token-count-2026-05-13,advanced-tool-use-2025-11-20"
)
# Fields the GA path takes that the SDK's beta params no longer list.
GA_ONLY = {"temperature", "top_p", "top_k", "stream", "output_format"}


def _request(**fields: typing.Any) -> MessagesRequest:
    return MessagesRequest.model_validate(
        {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}], **fields}
    )


def test_the_table_lists_every_top_level_field_the_sdk_sends_and_only_those() -> None:
    sdk = set(typing_extensions.get_type_hints(message_create_params.MessageCreateParamsBase))
    sdk -= {"betas"}  # the anthropic-beta header
    rows = {r.name for r in surface.FIELDS}
    assert rows == sdk | GA_ONLY
    assert rows == set(MessagesRequest.model_fields)


def test_every_sdk_tool_type_has_a_row() -> None:
    types = {
        t
        for param in typing.get_args(BetaToolUnionParam)
        for t in typing.get_args(typing_extensions.get_type_hints(param)["type"])
        if isinstance(t, str)
    }
    missing = sorted(t for t in types if surface.tool_row(t) is None)
    assert missing == []


def test_every_row_cites_its_documentation() -> None:
    for row in (*surface.FIELDS, *surface.TOOLS, *surface.BETAS):
        assert row.source.startswith("https://"), row
        if row.disposition != "passed":
            assert row.why, row


def test_claude_codes_betas_are_split_and_none_is_refused() -> None:
    betas = surface.split_betas(CLAUDE_CODE_BETAS)
    assert betas.passed == ("interleaved-thinking-2025-05-14", "context-management-2025-06-27")
    assert betas.dropped == ("claude-code-20250219", "thinking-token-count-2026-05-13")
    assert betas.implemented == ("advanced-tool-use-2025-11-20",)  # tool search and PTC
    assert bedrock_betas(CLAUDE_CODE_BETAS) == list(betas.passed)


def test_every_beta_of_the_sdk_and_any_unknown_one_is_sorted_never_lost() -> None:
    literal = typing.get_args(anthropic_beta_param.AnthropicBetaParam)[1]
    names = [*typing.get_args(literal), "no-such-beta-2099-01-01", "code-execution-2025-08-25"]
    betas = surface.split_betas(" , ".join(names))
    assert sorted(betas.passed + betas.implemented + betas.dropped) == sorted(names)
    assert "no-such-beta-2099-01-01" in betas.dropped
    assert betas.implemented == (
        "code-execution-2025-05-22",
        "files-api-2025-04-14",
        "code-execution-2025-08-25",
    )
    assert set(betas.passed) == set(bedrock_betas(",".join(names)))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("mcp_servers", [{"type": "url", "url": "https://x", "name": "x"}]),
        ("compaction", {"trigger": 1}),
        ("fallbacks", [{"model": "x"}]),
        ("output_format", {"type": "json_schema", "schema": {}}),
    ],
)
def test_a_refused_field_is_a_400_naming_it_and_why(name: str, value: typing.Any) -> None:
    with pytest.raises(RequestValidationError) as e:
        plan_tools(_request(**{name: value}))
    assert e.value.field == name
    assert e.value.message == surface.refusal(name)
    assert surface.field_row(name).why in e.value.message


@pytest.mark.parametrize("kind", ["web_search_20990101", "mcp_toolset"])
def test_a_refused_tool_type_is_a_400_naming_it(kind: str) -> None:
    with pytest.raises(RequestValidationError) as e:
        plan_tools(_request(tools=[{"type": kind, "name": "x"}]))
    assert e.value.field == "tools.0.type"
    assert kind in e.value.message


def test_ignored_and_implemented_fields_are_accepted() -> None:
    request = _request(
        metadata={"user_id": "u"},
        context_management={"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        billing_policy={"x": 1},
        thread=False,
    )
    plan_tools(request)  # no refusal


def test_defer_loading_and_display_never_reach_bedrock() -> None:
    request = _request(
        tools=[
            {"name": "t", "input_schema": {"type": "object"}, "defer_loading": True},
            {"type": "bash_20250124", "name": "bash", "defer_loading": True},
            {"name": "u", "input_schema": {"type": "object"}, "defer_loading": False},
        ],
        thinking={"type": "enabled", "budget_tokens": 2000, "display": "omitted"},
    )
    body = request_body(request, plan_tools(request), [{"role": "user", "content": "hi"}])
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2000}
    # deferred and not discovered: not given to the model at all (tool_search.py)
    assert body["tools"] == [{"name": "u", "input_schema": {"type": "object"}}]


def test_docs_request_surface_is_current() -> None:
    current = surface_doc.DOC.read_text()
    assert surface_doc.BEGIN in current, "run `python -m devtools.surface_doc`"
    assert surface_doc.generate(current) == current, (
        "docs/anthropic-api.md's request surface is stale: run `python -m devtools.surface_doc`"
    )


def test_system_messages_reach_the_model_as_user_text_at_their_place() -> None:
    def system(text: str, **fields: typing.Any) -> dict[str, typing.Any]:
        return {"role": "system", "content": text, **fields}

    request = MessagesRequest.model_validate(
        {
            "model": "m",
            "max_tokens": 10,
            "output_config": {"effort": "high", "format": {"type": "json_schema", "schema": {}}},
            "messages": [
                {"role": "user", "content": "one"},
                system("gone", clear_at="next_user_message", output_config={"effort": "max"}),
                system("stays", clear_at="never"),
                {"role": "user", "content": "two"},
                system("this turn", output_config={"effort": "low"}),
            ],
        }
    )
    assert [(m.role, m.content) for m in request.messages] == [
        ("user", "one"),
        ("user", "stays"),
        ("user", "two"),
        ("user", "this turn"),
    ]
    assert request.output_config == {
        "effort": "low",
        "format": {"type": "json_schema", "schema": {}},
    }


@pytest.mark.parametrize(
    "message",
    [
        {"role": "user", "content": "x", "clear_at": "never"},
        {"role": "system", "content": [{"type": "image", "source": {}}]},
    ],
)
def test_system_message_fields_elsewhere_or_non_text_are_refused(message: dict) -> None:
    with pytest.raises(pydantic.ValidationError, match=r"messages\.1"):
        MessagesRequest.model_validate(
            {
                "model": "m",
                "max_tokens": 10,
                "messages": [{"role": "user", "content": "a"}, message],
            }
        )
