"""Many conversations at once, each answered from its recording by its place in it.

:class:`~devtools.bedrock_replay.replay.BedrockReplay` serves one recording's turns in the
order they come, which is right for one conversation and wrong for twenty running side by
side (``make local`` under load): their model calls interleave. :class:`ConversationReplay`
keeps no order. Each request names its place itself:

* its *call* is the recorded call whose ``prompt`` is in the request's latest prompt
  message (the last user message that carries no tool result);
* its *turn* within that call is the number of assistant messages after that prompt.

So a request is answered the same whichever conversation it comes from and whenever it
comes. A named session's later call carries the earlier calls' messages before its
prompt; they are left out of the checks, which see the call as it was recorded, starting
the conversation (the ``messages`` count, ``contains``, ``replays_thinking_of`` all count
from the prompt). The recorded reply goes back as :class:`BedrockReplay` sends it, buffered
or as an event stream.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.awsrequest import AWSResponse

from devtools.bedrock_replay.expect import check_expectations
from devtools.bedrock_replay.fixtures import load_fixture
from devtools.bedrock_replay.replay import BedrockReplay
from devtools.bedrock_replay.wire import Conversation, Exchange, ReplayMismatch, parse_url

__all__ = ["ConversationReplay", "RecordedCall"]


@dataclass(frozen=True)
class RecordedCall:
    """One call of a recording: its prompt and the turns that answer it."""

    recording: str
    index: int  # 0-based, in the recording's ``calls``
    prompt: str
    turns: list[dict[str, Any]]

    @property
    def label(self) -> str:
        return f"{self.recording} call {self.index + 1}"


def recorded_calls(fixture: dict[str, Any]) -> list[RecordedCall]:
    """A recording's calls, each with its slice of the recorded turns."""
    name = str(fixture.get("name", "recording"))
    calls, start = [], 0
    listed = fixture.get("calls") or []
    if not listed and fixture.get("prompt"):  # one call (``/v1/messages`` recordings)
        listed = [{"prompt": fixture["prompt"], "turns": len(fixture.get("turns") or [])}]
    for index, call in enumerate(listed):
        count = int(call["turns"])
        turns = fixture["turns"][start : start + count]
        if len(turns) != count:
            raise ValueError(f"{name}: call {index + 1} wants {count} turns, {len(turns)} left")
        calls.append(RecordedCall(name, index, str(call["prompt"]), turns))
        start += count
    if not calls:
        raise ValueError(f"{name}: the recording names no calls and no prompt")
    return calls


class ConversationReplay(BedrockReplay):
    """Answers any number of concurrent conversations from one or more recordings.

    Args:
        fixtures: recordings, by name, path or loaded; each must list its ``calls`` (the
            prompt of each and how many turns answer it).
        strict: False records mismatches in :attr:`failures` and still answers (authoring).
        stream, latency: as :class:`BedrockReplay`.

    Thread-safe: :meth:`respond` may be called from many threads at once.
    """

    def __init__(
        self,
        fixtures: Sequence[str | Path | dict[str, Any]],
        *,
        strict: bool = True,
        stream: bool | None = None,
        latency: float = 0.0,
    ) -> None:
        loaded = [f if isinstance(f, dict) else load_fixture(f) for f in fixtures]
        if not loaded:
            raise ValueError("ConversationReplay needs at least one recording")
        merged = {"name": "+".join(str(f.get("name", "?")) for f in loaded), "turns": []}
        super().__init__(merged, strict=strict, stream=stream, latency=latency)
        self.calls = [call for f in loaded for call in recorded_calls(f)]
        self.answered: Counter[str] = Counter()  # "<recording> call N turn M" -> times answered
        self._lock = threading.Lock()

    def assert_done(self) -> None:
        """Every request was answered and met its turn's expectations (turns may repeat)."""
        if self.failures:
            raise ReplayMismatch("\n".join(self.failures))

    def respond(self, url: str, body: bytes) -> AWSResponse:
        """The recorded reply for the request's place in its conversation (checked first)."""
        operation, model_id = parse_url(url)
        request = json.loads(body or b"{}")
        messages = list(request.get("messages") or [])
        start = self._prompt_index(operation, messages)
        call = self._call_for(operation, messages[start])
        turn_index = sum(1 for m in messages[start + 1 :] if m.get("role") == "assistant")
        where = f"{call.label} turn {turn_index + 1}"
        if turn_index >= len(call.turns):
            self._fail(f"{where}: the recording has only {len(call.turns)} turns")
        turn = call.turns[turn_index]
        response = turn["response"]
        own = {**request, "messages": messages[start:]}  # the call as recorded: from its prompt
        exchange = Exchange(operation, model_id, body, own, response.get("body", {}))
        problems = check_expectations(turn.get("expect") or {}, exchange, call.turns)
        with self._lock:
            self.exchanges.append(exchange)
            self.answered[f"{where}"] += 1
        if problems:
            message = "\n".join(f"{where}: {p}" for p in problems)
            if self.strict:
                self._fail(message)
            with self._lock:
                self.failures.append(message)
        return self._reply(url, operation, response)

    def _prompt_index(self, operation: str, messages: list[dict[str, Any]]) -> int:
        for i in range(len(messages) - 1, -1, -1):
            message = messages[i]
            if message.get("role") == "user" and not _view(operation, message).last_results:
                return i
        self._fail(f"{self.name}: the request has no prompt (a user message without results)")
        raise AssertionError  # unreachable: _fail raises

    def _call_for(self, operation: str, message: dict[str, Any]) -> RecordedCall:
        text = _view(operation, message).last_text
        matches = [c for c in self.calls if c.prompt and c.prompt in text]
        if not matches:
            self._fail(f"{self.name}: no recorded call has the prompt {text[:200]!r}")
        return max(matches, key=lambda c: len(c.prompt))  # the most specific prompt

    def _fail(self, message: str) -> None:
        with self._lock:
            self.failures.append(message)
        raise ReplayMismatch(message)


def _view(operation: str, message: dict[str, Any]) -> Conversation:
    """One message seen through the expectations' own reading of its wire format."""
    return Conversation.of(operation, {"messages": [message]})
