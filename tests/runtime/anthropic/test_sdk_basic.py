"""Code execution through the real ``anthropic`` SDK: every tool version, GA and beta paths,
bash, the text editor, legacy Python, containers, ``pause_turn``.

The SDK validates every response against its own types (``_strict_response_validation``);
the model turns are replayed, and each checks the request it answers (stand-in tools only,
never an Anthropic-only tool type or beta, the real stdout of the code).
"""

from __future__ import annotations

import json

import anthropic
import pytest
from anthropic import types
from anthropic.types import beta as beta_types

from .conftest import MODEL, Server

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.slow(seconds=20),
    pytest.mark.filterwarnings("ignore:The model"),
]

CE = {"type": "code_execution_20250825", "name": "code_execution"}
STATS_PROMPT = (
    "Use the code execution tool to calculate the mean and standard deviation of "
    "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"
)


def _user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def test_ga_bash_result_in_anthropics_exact_shapes(server: Server) -> None:
    with server.replay("anthropic_bash_stats") as replay:
        r = server.client().messages.create(
            model=MODEL, max_tokens=4096, tools=[CE], messages=_user(STATS_PROMPT)
        )
    assert server.events[-1]["path"] == "/v1/messages"
    assert server.events[-1]["queryStringParameters"] is None  # GA: no ?beta=true
    [use] = [b for b in r.content if isinstance(b, types.ServerToolUseBlock)]
    assert use.name == "bash_code_execution" and use.id.startswith("srvtoolu_")
    [res] = [b for b in r.content if isinstance(b, types.BashCodeExecutionToolResultBlock)]
    assert res.tool_use_id == use.id
    assert isinstance(res.content, types.BashCodeExecutionResultBlock)
    assert (res.content.return_code, res.content.content) == (0, [])
    assert "5.5" in res.content.stdout and res.content.stderr == ""
    assert r.stop_reason == "end_turn" and r.model == MODEL
    assert r.container is not None and r.container.id.startswith("container_")
    assert r.container.expires_at.tzinfo is not None
    usage = r.usage
    assert usage.server_tool_use is not None
    assert (
        usage.server_tool_use.web_search_requests,
        usage.server_tool_use.web_fetch_requests,
    ) == (
        0,
        0,
    )
    assert usage.server_tool_use.model_extra == {"code_execution_requests": 1}
    recorded = [x.response["usage"] for x in replay.exchanges]
    assert usage.input_tokens == sum(u["input_tokens"] for u in recorded)
    assert usage.output_tokens == sum(u["output_tokens"] for u in recorded)
    assert r._request_id == server.events[-1]["requestContext"]["requestId"]


@pytest.mark.parametrize("query", [None, {"beta": "true"}])
def test_beta_path_with_legacy_header_never_reaches_bedrock(
    server: Server, query: dict | None
) -> None:
    """SDK 2.x calls the beta path without ``?beta=true``; earlier SDKs (0.x) added it."""
    with server.replay("anthropic_bash_stats") as replay:
        r = server.client().beta.messages.create(
            model=MODEL,
            max_tokens=4096,
            tools=[CE],
            betas=["code-execution-2025-08-25", "interleaved-thinking-2025-05-14"],
            messages=_user(STATS_PROMPT),
            extra_query=query,
        )
    event = server.events[-1]
    assert event["queryStringParameters"] == query
    assert "code-execution-2025-08-25" in event["headers"]["anthropic-beta"]
    [res] = [b for b in r.content if isinstance(b, beta_types.BetaBashCodeExecutionToolResultBlock)]
    assert "5.5" in res.content.stdout
    for x in replay.exchanges:  # Bedrock gets the betas it knows, never Anthropic's own
        assert x.request["anthropic_beta"] == ["interleaved-thinking-2025-05-14"]


