"""``client.messages.count_tokens`` (and the beta one) through the real ``anthropic`` SDK with
strict response validation, answered by Bedrock's ``CountTokens`` (replayed at the botocore
layer: the real client serializes the call, the recording answers it).

What is counted is what the model would receive: each test decodes the InvokeModel body the
gateway sent inside ``input.invokeModel.body`` and checks it holds the stand-in tools, the
conversation as rewritten for Bedrock, and context edits applied.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import anthropic
import pytest

from devtools.fault_injection import Fault, FaultInjector, Target, sleeps_skipped

from .conftest import MODEL, Server, fixture

pytestmark = [pytest.mark.sandbox, pytest.mark.filterwarnings("ignore:The model")]

FOUNDATION_MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0"  # MODEL's profile, unprefixed
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
CODE_EXECUTION = {"type": "code_execution_20250825", "name": "code_execution"}


def counted(tokens: int) -> dict[str, Any]:
    """A recorded CountTokens answer."""
    return {"response": {"body": {"inputTokens": tokens}}}


def refused(status: int, error_type: str, message: str) -> dict[str, Any]:
    """A recorded CountTokens error, as Bedrock answers it."""
    return {
        "response": {
            "status": status,
            "headers": {"x-amzn-ErrorType": f"{error_type}:http://internal.amazon.com/coral/"},
            "body": {"message": message},
        }
    }


def sent_body(exchange: Any) -> dict[str, Any]:
    """The InvokeModel body a CountTokens call carried."""
    assert exchange.operation == "CountTokens"
    return dict(json.loads(base64.b64decode(exchange.request["input"]["invokeModel"]["body"])))


def test_the_count_is_of_what_the_model_receives(server: Server) -> None:
    with server.replay(fixture(counted(1234))) as replay:
        client = server.client()
        result = client.messages.count_tokens(
            model=MODEL,
            system="Answer briefly.",
            messages=[{"role": "user", "content": "What is 2**100?"}],
            tools=[CODE_EXECUTION, WEATHER],  # type: ignore[list-item]
        )
        assert result.input_tokens == 1234
        replay.assert_done()
        (exchange,) = replay.exchanges
        assert exchange.model_id == FOUNDATION_MODEL  # CountTokens refuses profile ids
        body = sent_body(exchange)
        assert body["anthropic_version"] == "bedrock-2023-05-31"
        names = {t["name"] for t in body["tools"]}
        # The code execution tool reaches the model as its stand-ins, next to the client's tool.
        assert {"bash_code_execution", "text_editor_code_execution", "get_weather"} <= names
        assert all(
            "type" not in t or not t["type"].startswith("code_execution") for t in body["tools"]
        )
        assert body["system"] == "Answer briefly."
        question = [{"type": "text", "text": "What is 2**100?"}]
        assert body["messages"] == [{"role": "user", "content": question}]


def test_context_edits_are_counted_applied_with_the_original_count_beside(
    server: Server,
) -> None:
    uses: list[dict[str, Any]] = []
    for i in range(4):
        uses += [
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": f"toolu_{i}", "name": "get_weather", "input": {}}
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": f"toolu_{i}", "content": "sunny " * 50}
                ],
            },
        ]
    messages = [{"role": "user", "content": "Weather in four cities?"}, *uses]
    with server.replay(fixture(counted(300), counted(900))) as replay:
        result = server.client().beta.messages.count_tokens(
            model=MODEL,
            messages=messages,  # type: ignore[arg-type]
            tools=[WEATHER],  # type: ignore[list-item]
            betas=["context-management-2025-06-27"],
            context_management={
                "edits": [
                    {
                        "type": "clear_tool_uses_20250919",
                        "trigger": {"type": "tool_uses", "value": 2},
                        "keep": {"type": "tool_uses", "value": 1},
                    }
                ]
            },
        )
        assert result.input_tokens == 300
        assert result.context_management is not None
        assert result.context_management.original_input_tokens == 900
        edited, whole = (sent_body(x) for x in replay.exchanges)
        assert json.dumps(whole).count("sunny") == 200
        assert json.dumps(edited).count("sunny") == 50  # three of four results cleared


def test_thinking_as_claude_code_sends_it_is_counted_without_display(server: Server) -> None:
    with server.replay(fixture(counted(42))) as replay:
        result = server.client().beta.messages.count_tokens(
            model=MODEL,
            messages=[{"role": "user", "content": "hi"}],
            thinking={"type": "enabled", "budget_tokens": 31999, "display": "omitted"},  # type: ignore[typeddict-unknown-key]
            betas=["interleaved-thinking-2025-05-14", "claude-code-20250219"],
        )
        assert result.input_tokens == 42
        body = sent_body(replay.exchanges[0])
        assert body["thinking"] == {"type": "enabled", "budget_tokens": 31999}
        assert body["max_tokens"] > 31999  # InvokeModel's rule: the budget is below max_tokens
        assert body["anthropic_beta"] == ["interleaved-thinking-2025-05-14"]


def test_an_unknown_beta_is_dropped_with_a_header_not_refused(server: Server) -> None:
    with server.replay(fixture(counted(7))):
        response = server.client().beta.messages.with_raw_response.count_tokens(
            model=MODEL,
            messages=[{"role": "user", "content": "hi"}],
            betas=["made-up-beta-2099-01-01"],
        )
        assert response.parse().input_tokens == 7
        # (the SDK adds token-counting-2024-11-01 itself: GA, so dropped too)
        assert "made-up-beta-2099-01-01" in response.headers["anthropic-beta-dropped"].split(",")


def test_a_body_without_messages_is_a_400_naming_the_field(server: Server) -> None:
    with server.replay(fixture()) as replay:
        with pytest.raises(anthropic.BadRequestError) as caught:
            server.client().post(
                "/v1/messages/count_tokens", body={"model": MODEL}, cast_to=dict[str, Any]
            )
        error = caught.value.body["error"]  # type: ignore[index]
        assert error["type"] == "invalid_request_error"
        assert "messages" in error["message"]
        assert replay.exchanges == []  # nothing reached Bedrock


def test_a_model_bedrock_cannot_count_for_is_a_400_naming_the_model(server: Server) -> None:
    unsupported = "The provided model doesn't support counting tokens"
    with (
        server.replay(fixture(refused(400, "ValidationException", unsupported))),
        pytest.raises(anthropic.BadRequestError) as caught,
    ):
        server.client().messages.count_tokens(
            model=MODEL, messages=[{"role": "user", "content": "hi"}]
        )
    error = caught.value.body["error"]  # type: ignore[index]
    assert error["type"] == "invalid_request_error"
    assert "cannot count tokens" in error["message"]


def test_a_throttled_count_is_a_429_with_retry_after(server: Server) -> None:
    # Bedrock's own ThrottlingException on every attempt botocore makes (its backoffs recorded,
    # not slept): the SDK's RateLimitError with the Retry-After it honours.
    target = Target("bedrock-runtime", "CountTokens")
    with (
        sleeps_skipped(),
        FaultInjector(target, Fault.THROTTLING).attach(server.bedrock) as fault,
        pytest.raises(anthropic.RateLimitError) as caught,
    ):
        server.client().messages.count_tokens(
            model=MODEL, messages=[{"role": "user", "content": "hi"}]
        )
    assert fault.injected >= 1  # Bedrock's throttling reached the gateway
    assert caught.value.response.headers.get("retry-after")


def test_an_uploaded_file_is_counted_as_the_text_the_model_reads(server: Server) -> None:
    client = server.client()
    uploaded = client.beta.files.upload(file=("sales.csv", b"a,b\n1,2\n", "text/csv"))
    with server.replay(fixture(counted(55))) as replay:
        client.beta.messages.count_tokens(
            model=MODEL,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Sum column b."},
                        {"type": "container_upload", "file_id": uploaded.id},
                    ],
                }
            ],
            tools=[CODE_EXECUTION],  # type: ignore[list-item]
            betas=["files-api-2025-04-14"],
        )
        text = json.dumps(sent_body(replay.exchanges[0])["messages"])
        assert "sales.csv" in text and "8 bytes" in text
        with pytest.raises(anthropic.NotFoundError):  # another owner's file is not theirs to count
            server.client("bob").beta.messages.count_tokens(
                model=MODEL,
                messages=[
                    {
                        "role": "user",
                        "content": [{"type": "container_upload", "file_id": uploaded.id}],
                    }
                ],
                tools=[CODE_EXECUTION],  # type: ignore[list-item]
                betas=["files-api-2025-04-14"],
            )


def test_a_deferred_tool_is_not_counted_until_a_search_found_it(server: Server) -> None:
    search = {"type": "tool_search_tool_regex_20251119", "name": "tool_search_tool_regex"}
    deferred = {**WEATHER, "defer_loading": True}
    with server.replay(fixture(counted(11))) as replay:
        server.client().beta.messages.count_tokens(
            model=MODEL,
            messages=[{"role": "user", "content": "Weather in Oslo?"}],
            tools=[search, deferred],  # type: ignore[list-item]
            betas=["advanced-tool-use-2025-11-20"],
        )
    names = {t["name"] for t in sent_body(replay.exchanges[0])["tools"]}
    assert names == {"tool_search_tool_regex"}  # the model sees the search, not the tool
