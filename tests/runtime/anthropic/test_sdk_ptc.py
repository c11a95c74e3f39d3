"""Programmatic tool calling through the real ``anthropic`` SDK, stateless across requests.

A cell that calls the client's tools pauses; the response carries ``tool_use`` blocks with a
``caller``; the next request (served here by a "new Lambda instance": every client and cache
rebuilt) brings only ``tool_result`` s and the container, and the same cell runs on from the
sandbox and DynamoDB. Intermediate results never reach the model.
"""

from __future__ import annotations

import json
import time
from typing import Any

import anthropic
import pytest
from anthropic import types

from devtools.bedrock_replay import load_fixture

from .conftest import MODEL, Server, fixture, model_turn, text, tool_use

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.filterwarnings("ignore:The model"),
    pytest.mark.slow(seconds=15),
]

CE = {"type": "code_execution_20260120", "name": "code_execution"}
WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a location.",
    "input_schema": {
        "type": "object",
        "properties": {"location": {"type": "string"}, "units": {"type": "string"}},
        "required": ["location"],
    },
    "allowed_callers": ["code_execution_20260120"],
}
PROMPT = "What's the weather in San Francisco, New York and London, in Celsius?"
TEMPS = {"San Francisco, CA": 18, "New York, NY": 24, "London, UK": 15}


def weather(tool_input: dict[str, Any]) -> str:
    """The client's tool (its result is deliberately chatty: none of it may reach the model)."""
    city = tool_input["location"]
    return json.dumps(
        {
            "location": city,
            "temperature": TEMPS.get(city, 20),
            "units": tool_input.get("units", "c"),
            "conditions": "drizzle",
            "humidity": 81,
        }
    )


def _answers(r: Any) -> list[dict[str, Any]]:
    return [
        {"type": "tool_result", "tool_use_id": b.id, "content": weather(b.input)}
        for b in r.content
        if isinstance(b, types.ToolUseBlock)
    ]


def test_round_trip_with_three_parallel_calls_on_a_new_instance(server: Server) -> None:
    c = server.client()
    messages: list[dict[str, Any]] = [{"role": "user", "content": PROMPT}]
    tools = [CE, WEATHER]
    with server.replay("anthropic_ptc_weather") as replay:
        r = c.messages.create(model=MODEL, max_tokens=4096, tools=tools, messages=messages)
        assert r.stop_reason == "tool_use"
        [code_use] = [b for b in r.content if isinstance(b, types.ServerToolUseBlock)]
        assert code_use.name == "code_execution" and "get_weather" in code_use.input["code"]
        assert code_use.caller is not None and code_use.caller.type == "direct"
        calls = [b for b in r.content if isinstance(b, types.ToolUseBlock)]
        assert len(calls) == 3  # asyncio.gather: all three in one response
        assert {b.input["location"] for b in calls} == set(TEMPS)
        for b in calls:
            assert b.caller is not None and b.caller.type == "code_execution_20260120"
            assert b.caller.tool_id == code_use.id
        assert r.container is not None
        pending = server.container(r.container.id).pending
        assert set(pending["calls"]) == {b.id for b in calls}
        rounds = 1
        while r.stop_reason == "tool_use":
            server.new_instance()  # any Lambda may serve the next request
            messages += [
                {"role": "assistant", "content": r.content},
                {"role": "user", "content": _answers(r)},
            ]
            r = c.messages.create(
                model=MODEL,
                max_tokens=4096,
                tools=tools,
                container=r.container.id,
                messages=messages,
            )
            rounds += 1
    assert (r.stop_reason, rounds, replay.served) == ("end_turn", 2, 2)
    [result] = [b for b in r.content if isinstance(b, types.CodeExecutionToolResultBlock)]
    assert result.tool_use_id == code_use.id  # answers the use of the first response
    assert result.content.stdout.splitlines() == [
        "San Francisco, CA: 18 C",
        "New York, NY: 24 C",
        "London, UK: 15 C",
    ]
    for x in replay.exchanges:  # the tools' own results never reached the model
        assert "drizzle" not in x.body.decode() and "humidity" not in x.body.decode()
    assert server.container(r.container.id).pending is None