@pytest.mark.parametrize(
    ("version", "fixture", "tools"),
    [
        ("20250522", "anthropic_legacy_python", ["code_execution"]),
        ("20250825", "anthropic_bash_stats", ["bash_code_execution", "text_editor_code_execution"]),
        ("20260120", "anthropic_repl_state", None),
        ("20260521", "anthropic_repl_state", None),
    ],
)
def test_every_tool_version_is_emulated_and_never_forwarded(
    server: Server, version: str, fixture: str, tools: list[str] | None
) -> None:
    data = __import__("devtools.bedrock_replay", fromlist=["load_fixture"]).load_fixture(fixture)
    with server.replay(data, slice(0, 2)) as replay:
        r = server.client().messages.create(
            model=MODEL,
            max_tokens=1024,
            tools=[{"type": f"code_execution_{version}", "name": "code_execution"}],
            messages=_user(data["prompt"]),
        )
    assert r.stop_reason == "end_turn"
    body = replay.exchanges[0].body.decode()
    assert f"code_execution_{version}" not in body
    names = [t["name"] for t in replay.exchanges[0].request["tools"]]
    assert names == (
        tools or ["bash_code_execution", "text_editor_code_execution", "code_execution"]
    )


def test_text_editor_create_str_replace_view(server: Server) -> None:
    with server.replay("anthropic_text_editor"):
        r = server.client().messages.create(
            model=MODEL,
            max_tokens=4096,
            tools=[CE],
            messages=_user(
                "Create /tmp/a.txt containing 'hi', then replace hi with bye, then view it."
            ),
        )
    results = [
        b.content for b in r.content if isinstance(b, types.TextEditorCodeExecutionToolResultBlock)
    ]
    create, replace, view = results
    assert isinstance(create, types.TextEditorCodeExecutionCreateResultBlock)
    assert create.is_file_update is False
    assert isinstance(replace, types.TextEditorCodeExecutionStrReplaceResultBlock)
    assert replace.lines == ["-hi", "+bye"] and replace.old_start == 1
    assert isinstance(view, types.TextEditorCodeExecutionViewResultBlock)
    assert (view.file_type, view.content) == ("text", "bye\n")
    assert view.num_lines == view.total_lines == 1


def test_text_editor_errors_are_documented_codes(server: Server) -> None:
    turns = {
        "name": "editor-missing",
        "turns": [
            {
                "expect": {},
                "response": {
                    "status": 200,
                    "body": {
                        "id": "msg_bdrk_01x",
                        "type": "message",
                        "role": "assistant",
                        "model": "claude",
                        "content": [
                            {
                                "type": "tool_use",
                                "id": "toolu_bdrk_01nofile",
                                "name": "text_editor_code_execution",
                                "input": {"command": "view", "path": "/tmp/does-not-exist.txt"},
                            }
                        ],
                        "stop_reason": "tool_use",
                        "usage": {"input_tokens": 10, "output_tokens": 5},
                    },
                },
            },
            {
                "expect": {
                    "tool_results": [{"is_error": True, "contains": ["error: file_not_found"]}]
                },
                "response": {
                    "status": 200,
                    "body": {
                        "id": "msg_bdrk_01y",
                        "type": "message",
                        "role": "assistant",
                        "model": "claude",
                        "content": [{"type": "text", "text": "No such file."}],
                        "stop_reason": "end_turn",
                        "usage": {"input_tokens": 20, "output_tokens": 5},
                    },
                },
            },
        ],
    }
    with server.replay(turns):
        r = server.client().messages.create(
            model=MODEL, max_tokens=256, tools=[CE], messages=_user("view a missing file")
        )
    [res] = [b for b in r.content if isinstance(b, types.TextEditorCodeExecutionToolResultBlock)]
    assert isinstance(res.content, types.TextEditorCodeExecutionToolResultErrorObject)
    assert res.content.error_code == "file_not_found"


