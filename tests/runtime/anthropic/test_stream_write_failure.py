"""``POST /v1/messages`` streamed into a response that cannot be written at all.

A container is made by a first request through the SDK; the second, streamed request on it
runs through the streaming runtime's own loop against a Runtime API double that goes away
as soon as the handler returned (``go_away``), so the runtime's first write fails, before
any frame was asked for. The turn must be cancelled (its model stream dropped, its tool
call never run) and its cleanup (container saved, lease released) must have run by the time
the invocation ends; the container serves the next request.
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

from devtools.bedrock_replay import BedrockReplay, load_fixture
from devtools.runtime_api import FakeRuntimeApi

from .conftest import MODEL, Server, fixture, model_turn, text, tool_use

pytestmark = [pytest.mark.sandbox, pytest.mark.filterwarnings("ignore:The model")]

CE = {"type": "code_execution_20250825", "name": "code_execution"}
PROMPT = (
    "Use the code execution tool to calculate the mean and standard deviation of "
    "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"
)
STATS = load_fixture("anthropic_bash_stats")


@pytest.fixture(scope="module")
def settings(server: Server) -> Iterator[StreamSettings]:
    routes = server.streamed.routes
    saved = routes.settings
    routes.settings = StreamSettings(ping_seconds=2.0, grace_seconds=10.0, first_seconds=0.5)
    try:
        yield routes.settings
    finally:
        routes.settings = saved


def test_a_v1_turn_whose_first_write_fails_releases_its_container_before_the_end(
    server: Server, settings: StreamSettings
) -> None:
    with server.replay(STATS):
        first = server.client().messages.create(
            model=MODEL, max_tokens=4096, tools=[CE], messages=[{"role": "user", "content": PROMPT}]
        )
    container = first.container.id  # type: ignore[union-attr]
    sandbox = server.container(container).sandbox_session_id
    event = json.loads(json.dumps(server.events[-1]))  # as API Gateway sent the first one
    event["isBase64Encoded"] = False
    event["body"] = json.dumps(
        {
            "model": MODEL,
            "max_tokens": 4096,
            "tools": [CE],
            "container": container,
            "stream": True,
            "messages": [{"role": "user", "content": "Once more, please."}],
        }
    )
    never = fixture(
        model_turn(
            text("Let me run that once more, from the start of the file listing."),
            tool_use("bash_code_execution", {"command": "touch /tmp/never-ran"}, "Never"),
        )
    )
    replay = BedrockReplay(never, latency=0.3)  # the model writes a frame every 0.3 s
    with replay.attach(server.bedrock), FakeRuntimeApi() as api:

        def unreachable_after(event: Any, context: Any) -> StreamedResponse:
            response = server.streamed.stream_handler(event, context)  # the turn has started
            api.go_away()
            return response

        thread = threading.Thread(
            target=serve,
            args=(RuntimeApi(api.address), unreachable_after),
            kwargs={"invocations": 1},
            daemon=True,
        )
        thread.start()
        api.invoke(event)
        thread.join(60)
        assert not thread.is_alive(), "the invocation did not end"
        # all of this happened before the invocation ended
        record = server.container(container)
        assert record.status == "ACTIVE" and record.leased_until == 0.0  # saved and released
        assert all(s.closed and s.sent < len(s.frames) for s in replay.streams)
        assert replay.served <= 1  # no model call after the write failed
    assert server.services.sandbox.session_status(sandbox) == "READY"  # kept for the container
    check = server.services.sandbox.execute_command(sandbox, "ls /tmp/never-ran || echo absent")
    assert "absent" in check.stdout
    with server.replay(STATS):
        again = server.client().messages.create(
            model=MODEL,
            max_tokens=4096,
            tools=[CE],
            container=container,
            messages=[{"role": "user", "content": PROMPT}],
        )
    assert again.container.id == container  # type: ignore[union-attr]
