"""``/v1/*`` served over real HTTP, for real clients (the ``anthropic`` SDK, LangChain).

The server is :class:`devtools.local_server.LocalApi`, as ``make local`` serves the API: the
Lambda REQUEST authorizer first, then ``POST /v1/messages`` through the streaming function's
own runtime loop (a Runtime API double polled by ``code_exec.streaming.runtime`` in threads of
the test process) and the other ``/v1`` routes through the SAME ``api_handler`` the stack
deploys. moto answers DynamoDB and S3, the code-interpreter emulator runs the code, and model
turns are replayed through the real boto3 ``bedrock-runtime`` client
(:class:`devtools.bedrock_replay.BedrockReplay`; ``/v1/messages`` streams every model call).
Every request either function received is kept, so tests can check what a client sent (the
SDK's headers, ``container``, ``?beta=true``).
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from devtools.bedrock_replay import BedrockReplay, load_fixture
from devtools.local_server import LocalApi

from ..conftest import replay_bedrock_client

MODEL = "claude-sonnet-4-5"


def model_turn(
    *content: dict[str, Any], expect: dict[str, Any] | None = None, stop: str | None = None
) -> dict[str, Any]:
    """One recorded InvokeModel turn (Bedrock's response body) written inline by a test."""
    uses = any(b.get("type") == "tool_use" for b in content)
    return {
        "expect": {"operation": "InvokeModel", **(expect or {})},
        "response": {
            "status": 200,
            "headers": {"Content-Type": "application/json"},
            "body": {
                "id": "msg_bdrk_01" + "x" * 22,
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5-20250929",
                "content": list(content),
                "stop_reason": stop or ("tool_use" if uses else "end_turn"),
                "stop_sequence": None,
                "usage": {"input_tokens": 100, "output_tokens": 20},
            },
        },
    }


def tool_use(name: str, tool_input: dict[str, Any], tool_id: str) -> dict[str, Any]:
    return {"type": "tool_use", "id": f"toolu_bdrk_01{tool_id}", "name": name, "input": tool_input}


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def fixture(*turns: dict[str, Any], name: str = "inline") -> dict[str, Any]:
    return {"name": name, "turns": list(turns)}


@functools.cache
def _tls() -> ssl.SSLContext:
    """The SDK clients' TLS context, made once: each ``Anthropic()`` would load the CA bundle
    again (~25 ms of CPU, hundreds of clients a run). The SDK's own default client otherwise."""
    return ssl.create_default_context()


@dataclass
class Server:
    """The local API: its URL, the two functions' modules (the buffered API's ``handler`` and
    the ``streamed`` one's), the keys minted for two owners, the replay client."""

    url: str
    handler: Any
    streamed: Any
    bedrock: Any
    keys: dict[str, str]
    events: list[dict[str, Any]] = field(default_factory=list)

    def client(self, owner: str = "alice", **kwargs: Any) -> Any:
        import anthropic

        options: dict[str, Any] = {"api_key": self.keys[owner], **kwargs}
        if "http_client" not in options:  # a test's own client is used as given
            options["http_client"] = anthropic.DefaultHttpxClient(verify=_tls())
        return anthropic.Anthropic(
            base_url=self.url, max_retries=0, _strict_response_validation=True, **options
        )

    def replay(self, fixture: str | dict[str, Any], turns: slice | None = None) -> BedrockReplay:
        """The fixture's model turns (``turns``: a slice of them) for this server's model calls."""
        data = load_fixture(fixture) if isinstance(fixture, str) else fixture
        if turns is not None:
            data = {**data, "turns": data["turns"][turns]}
        return BedrockReplay(data).attach(self.bedrock)

    @property
    def services(self) -> Any:
        """The services of the function serving ``/v1/messages`` (the streaming one)."""
        return self.streamed.services

    def new_instance(self) -> None:
        """What a request served by another Lambda instance sees: no client, no cache, no
        memory of earlier requests (everything is rebuilt from the environment)."""
        from code_exec.anthropic import authorizer

        for services in (self.handler.services, self.streamed.services):
            services.reset()
            services.override(bedrock=self.bedrock)
        authorizer.reset()

    def container(self, container_id: str) -> Any:
        """The container's record (its sandbox session id, pending cell, ...)."""
        from code_exec.store.container_records import _key

        item = self.services.dynamodb.get_item(
            TableName=self.services.config.table_name, Key=_key(container_id)
        )["Item"]
        return self.services.store._container_from(container_id, item)


@pytest.fixture(scope="module")
def server(sandbox_env: str, handler: Any) -> Iterator[Server]:
    from code_exec.anthropic import authorizer
    from code_exec.api import streamed

    authorizer.reset()
    bedrock = replay_bedrock_client()
    for services in (handler.services, streamed.services):
        services.reset()
        services.override(bedrock=bedrock)
    store = handler.services.store
    keys = {}
    for owner in ("alice", "bob"):
        from code_exec.store import new_key

        key = new_key()
        store.put_api_key(key, owner=owner, name=f"{owner}-test")
        keys[owner] = key
    events: list[dict[str, Any]] = []

    def api_handler(event: dict[str, Any], context: Any) -> Any:
        events.append(event)
        return handler.api_handler(event, context)

    def stream_handler(event: dict[str, Any], context: Any) -> Any:
        events.append(event)
        return streamed.stream_handler(event, context)

    local = LocalApi(api_handler, authorizer.handler, workers=2, stream_handler=stream_handler)
    try:
        with local:
            yield Server(local.url, handler, streamed, bedrock, keys, events)
    finally:
        _stop_container_sandboxes(streamed.services)
        authorizer.reset()
        handler.services.reset()
        streamed.services.reset()


def _stop_container_sandboxes(services: Any) -> None:
    """The containers' sandboxes outlive their requests (the container rules); the module's
    are stopped at its end, so the suite's shared emulator stays under its session quota."""
    from code_exec.owners import parse_owner

    for summary in services.sessions.list_sessions(status="READY"):
        owner = parse_owner(summary.name)
        if owner is not None and owner.kind == "container":
            services.sandbox.stop_session(summary.session_id)