def test_legacy_python_blocks(server: Server) -> None:
    with server.replay("anthropic_legacy_python"):
        r = server.client().beta.messages.create(
            model=MODEL,
            max_tokens=1024,
            betas=["code-execution-2025-05-22"],
            tools=[{"type": "code_execution_20250522", "name": "code_execution"}],
            messages=_user("Use Python to compute the sum of the squares of 1 to 10."),
        )
    [use] = [b for b in r.content if isinstance(b, beta_types.BetaServerToolUseBlock)]
    assert use.name == "code_execution" and "sum(" in use.input["code"]
    [res] = [b for b in r.content if isinstance(b, beta_types.BetaCodeExecutionToolResultBlock)]
    assert isinstance(res.content, beta_types.BetaCodeExecutionResultBlock)
    assert res.content.stdout.strip() == "385"


def test_container_reuse_keeps_files(server: Server) -> None:
    c = server.client()
    with server.replay("anthropic_container_files", slice(0, 2)):
        r1 = c.messages.create(
            model=MODEL,
            max_tokens=1024,
            tools=[CE],
            messages=_user(
                "Write a random integer between 1000 and 9999 to /tmp/number.txt and print it."
            ),
        )
    [res1] = [b for b in r1.content if isinstance(b, types.BashCodeExecutionToolResultBlock)]
    number = int(res1.content.stdout.strip())
    with server.replay("anthropic_container_files", slice(2, 4)):
        r2 = c.messages.create(
            model=MODEL,
            max_tokens=1024,
            tools=[CE],
            container=r1.container.id,
            messages=_user("Read the number back from /tmp/number.txt and square it."),
        )
    assert r2.container.id == r1.container.id
    [res2] = [b for b in r2.content if isinstance(b, types.BashCodeExecutionToolResultBlock)]
    assert res2.content.stdout.strip() == f"{number} squared is {number * number}"
    assert r2.container.expires_at >= r1.container.expires_at


def test_container_reuse_keeps_python_state_from_20260120(server: Server) -> None:
    c = server.client()
    tools = [{"type": "code_execution_20260120", "name": "code_execution"}]
    with server.replay("anthropic_repl_state", slice(0, 2)):
        r1 = c.messages.create(
            model=MODEL,
            max_tokens=1024,
            tools=tools,
            messages=_user("Store 6 * 7 in a Python variable named answer."),
        )
    with server.replay("anthropic_repl_state", slice(2, 4)):
        r2 = c.messages.create(
            model=MODEL,
            max_tokens=1024,
            tools=tools,
            container=r1.container.id,
            messages=_user("What is answer doubled?"),
        )
    [res] = [b for b in r2.content if isinstance(b, types.CodeExecutionToolResultBlock)]
    assert res.content.stdout.strip() == "doubled 84"


def test_unknown_and_foreign_containers_are_404(server: Server) -> None:
    with pytest.raises(anthropic.NotFoundError) as err:
        server.client().messages.create(
            model=MODEL,
            max_tokens=64,
            tools=[CE],
            container="container_doesnotexist",
            messages=_user("hi"),
        )
    body = err.value.body
    assert body["type"] == "error" and body["error"]["type"] == "not_found_error"
    assert "container_doesnotexist" in body["error"]["message"]
    assert err.value.request_id and body["request_id"] == err.value.request_id
    # a container of alice's, used with bob's key: exactly as unknown
    with server.replay("anthropic_bash_stats"):
        r = server.client("alice").messages.create(
            model=MODEL, max_tokens=1024, tools=[CE], messages=_user(STATS_PROMPT)
        )
    with pytest.raises(anthropic.NotFoundError) as err:
        server.client("bob").messages.create(
            model=MODEL, max_tokens=64, tools=[CE], container=r.container.id, messages=_user("hi")
        )
    assert err.value.body["error"]["message"] == f"container {r.container.id!r} not found"


