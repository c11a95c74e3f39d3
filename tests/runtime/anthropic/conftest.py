"""``/v1/*`` served over real HTTP, for real clients (the ``anthropic`` SDK, LangChain).

The server is :mod:`devtools.http_adapter` in front of the SAME ``api_handler`` and the Lambda
REQUEST authorizer the stack deploys (as ``make local`` serves them), in a thread of the test
process: moto answers DynamoDB and S3, the code-interpreter emulator runs the code, and model
turns are replayed through the real boto3 ``bedrock-runtime`` client
(:class:`devtools.bedrock_replay.BedrockReplay`). Every request the server received is kept,
so tests can check what a client sent (the SDK's headers, ``container``, ``?beta=true``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

import pytest

from devtools.bedrock_replay import BedrockReplay, load_fixture
from devtools.http_adapter import make_handler

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


@dataclass
class Server:
    """The local API: its URL, the keys minted for two owners, the replay client."""

    url: str
    handler: Any
    bedrock: Any
    keys: dict[str, str]
    events: list[dict[str, Any]] = field(default_factory=list)

    def client(self, owner: str = "alice", **kwargs: Any) -> Any:
        import anthropic

        options: dict[str, Any] = {"api_key": self.keys[owner]}
        options.update(kwargs)
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
        return self.handler.services

    def new_instance(self) -> None:
        """What a request served by another Lambda instance sees: no client, no cache, no
        memory of earlier requests (everything is rebuilt from the environment)."""
        from code_exec.anthropic import authorizer

        bedrock = self.bedrock
        self.services.reset()
        self.services.override(bedrock=bedrock)
        authorizer.reset()

    def container(self, container_id: str) -> Any:
        """The container's record (its sandbox session id, pending cell, ...)."""
        from code_exec.store.containers import _key

        item = self.services.dynamodb.get_item(
            TableName=self.services.config.table_name, Key=_key(container_id)
        )["Item"]
        return self.services.store._container_from(container_id, item)


@pytest.fixture(scope="module")
def server(sandbox_env: str, handler: Any) -> Iterator[Server]:
    from code_exec.anthropic import authorizer

    authorizer.reset()
    handler.services.reset()
    bedrock = replay_bedrock_client()
    handler.services.override(bedrock=bedrock)
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

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(api_handler, authorizer.handler))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{httpd.server_address[1]}", handler, bedrock, keys, events)
    finally:
        httpd.shutdown()
        httpd.server_close()
        authorizer.reset()
        handler.services.reset()
