"""Helpers for the emulator tests: sessions and one-call invocations via real boto3."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

INTERPRETER = "aws.codeinterpreter.v1"
# For a pytest run inside a test (in the repository, so pyproject's addopts already leave out
# langsmith's, locust's, typeguard's and anyio's plugins): the third-party plugins the rest of
# the suite needs but the emulator tests never use (most of the start's cost left:
# hypothesis's imports). The project's own plugins (tests/conftest.py) all load.
UNUSED_PLUGINS = [f"-pno:{name}" for name in ("hypothesispytest", "schemathesis", "syrupy")]

Invoke = Callable[..., dict[str, Any]]


def _events(
    client: Any, session_id: str, name: str, interpreter: str = INTERPRETER, **arguments: Any
) -> list[dict[str, Any]]:
    """All events of one InvokeCodeInterpreter stream, parsed by botocore."""
    resp = client.invoke_code_interpreter(
        codeInterpreterIdentifier=interpreter, sessionId=session_id, name=name, arguments=arguments
    )
    return list(resp["stream"])


def _admin(
    url: str, path: str, body: dict[str, Any] | None = None, method: str = "POST"
) -> dict[str, Any]:
    """Call an /_emulator/ admin endpoint."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, method=method)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


@pytest.fixture
def new_session(agentcore_client: Any) -> Iterator[Callable[..., str]]:
    """Factory starting sessions that are stopped after the test."""
    started: list[tuple[str, str]] = []

    def _start(interpreter: str = INTERPRETER, **kwargs: Any) -> str:
        sid = agentcore_client.start_code_interpreter_session(
            codeInterpreterIdentifier=interpreter, **kwargs
        )["sessionId"]
        started.append((interpreter, sid))
        return sid

    yield _start
    for interpreter, sid in started:
        agentcore_client.stop_code_interpreter_session(
            codeInterpreterIdentifier=interpreter, sessionId=sid
        )


@pytest.fixture(scope="module")
def shared_session(agentcore_client: Any) -> Iterator[str]:
    """One session reused by a module's read-mostly tests."""
    sid = agentcore_client.start_code_interpreter_session(codeInterpreterIdentifier=INTERPRETER)[
        "sessionId"
    ]
    yield sid
    agentcore_client.stop_code_interpreter_session(
        codeInterpreterIdentifier=INTERPRETER, sessionId=sid
    )


@pytest.fixture
def invoke(agentcore_client: Any) -> Invoke:
    """``invoke(session_id, tool, **arguments)`` -> the single ``result`` payload."""

    def _invoke(session_id: str, name: str, **arguments: Any) -> dict[str, Any]:
        evs = _events(agentcore_client, session_id, name, **arguments)
        assert len(evs) == 1, evs
        assert "result" in evs[0], evs
        return evs[0]["result"]

    return _invoke


@pytest.fixture
def stream_events(agentcore_client: Any) -> Callable[..., list[dict[str, Any]]]:
    """``stream_events(session_id, tool, interpreter=..., **arguments)`` -> all parsed events."""

    def _call(session_id: str, name: str, **kwargs: Any) -> list[dict[str, Any]]:
        return _events(agentcore_client, session_id, name, **kwargs)

    return _call


@pytest.fixture
def emulator_admin(emulator_url: str) -> Callable[..., dict[str, Any]]:
    """``emulator_admin(path, body=None, method="POST")`` calls an /_emulator/ endpoint."""

    def _call(
        path: str, body: dict[str, Any] | None = None, method: str = "POST"
    ) -> dict[str, Any]:
        return _admin(emulator_url, path, body, method)

    return _call
