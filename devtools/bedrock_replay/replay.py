"""The replay double: a fixture's turns served, in order, to real boto3 clients.

It hooks botocore's ``before-send`` event, so the whole client stack runs (parameter
validation, serialization, signing, response parsing, error mapping) and only the socket is
replaced. Each request is checked against its turn's ``expect`` block
(:mod:`devtools.bedrock_replay.expect`) before the recorded reply is sent back: buffered as
the recorded body, or, for a streamed operation, as an event stream
(:mod:`devtools.bedrock_replay.stream`).
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

from botocore.awsrequest import AWSResponse
from urllib3.response import HTTPResponse

from devtools.bedrock_replay.expect import check_expectations
from devtools.bedrock_replay.fixtures import load_fixture
from devtools.bedrock_replay.stream import CONTENT_TYPE as EVENT_STREAM
from devtools.bedrock_replay.stream import FrameStream, stream_frames
from devtools.bedrock_replay.wire import BUFFERED, STREAMED, Exchange, ReplayMismatch, parse_url

__all__ = ["BedrockReplay"]


class BedrockReplay:
    """Serves a fixture's turns, in order, to one or more boto3 bedrock-runtime clients.

    Args:
        fixture: a fixture name, path, or the loaded fixture.
        strict: False records mismatches in :attr:`failures` without failing the call
            (fixture authoring only).
        stream: True requires every call to stream, False forbids it, None allows either.
        latency: paces the reply like a model writing (seconds per stream frame; a
            buffered reply waits for all of them).
    """

    def __init__(
        self,
        fixture: str | Path | dict[str, Any],
        *,
        strict: bool = True,
        stream: bool | None = None,
        latency: float = 0.0,
    ) -> None:
        self.strict = strict
        self.stream = stream
        self.latency = latency
        self.streams: list[FrameStream] = []  # the streamed replies served, in order
        self.fixture = fixture if isinstance(fixture, dict) else load_fixture(fixture)
        self.name = self.fixture.get("name", str(fixture))
        self.turns: list[dict[str, Any]] = self.fixture["turns"]
        self.exchanges: list[Exchange] = []
        self.failures: list[str] = []
        self._clients: list[Any] = []

    # --- wiring ------------------------------------------------------------------------

    def attach(self, client: Any) -> BedrockReplay:
        """Answer this client's calls from the fixture (returns self, a context manager)."""
        client.meta.events.register_first("before-send.bedrock-runtime", self._before_send)
        self._clients.append(client)
        return self

    def detach(self) -> None:
        for client in self._clients:
            client.meta.events.unregister("before-send.bedrock-runtime", self._before_send)
        self._clients.clear()

    def __enter__(self) -> BedrockReplay:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self.detach()
        if exc_type is None:
            self.assert_done()

    # --- checks ------------------------------------------------------------------------

    @property
    def served(self) -> int:
        return len(self.exchanges)

    @property
    def bytes_sent(self) -> int:
        """Request bytes sent to the model, summed over all calls."""
        return sum(len(x.body) for x in self.exchanges)

    def assert_done(self) -> None:
        """Every turn served, every expectation met."""
        if self.failures:
            raise ReplayMismatch("\n".join(self.failures))
        if self.served != len(self.turns):
            raise ReplayMismatch(
                f"{self.name}: {self.served} of {len(self.turns)} recorded turns were requested"
            )

    # --- the hook ----------------------------------------------------------------------

    def _before_send(self, request: Any, **_: Any) -> AWSResponse:
        body = request.body if isinstance(request.body, bytes) else (request.body or b"")
        if hasattr(body, "read"):
            body = body.read()
        return self.respond(request.url, body)

    def respond(self, url: str, body: bytes) -> AWSResponse:
        """The recorded reply to the request for ``url`` with ``body`` (checked first)."""
        operation, model_id = parse_url(url)
        parsed = json.loads(body or b"{}")
        index = self.served
        if index >= len(self.turns):
            self._fail(f"{self.name}: unexpected model call #{index + 1} (only {len(self.turns)})")
        streamed = operation in BUFFERED
        if self.stream is not None and streamed != self.stream:
            self._fail(f"{self.name} turn {index + 1}: {operation} called; stream={self.stream}")
        turn = self.turns[index]
        response = turn["response"]
        exchange = Exchange(operation, model_id, body, parsed, response.get("body", {}))
        self.exchanges.append(exchange)
        problems = check_expectations(turn.get("expect") or {}, exchange, self.turns)
        if problems:
            where = f"{self.name} turn {index + 1}"
            message = "\n".join(f"{where}: {p}" for p in problems)
            if self.strict:
                self._fail(message)
            self.failures.append(message)
        return self._reply(url, operation, response)

    def _reply(self, url: str, operation: str, response: dict[str, Any]) -> AWSResponse:
        status = response.get("status", 200)
        streamed = operation in BUFFERED
        frames = response.get("stream") or []
        if not frames and (streamed or self.latency):
            frames = stream_frames(STREAMED.get(operation, operation), response.get("body", {}))
        if streamed and status == 200:
            headers = {
                **response.get("headers", {}),
                "Content-Type": EVENT_STREAM,
                "x-amzn-bedrock-content-type": "application/json",
            }
            stream = FrameStream(frames, latency=self.latency)
            self.streams.append(stream)
            return AWSResponse(url, status, headers, stream)
        if self.latency:
            time.sleep(self.latency * sum(1 for f in frames if "sleep" not in f))
        payload = json.dumps(response.get("body", {})).encode("utf-8")
        headers = {"Content-Type": "application/json", **response.get("headers", {})}
        headers["Content-Length"] = str(len(payload))
        raw = HTTPResponse(
            body=io.BytesIO(payload), headers=headers, status=status, preload_content=False
        )
        return AWSResponse(url, status, headers, raw)

    def _fail(self, message: str) -> None:
        self.failures.append(message)
        raise ReplayMismatch(message)