def _paused(server: Server, tools: list[dict[str, Any]]) -> tuple[Any, list[dict[str, Any]]]:
    with server.replay("anthropic_ptc_weather", slice(0, 1)):
        r = server.client().messages.create(
            model=MODEL,
            max_tokens=4096,
            tools=tools,
            messages=[{"role": "user", "content": PROMPT}],
        )
    assert r.stop_reason == "tool_use"
    history = [
        {"role": "user", "content": PROMPT},
        {"role": "assistant", "content": r.content},
    ]
    return r, history


def test_the_documented_400s_of_a_continuation(server: Server) -> None:
    c = server.client()
    r, history = _paused(server, [CE, WEATHER])
    answers = _answers(r)

    def bad(user_content: list[dict[str, Any]], **kwargs: Any) -> anthropic.BadRequestError:
        with pytest.raises(anthropic.BadRequestError) as err:
            c.messages.create(
                model=MODEL,
                max_tokens=1024,
                tools=[CE, WEATHER],
                messages=[*history, {"role": "user", "content": user_content}],
                **kwargs,
            )
        assert err.value.body["error"]["type"] == "invalid_request_error"
        return err.value

    err = bad(answers)  # no container
    assert err.body["error"]["message"] == (  # the API's own wording
        "container_id is required when there are pending tool uses generated by "
        "code execution with tools."
    )
    err = bad([*answers, {"type": "text", "text": "and Paris?"}], container=r.container.id)
    assert "only their tool_result blocks" in err.body["error"]["message"]
    err = bad(answers[:2], container=r.container.id)
    assert "missing" in err.body["error"]["message"]
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "AA=="},
    }
    err = bad([*answers[:2], {**answers[2], "content": [image]}], container=r.container.id)
    assert "image" in err.body["error"]["message"]
    # the cell is still waiting: a correct continuation completes it
    with server.replay("anthropic_ptc_weather", slice(1, 2)):
        done = c.messages.create(
            model=MODEL,
            max_tokens=1024,
            tools=[CE, WEATHER],
            container=r.container.id,
            messages=[*history, {"role": "user", "content": answers}],
        )
    assert done.stop_reason == "end_turn"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"tool_choice": {"type": "tool", "name": "get_weather"}}, "tool_choice.name"),
        ({"tools": [CE, {**WEATHER, "strict": True}]}, "tools.1.strict"),
        (
            {"tool_choice": {"type": "auto", "disable_parallel_tool_use": True}},
            "tool_choice.disable_parallel_tool_use",
        ),
    ],
)
def test_constraints_of_tools_called_from_code_are_400_before_any_model_call(
    server: Server, change: dict[str, Any], field: str
) -> None:
    request = {
        "model": MODEL,
        "max_tokens": 64,
        "tools": [CE, WEATHER],
        "messages": [{"role": "user", "content": PROMPT}],
        **change,
    }
    with pytest.raises(anthropic.BadRequestError) as err:
        server.client().messages.create(**request)
    assert err.value.body["error"]["message"].startswith(f"{field}:")


def test_the_sdk_tool_runner_runs_to_the_end(server: Server) -> None:
    @anthropic.beta_tool(allowed_callers=["code_execution_20260120"])
    def get_weather(location: str, units: str = "c") -> str:
        """Current weather for a location.

        Args:
            location: City and region.
            units: "c" or "f".
        """
        return weather({"location": location, "units": units})

    c = server.client()
    first = len(server.events)
    with server.replay("anthropic_ptc_weather"):
        runner = c.beta.messages.tool_runner(
            model=MODEL,
            max_tokens=1024,
            tools=[get_weather],
            messages=[{"role": "user", "content": PROMPT}],
        )
        replies = list(runner)
    assert [m.stop_reason for m in replies] == ["tool_use", "end_turn"]
    sent = [json.loads(e["body"]) for e in server.events[first:]]
    # The runner first asks for a server-held thread; told thread_unsupported_request, it sends
    # the whole conversation instead (the SDK's documented fallback).
    assert sent[0]["thread"] == {"type": "create"} and "thread" not in sent[1]
    assert len(sent) == 3
    assert [t.get("type") for t in sent[1]["tools"]] in ([None], ["custom"])  # no code execution
    assert "container" not in sent[1] and sent[2]["container"] == replies[0].container.id
    [result] = [b for b in replies[-1].content if b.type == "code_execution_tool_result"]
    assert "London, UK: 15 C" in result.content.stdout