def test_expired_container_is_404_and_its_sandbox_is_stopped(server: Server) -> None:
    with server.replay("anthropic_bash_stats"):
        r = server.client().messages.create(
            model=MODEL, max_tokens=1024, tools=[CE], messages=_user(STATS_PROMPT)
        )
    record = server.container(r.container.id)
    services = server.services
    saved = services.clock
    services.clock = lambda: saved() + 3600  # past the idle expiry and the session's end
    try:
        with pytest.raises(anthropic.NotFoundError) as err:
            server.client().messages.create(
                model=MODEL,
                max_tokens=64,
                tools=[CE],
                container=r.container.id,
                messages=_user("hi"),
            )
    finally:
        services.clock = saved
    assert "expired" in err.value.body["error"]["message"]
    assert services.sandbox.session_status(record.sandbox_session_id) != "READY"


def test_pause_turn_then_continue_runs_the_tool_once(server: Server) -> None:
    from code_exec.anthropic.turn import TurnLimits

    services = server.services
    services.override(turn_limits=TurnLimits(max_iterations=1))
    c = server.client()
    messages = _user("Append a line to /tmp/runs.txt and count its lines.")
    try:
        with server.replay("anthropic_pause_turn", slice(0, 1)):
            r1 = c.messages.create(model=MODEL, max_tokens=1024, tools=[CE], messages=messages)
        assert r1.stop_reason == "pause_turn"
        assert isinstance(r1.content[-1], types.ServerToolUseBlock)  # no result yet
        assert not any(isinstance(b, types.BashCodeExecutionToolResultBlock) for b in r1.content)
        again = [*messages, {"role": "assistant", "content": r1.content}]
        for turn in (1, 2):  # continuing twice (a resent request) runs the command once
            with server.replay("anthropic_pause_turn", slice(turn, turn + 1)):
                r2 = c.messages.create(
                    model=MODEL,
                    max_tokens=1024,
                    tools=[CE],
                    container=r1.container.id,
                    messages=again,
                )
            assert r2.stop_reason == "end_turn"
            [res] = [b for b in r2.content if isinstance(b, types.BashCodeExecutionToolResultBlock)]
            assert res.tool_use_id == r1.content[-1].id
            assert res.content.stdout.strip() == "1"
            assert r2.usage.server_tool_use.model_extra["code_execution_requests"] == (
                1 if turn == 1 else 0
            )
    finally:
        del services.__dict__["turn_limits"]
    session = server.container(r1.container.id).sandbox_session_id
    lines = services.sandbox.execute_command(session, "cat /tmp/runs.txt").stdout
    assert lines == "run\n"


def test_history_with_server_blocks_reaches_the_model_as_client_tools(server: Server) -> None:
    """A follow-up turn sends the earlier server tool blocks back; the model sees them as the
    tool_use / tool_result it produced, with the code and what it printed."""
    with server.replay("anthropic_bash_stats"):
        r1 = server.client().messages.create(
            model=MODEL, max_tokens=1024, tools=[CE], messages=_user(STATS_PROMPT)
        )
    follow = {
        "name": "follow",
        "turns": [
            {
                "expect": {"messages": 5, "contains": ["statistics", "mean 5.5", "thanks"]},
                "response": {
                    "status": 200,
                    "body": {
                        "id": "msg_bdrk_01z",
                        "type": "message",
                        "role": "assistant",
                        "model": "claude",
                        "content": [{"type": "text", "text": "You're welcome."}],
                        "stop_reason": "end_turn",
                        "usage": {"input_tokens": 50, "output_tokens": 5},
                    },
                },
            }
        ],
    }
    history = [
        *_user(STATS_PROMPT),
        {"role": "assistant", "content": r1.content},
        {"role": "user", "content": "thanks"},
    ]
    with server.replay(follow) as replay:
        server.client().messages.create(
            model=MODEL, max_tokens=256, tools=[CE], container=r1.container.id, messages=history
        )
    sent = replay.exchanges[0].request["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user", "assistant", "user"]
    assert sent[1]["content"][-1]["type"] == "tool_use"
    assert sent[1]["content"][-1]["name"] == "bash_code_execution"
    assert sent[2]["content"][0]["type"] == "tool_result"
    assert "server_tool_use" not in json.dumps(sent)


