"""A streamed turn whose response cannot be written at all.

The Runtime API double goes away right after the streaming handler returned (``go_away``):
the runtime's first write of the response fails, before any frame was asked for. The runtime
closes the response; the turn is cancelled at its next safe point (the model stream is
dropped); its cleanup runs before the invocation ends: a one-shot sandbox is stopped
(emulator session count), a named session's lease is released (the next request takes it).
The loop under test is the deployed one (``code_exec.streaming.runtime.serve``), on threads of
this process so moto and the Bedrock replay apply.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from code_exec.api.streamed import StreamSettings
from code_exec.streaming import StreamedResponse
from code_exec.streaming.runtime import serve
from code_exec.streaming.runtime_api import RuntimeApi

from devtools.bedrock_replay import BedrockReplay, load_fixture, stream_frames
from devtools.runtime_api import FakeRuntimeApi

from .conftest import INTERPRETER_ID, replay_bedrock_client

pytestmark = pytest.mark.sandbox

PROMPT = load_fixture("converse_stream_slow_turn")["calls"][0]["prompt"]


@pytest.fixture(scope="module")
def streamed(sandbox_env: str, handler: Any) -> Iterator[Any]:
    from code_exec.api import streamed as module

    module.services.reset()
    bedrock = replay_bedrock_client()
    module.services.override(bedrock=bedrock)
    saved = module.routes.settings
    module.routes.settings = StreamSettings(ping_seconds=5.0, grace_seconds=10.0)
    try:
        yield module, bedrock
    finally:
        module.routes.settings = saved
        module.services.reset()


def _ready(agentcore_client: Any) -> set[str]:
    page = agentcore_client.list_code_interpreter_sessions(
        codeInterpreterIdentifier=INTERPRETER_ID, status="READY", maxResults=100
    )
    return {s["sessionId"] for s in page["items"]}


def _slow_chart() -> dict[str, Any]:
    """The model writes its first reply slowly (~25 s): the turn is mid-stream for a while."""
    chart = load_fixture("converse_session_chart")
    fixture = {**chart, "turns": json.loads(json.dumps(chart["turns"][:2]))}
    first = fixture["turns"][0]["response"]
    frames = stream_frames("ConverseStream", first["body"])
    first["stream"] = [x for f in frames for x in (f, {"sleep": 0.2})]
    return fixture


def _event(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "resource": "/invoke/stream",
        "path": "/invoke/stream",
        "httpMethod": "POST",
        "headers": {},
        "requestContext": {"requestId": "unwritten"},
        "body": json.dumps(body),
    }


@pytest.mark.parametrize("session_id", [None, "unwritten-turn"])
def test_a_turn_whose_first_write_fails_is_cancelled_and_cleaned_up_before_the_end(
    streamed: Any, handler: Any, agentcore_client: Any, session_id: str | None
) -> None:
    module, bedrock = streamed
    before = _ready(agentcore_client)
    replay = BedrockReplay(_slow_chart(), stream=True).attach(bedrock)
    try:
        with FakeRuntimeApi() as api:

            def unreachable_after(event: Any, context: Any) -> StreamedResponse:
                response = module.stream_handler(event, context)  # the turn has started
                api.go_away()
                return response

            runtime = RuntimeApi(api.address)
            thread = threading.Thread(
                target=serve, args=(runtime, unreachable_after), kwargs={"invocations": 1}
            )
            thread.daemon = True
            thread.start()
            request = {"prompt": PROMPT, "loop": "converse", "session_id": session_id}
            api.invoke(_event({k: v for k, v in request.items() if v}))
            thread.join(60)
            assert not thread.is_alive(), "the invocation did not end"
        # all of this happened before the invocation ended
        store = module.services.store
        if session_id is None:
            assert _ready(agentcore_client) <= before  # the one-shot sandbox was stopped
        else:
            assert len(_ready(agentcore_client) - before) == 1  # the session keeps its sandbox
            store.acquire_session(session_id, "next-request", 60)  # its lease was released
            store.release_session(session_id, "next-request")
            handler.operations.delete_session(session_id)
            assert _ready(agentcore_client) <= before
        # the turn was cancelled: no model stream left open, none read to its end
        assert all(s.closed and s.sent < len(s.frames) for s in replay.streams)
        assert replay.served <= 1
    finally:
        replay.detach()
