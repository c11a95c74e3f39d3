"""The client's history -> the Bedrock conversation (no sandbox, no model)."""

from __future__ import annotations

import pytest
from code_exec.anthropic.history import convert
from code_exec.anthropic.wire import Message
from code_exec.exceptions import RequestValidationError

STU = {"type": "server_tool_use", "id": "srvtoolu_bdrk_01A", "name": "bash_code_execution"}
RESULT = {
    "type": "bash_code_execution_tool_result",
    "tool_use_id": "srvtoolu_bdrk_01A",
    "content": {
        "type": "bash_code_execution_result",
        "stdout": "5.5\n",
        "stderr": "",
        "return_code": 0,
        "content": [],
    },
}


def _messages(*raw: dict) -> list[Message]:
    return [Message.model_validate(m) for m in raw]


def test_a_server_tool_use_and_its_result_become_tool_use_then_tool_result() -> None:
    history = convert(
        _messages(
            {"role": "user", "content": "mean?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Computing.", "citations": None},
                    {**STU, "input": {"command": "echo 5.5"}},
                    RESULT,
                    {"type": "text", "text": "It is 5.5."},
                ],
            },
            {"role": "user", "content": "thanks"},
        )
    )
    assert history.messages == [
        {"role": "user", "content": [{"type": "text", "text": "mean?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Computing."},
                {
                    "type": "tool_use",
                    "id": "toolu_bdrk_01A",
                    "name": "bash_code_execution",
                    "input": {"command": "echo 5.5"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_bdrk_01A",
                    "content": [{"type": "text", "text": "5.5"}],
                }
            ],
        },
        {"role": "assistant", "content": [{"type": "text", "text": "It is 5.5."}]},
        {"role": "user", "content": [{"type": "text", "text": "thanks"}]},
    ]
    assert history.unanswered == []


def test_calls_made_from_code_and_their_results_never_reach_the_model() -> None:
    caller = {"type": "code_execution_20260120", "tool_id": "srvtoolu_bdrk_01X"}
    code = {
        "type": "server_tool_use",
        "id": "srvtoolu_bdrk_01X",
        "name": "code_execution",
        "input": {"code": "print(await w({}))"},
        "caller": {"type": "direct"},
    }
    history = convert(
        _messages(
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": [
                    code,
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "w",
                        "input": {},
                        "caller": caller,
                    },
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "SECRET"}],
            },
        )
    )
    assert "SECRET" not in str(history.messages) and "toolu_1" not in str(history.messages)
    assert history.messages[-1]["role"] == "assistant"  # the user turn held only that result
    assert [u.id for u in history.unanswered] == ["srvtoolu_bdrk_01X"]
    assert list(history.programmatic_results) == ["toolu_1"]
    assert history.other_last_content is False
    history.answer([{"type": "tool_result", "tool_use_id": "toolu_bdrk_01X", "content": "ok"}])
    assert history.messages[-1] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_bdrk_01X", "content": "ok"}],
    }


def test_results_for_open_uses_go_first_in_the_last_user_message() -> None:
    history = convert(
        _messages(
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": [
                    {**STU, "input": {"command": "ls"}},
                    {"type": "tool_use", "id": "toolu_c", "name": "client", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_c", "content": "x"}],
            },
        )
    )
    assert [u.id for u in history.unanswered] == ["srvtoolu_bdrk_01A"]
    history.answer([{"type": "tool_result", "tool_use_id": "toolu_bdrk_01A", "content": "y"}])
    assert [b["tool_use_id"] for b in history.messages[-1]["content"]] == [
        "toolu_bdrk_01A",
        "toolu_c",
    ]


def test_an_unanswered_server_tool_use_before_the_last_turn_is_400() -> None:
    with pytest.raises(RequestValidationError, match="has no result"):
        convert(
            _messages(
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": [{**STU, "input": {"command": "ls"}}]},
                {"role": "user", "content": "more"},
                {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
                {"role": "user", "content": "again"},
            )
        )


@pytest.mark.parametrize(
    ("block", "field"),
    [
        (
            {"type": "server_tool_use", "id": "s", "name": "advisor", "input": {}},
            "name",
        ),
        ({"type": "tool_use", "id": "t", "name": "x", "input": {}}, "type"),
    ],
)
def test_blocks_that_cannot_be_here_are_400(block: dict, field: str) -> None:
    role = "assistant" if block["type"] == "server_tool_use" else "user"
    with pytest.raises(RequestValidationError) as err:
        convert(_messages({"role": "user", "content": "hi"}, {"role": role, "content": [block]}))
    assert err.value.field is not None and err.value.field.endswith(field)


def test_file_sources_are_refused_container_uploads_become_text() -> None:
    with pytest.raises(RequestValidationError, match="container_upload"):
        convert(
            _messages(
                {
                    "role": "user",
                    "content": [{"type": "document", "source": {"type": "file", "file_id": "f"}}],
                }
            )
        )
    history = convert(
        _messages({"role": "user", "content": [{"type": "container_upload", "file_id": "file_1"}]})
    )
    assert history.uploads == ["file_1"]
    history.describe_uploads(lambda f: f"uploaded {f}")
    assert history.messages == [
        {"role": "user", "content": [{"type": "text", "text": "uploaded file_1"}]}
    ]