def test_code_execution_next_to_a_client_tool_runs_when_the_client_answers(
    server: Server,
) -> None:
    """Anthropic: "the API returns the code execution call without its result. The result
    arrives in a later response, after you send back the tool_result blocks"."""
    from .conftest import fixture, model_turn, text, tool_use

    lookup = {
        "name": "lookup",
        "description": "Look a word up.",
        "input_schema": {"type": "object", "properties": {"word": {"type": "string"}}},
    }
    turns = fixture(
        model_turn(
            tool_use("bash_code_execution", {"command": "echo ran"}, "mixBASH" + "a" * 15),
            tool_use("lookup", {"word": "sandbox"}, "mixLOOK" + "b" * 15),
        ),
        model_turn(
            text("Done."),
            expect={
                "tool_results": [
                    {"is_error": False, "contains": ["ran"]},
                    {"is_error": False, "contains": ["a box of sand"]},
                ]
            },
        ),
    )
    c = server.client()
    messages: list[dict] = _user("Run echo and look up 'sandbox'.")
    with server.replay(turns):
        r1 = c.messages.create(model=MODEL, max_tokens=256, tools=[CE, lookup], messages=messages)
        assert r1.stop_reason == "tool_use" and r1.container is not None
        assert [b.type for b in r1.content] == ["server_tool_use", "tool_use"]
        [client_call] = [b for b in r1.content if isinstance(b, types.ToolUseBlock)]
        messages += [
            {"role": "assistant", "content": r1.content},
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": client_call.id,
                        "content": "a box of sand",
                    }
                ],
            },
        ]
        r2 = c.messages.create(
            model=MODEL,
            max_tokens=256,
            tools=[CE, lookup],
            container=r1.container.id,
            messages=messages,
        )
    assert [b.type for b in r2.content] == ["bash_code_execution_tool_result", "text"]
    assert r2.content[0].tool_use_id == r1.content[0].id
    assert r2.content[0].content.stdout == "ran\n"


def test_a_container_whose_sandbox_ended_is_404_expired(server: Server) -> None:
    with server.replay("anthropic_bash_stats"):
        r = server.client().messages.create(
            model=MODEL, max_tokens=1024, tools=[CE], messages=_user(STATS_PROMPT)
        )
    session = server.container(r.container.id).sandbox_session_id
    server.services.sandbox.stop_session(session)  # AgentCore ended it (its own timeout)
    with (
        server.replay("anthropic_bash_stats", slice(0, 1)),
        pytest.raises(anthropic.NotFoundError) as err,
    ):
        server.client().messages.create(
            model=MODEL,
            max_tokens=1024,
            tools=[CE],
            container=r.container.id,
            messages=_user(STATS_PROMPT),
        )
    assert "sandbox session ended" in err.value.body["error"]["message"]
    assert server.container(r.container.id).status == "STOPPED"


def test_the_turn_fits_in_what_is_left_of_the_invocation(server: Server) -> None:
    """With less time left than it takes to answer, a turn pauses before calling the model
    (the streaming function's handler, called as its runtime calls it)."""
    import json as _json

    from devtools.lambda_adapter import LambdaContext

    from ..conftest import load_event

    event = load_event("messages")
    event["body"] = _json.dumps(
        {"model": MODEL, "max_tokens": 64, "tools": [CE], "messages": _user(STATS_PROMPT)}
    )
    with server.replay({"name": "no-model-call", "turns": []}) as replay:
        response = server.streamed.stream_handler(event, LambdaContext(remaining_ms=4_000))
    body = _json.loads(b"".join(response.chunks()))
    assert (response.status_code, body["stop_reason"], body["content"]) == (200, "pause_turn", [])
    assert replay.served == 0
