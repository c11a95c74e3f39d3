"""Small pieces of /v1 without the sandbox: tools plan, model names, SSE framing, the
authorizer and its cache, the sandbox-side text editor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from code_exec.anthropic.authorizer import Authorizer, Unauthorized, api_key_of
from code_exec.anthropic.model_catalog import list_models, model_info, resolve_model
from code_exec.anthropic.stream import block_events
from code_exec.anthropic.tools import plan_tools
from code_exec.anthropic.wire import MessagesRequest
from code_exec.config import RuntimeConfig
from code_exec.exceptions import NotFoundError, RequestValidationError
from code_exec.ptc.assets import load_asset_module
from code_exec.store.api_keys import ApiKeyRecord, hash_key

WEATHER = {
    "name": "get_weather",
    "input_schema": {"type": "object", "properties": {}},
    "allowed_callers": ["code_execution_20260521"],
}


def _request(**fields: Any) -> MessagesRequest:
    base = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    return MessagesRequest.model_validate({**base, **fields})


@pytest.mark.parametrize(
    ("tools", "version", "names", "repl"),
    [
        ([], None, [], False),
        (
            [{"type": "code_execution_20250522", "name": "code_execution"}],
            "20250522",
            ["code_execution"],
            False,
        ),
        (
            [{"type": "code_execution_20250825", "name": "code_execution"}],
            "20250825",
            ["bash_code_execution", "text_editor_code_execution"],
            False,
        ),
        (
            [{"type": "code_execution_20260521", "name": "code_execution"}],
            "20260521",
            ["bash_code_execution", "text_editor_code_execution", "code_execution"],
            True,
        ),
        (
            [WEATHER],
            "20260521",
            ["bash_code_execution", "text_editor_code_execution", "code_execution"],
            True,
        ),
    ],
)
def test_tool_plans(tools: list, version: str | None, names: list[str], repl: bool) -> None:
    plan = plan_tools(_request(tools=tools))
    assert plan.version == version and plan.python_repl is repl
    assert [t["name"] for t in plan.bedrock_tools()] == names
    if tools and "allowed_callers" in tools[0]:
        assert plan.caller_type == "code_execution_20260120"  # 20260521 is tagged as 20260120
        assert (
            "async def get_weather(input: dict) -> str" in plan.bedrock_tools()[-1]["description"]
        )


def test_direct_tools_reach_bedrock_without_anthropic_only_fields() -> None:
    tool = {
        "name": "lookup",
        "description": "d",
        "input_schema": {"type": "object"},
        "allowed_callers": ["direct", "code_execution_20260120"],
        "defer_loading": False,
        "cache_control": {"type": "ephemeral"},
    }
    plan = plan_tools(_request(tools=[tool]))
    assert plan.bedrock_tools()[-1] == {
        "name": "lookup",
        "description": "d",
        "input_schema": {"type": "object"},
        "cache_control": {"type": "ephemeral"},
    }


@pytest.mark.parametrize(
    ("tools", "field"),
    [
        ([{"type": "code_execution_20250825", "name": "python"}], "tools.0.name"),
        (
            [
                {"type": "code_execution_20250825", "name": "code_execution"},
                {"type": "code_execution_20260120", "name": "code_execution"},
            ],
            "tools.1",
        ),
        ([{**WEATHER, "name": "bash_code_execution"}], "tools.0.name"),
        ([{**WEATHER, "allowed_callers": ["nobody"]}], "tools.0.allowed_callers"),
        (
            [{"type": "code_execution_20250522", "name": "code_execution"}, WEATHER],
            "tools",
        ),
        ([{**WEATHER, "extra": 1}], "tools.0"),
    ],
)
def test_tool_plan_errors_name_the_field(tools: list, field: str) -> None:
    with pytest.raises(RequestValidationError) as err:
        plan_tools(_request(tools=tools))
    assert err.value.field == field


def test_model_names() -> None:
    config = RuntimeConfig(
        allowed_model_ids=("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "amazon.nova-pro-v1:0"),
        model_aliases=(
            ("claude-sonnet-4-5-20250929", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
            ("claude-sonnet-4-5", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
        ),
    )
    assert (
        resolve_model(config, "claude-sonnet-4-5") == "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    )
    assert resolve_model(config, "amazon.nova-pro-v1:0") == "amazon.nova-pro-v1:0"
    with pytest.raises(NotFoundError):
        resolve_model(config, "claude-opus-4-1")
    info = model_info(config, "claude-sonnet-4-5")
    assert (info["display_name"], info["created_at"]) == (
        "Claude Sonnet 4.5",
        "2025-09-29T00:00:00Z",
    )
    page = list_models(config, limit=1)
    assert len(page["data"]) == 1 and page["has_more"] is True
    rest = list_models(config, limit=5, after_id=page["last_id"])
    assert len(rest["data"]) == 1 and rest["has_more"] is False


def _events(block: dict) -> list[tuple[str, dict]]:
    out = []
    for frame in block_events(3, block):
        name, data = frame.strip().split("\n")
        out.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return out


def test_sse_frames_per_block_type() -> None:
    text = _events({"type": "text", "text": "hi"})
    assert [n for n, _ in text] == [
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
    ]
    assert text[0][1]["content_block"] == {"type": "text", "text": ""}
    assert text[1][1]["delta"] == {"type": "text_delta", "text": "hi"}
    assert all(d["index"] == 3 and d["type"] == n for n, d in text)
    use = _events(
        {
            "type": "server_tool_use",
            "id": "s",
            "name": "bash_code_execution",
            "input": {"command": "ls"},
        }
    )
    assert use[0][1]["content_block"]["input"] == {}
    assert json.loads(use[1][1]["delta"]["partial_json"]) == {"command": "ls"}
    result = {
        "type": "bash_code_execution_tool_result",
        "tool_use_id": "s",
        "content": {"stdout": "x"},
    }
    whole = _events(result)
    assert [n for n, _ in whole] == ["content_block_start", "content_block_stop"]
    assert whole[0][1]["content_block"] == result


class _Keys:
    def __init__(self) -> None:
        self.lookups = 0
        self.records = {hash_key("sk-good"): ApiKeyRecord(hash_key("sk-good"), "alice", "n", 0.0)}

    def api_key(self, key: str) -> ApiKeyRecord | None:
        self.lookups += 1
        return self.records.get(hash_key(key))


def test_authorizer_reads_either_header_and_caches_per_key() -> None:
    now = [0.0]
    keys = _Keys()
    auth = Authorizer(keys, clock=lambda: now[0])  # type: ignore[arg-type]
    arn = "arn:aws:execute-api:us-east-1:1:api/prod/POST/v1/messages"
    for headers in ({"X-Api-Key": "sk-good"}, {"authorization": "Bearer sk-good"}):
        out = auth({"headers": headers, "methodArn": arn})
        assert out["context"]["owner"] == "alice"
        assert (
            out["policyDocument"]["Statement"][0]["Resource"]
            == "arn:aws:execute-api:us-east-1:1:api/prod/*/v1/*"
        )
    assert keys.lookups == 1  # cached
    now[0] += 3600
    auth({"headers": {"x-api-key": "sk-good"}, "methodArn": arn})
    assert keys.lookups == 2  # expired from the cache
    for headers in ({}, {"x-api-key": "sk-bad"}, {"authorization": "Basic sk-good"}):
        with pytest.raises(Unauthorized, match=r"^Unauthorized$"):
            auth({"headers": headers, "methodArn": arn})
    keys.records[hash_key("sk-good")] = ApiKeyRecord(
        hash_key("sk-good"), "alice", "n", 0.0, "REVOKED"
    )
    now[0] += 3600
    with pytest.raises(Unauthorized):
        auth({"headers": {"x-api-key": "sk-good"}, "methodArn": arn})
    assert api_key_of({"X-API-KEY": " k "}) == "k"


def test_text_editor_runs_in_plain_python(tmp_path: Path) -> None:
    """The sandbox-side editor is stdlib Python; here it runs on a temp directory."""
    editor = load_asset_module("text_editor")
    path = str(tmp_path / "sub" / "a.txt")
    assert editor.handle({"command": "create", "path": path, "file_text": "one\ntwo\n"}) == {
        "type": "text_editor_code_execution_create_result",
        "is_file_update": False,
    }
    assert editor.handle({"command": "create", "path": path, "file_text": "one\ntwo\n"})[
        "is_file_update"
    ]
    replaced = editor.handle(
        {"command": "str_replace", "path": path, "old_str": "two", "new_str": "2\n3"}
    )
    assert (replaced["old_start"], replaced["old_lines"], replaced["new_lines"]) == (2, 1, 2)
    assert replaced["lines"] == ["-two", "+2", "+3"]
    view = editor.handle({"command": "view", "path": path, "view_range": [2, -1]})
    assert (view["content"], view["start_line"], view["total_lines"]) == ("2\n3\n", 2, 3)
    missing = editor.handle({"command": "view", "path": str(tmp_path / "nope")})
    assert missing["error_code"] == "file_not_found"
    twice = editor.handle({"command": "str_replace", "path": path, "old_str": "\n", "new_str": ""})
    assert twice["error_code"] == "invalid_tool_input" and "3 times" in twice["error_message"]
    listing = editor.handle({"command": "view", "path": str(tmp_path)})
    assert listing["content"] == "sub/a.txt"


@pytest.mark.parametrize(
    ("version", "sent"),
    [
        ("20250522", {"type": "tool", "name": "code_execution"}),
        ("20250825", {"type": "any"}),  # no Python stand-in: any tool (bash or the editor)
        ("20260120", {"type": "tool", "name": "code_execution"}),
    ],
)
def test_tool_choice_naming_code_execution(version: str, sent: dict) -> None:
    plan = plan_tools(
        _request(
            tools=[{"type": f"code_execution_{version}", "name": "code_execution"}],
            tool_choice={"type": "tool", "name": "code_execution"},
        )
    )
    assert plan.tool_choice == sent


@pytest.mark.parametrize(
    ("out", "err"),
    [(100_000, 0), (0, 100_000), (100_000, 100_000), (50, 100_000), (100_000, 30), (10, 10)],
)
def test_run_output_is_capped_together_at_the_invoke_limit(out: int, err: int) -> None:
    """stdout and stderr of one run, as the client, the record and the model get them: at
    most about ``/invoke``'s limit together, short ones whole, head and tail of long ones."""
    from code_exec.anthropic.results import run_result
    from code_exec.loops.toolbox import DEFAULT_OUTPUT_LIMIT

    stdout, stderr = "<" + "o" * out + ">", "[" + "e" * err + "]"
    content = run_result("bash_code_execution", stdout, stderr, 0, [])
    got_out, got_err = content["stdout"], content["stderr"]
    assert len(got_out) + len(got_err) <= DEFAULT_OUTPUT_LIMIT + 200
    for sent, got in ((stdout, got_out), (stderr, got_err)):
        if len(sent) + 2 <= DEFAULT_OUTPUT_LIMIT // 4 or len(stdout) + len(stderr) <= 20_000:
            assert got == sent  # short: whole
        else:
            assert got[0] == sent[0] and got[-1] == sent[-1] and "omitted" in got


class _RewrittenReplyRelay:
    """A Python runner whose reply a cell rewrote while it waited on a client tool."""

    def resume(self, cell: int, **_: Any) -> Any:
        from code_exec.exceptions import SandboxReplyError

        raise SandboxReplyError("the bridge relay's reply is malformed (status)")


def test_a_malformed_reply_on_resume_fails_the_tool_not_the_request() -> None:
    from code_exec.anthropic.server_tool_runner import Executor, OutputSink

    executor = Executor(
        None,
        "session",
        version="20250825",
        outputs=OutputSink(list),
        relay=_RewrittenReplyRelay,  # type: ignore[arg-type]
    )
    result = executor.resume(1, outcomes={}, answered=set(), budget=10.0)
    assert result == {"type": "code_execution_tool_result_error", "error_code": "unavailable"}