def test_a_result_that_never_comes_is_a_timeout_error_in_the_code(server: Server) -> None:
    from code_exec.anthropic.turn import TurnLimits

    services = server.services
    services.override(turn_limits=TurnLimits(call_timeout_seconds=2.0))
    data = load_fixture("anthropic_ptc_weather")
    late = model_turn(
        text("The weather service did not answer in time."),
        expect={
            "tool_results": [
                {
                    "is_error": False,
                    "contains": [
                        "TimeoutError: Calling tool ['get_weather'] timed out "
                        "(no response after 2s).",
                        "return code: 1",
                    ],
                }
            ]
        },
    )
    try:
        r, history = _paused(server, [CE, WEATHER])
        time.sleep(3.0)  # longer than the call timeout: the code has raised by now
        with server.replay(fixture(late)):
            r2 = server.client().messages.create(
                model=MODEL,
                max_tokens=1024,
                tools=[CE, WEATHER],
                container=r.container.id,
                messages=[*history, {"role": "user", "content": _answers(r)}],
            )
    finally:
        del services.__dict__["turn_limits"]
    [result] = [b for b in r2.content if isinstance(b, types.CodeExecutionToolResultBlock)]
    assert result.content.return_code == 1 and "TimeoutError" in result.content.stderr
    assert data["turns"][0]["response"]["body"]["content"][1]["name"] == "code_execution"


def test_keyword_arguments_work_and_a_bad_call_fails_in_the_code(server: Server) -> None:
    code = (
        "print(await get_weather(location='London, UK', units='c'))\n"
        "try:\n"
        "    await get_weather('Paris')\n"
        "except Exception as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    turns = fixture(
        model_turn(tool_use("code_execution", {"code": code}, "kw" + "A" * 20)),
        model_turn(
            text("London is 15 C."),
            expect={
                "tool_results": [
                    {"contains": ['"temperature": 15', "ToolError", "takes 0 positional argument"]}
                ]
            },
        ),
    )
    c = server.client()
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather in London?"}]
    with server.replay(turns):
        r = c.messages.create(model=MODEL, max_tokens=1024, tools=[CE, WEATHER], messages=messages)
        [call] = [b for b in r.content if isinstance(b, types.ToolUseBlock)]
        assert call.input == {"location": "London, UK", "units": "c"}
        messages += [
            {"role": "assistant", "content": r.content},
            {"role": "user", "content": _answers(r)},
        ]
        r = c.messages.create(
            model=MODEL,
            max_tokens=1024,
            tools=[CE, WEATHER],
            container=r.container.id,
            messages=messages,
        )
    assert r.stop_reason == "end_turn"


def test_tools_callable_from_code_without_a_code_execution_entry(server: Server) -> None:
    """Anthropic's API runs code execution when only allowed_callers ask for it (the SDK's tool
    runner sends no code execution tool); the version is the newest one named."""
    with server.replay("anthropic_ptc_weather", slice(0, 1)) as replay:
        r = server.client().messages.create(
            model=MODEL,
            max_tokens=1024,
            tools=[WEATHER],
            messages=[{"role": "user", "content": PROMPT}],
        )
    assert r.stop_reason == "tool_use"
    names = [t["name"] for t in replay.exchanges[0].request["tools"]]
    assert names == ["bash_code_execution", "text_editor_code_execution", "code_execution"]
