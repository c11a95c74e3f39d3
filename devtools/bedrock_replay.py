"""Replay recorded Bedrock model turns through the REAL boto3 ``bedrock-runtime`` client.

A fixture (``tests/fixtures/bedrock/*.json``) is a list of turns. Each turn holds the
HTTP response exactly as Bedrock sends it (status, headers, JSON body of
``InvokeModel`` or ``Converse``) and an ``expect`` block: what must be in the request
that this response answers. The double hooks botocore's ``before-send`` event, so the
whole client stack runs (parameter validation, serialization, signing, response
parsing, error mapping) and only the socket is replaced. It works for any client,
including the one inside a Strands ``BedrockModel``.

It is not a fake that always answers right: a request that does not contain what the
recorded turn expects (the real stdout of the previous cell, the error flag of a tool
result, the tools offered, cache points, ...) fails the test with a message saying what
was missing. The code the recorded model writes is executed for real in the sandbox,
so the next request carries real output.

Expectation keys (all optional):

``operation``            "InvokeModel" | "Converse"
``model_id``             the model id in the URL
``system_contains``      substrings of the system prompt
``tools``                the exact list of tool names offered, in order
``cache``                {"system": bool, "tools": bool}: cache points present or not
``messages``             the number of messages in the request
``contains``             substrings of the whole conversation (all text, tool inputs, results)
``last_contains``        substrings of the last message (text and tool result text)
``last_not_contains``    substrings that must NOT be in the last message
``tool_results``         [{"is_error": bool, "contains": [...]}] for the last message's results,
                         in order (``status: error`` counts as an error on Converse)
``body_contains``        substrings of the raw request body (any field)
``body_lacks``           substrings that must NOT be anywhere in the raw request body (what
                         must never reach the model: Anthropic-only betas, server tool types,
                         intermediate tool results)
``keys_absent``          top-level body keys that must not be sent
``thinking``             the ``thinking`` object the request carries (InvokeModel body, or
                         Converse ``additionalModelRequestFields``); null: none is sent
``tool_choice``          "auto": no forced tool choice (none sent, or ``auto``)
``replays_thinking_of``  numbers of earlier turns (1-based, across calls) whose assistant
                         message must come back in this request exactly as the model sent
                         it: every thinking block byte for byte (signature or redacted data
                         included) and in its place; a dropped, reordered or altered block
                         fails the turn, naming what happened

Usage::

    with BedrockReplay("messages_expense_audit_ptc").attach(client) as replay:
        run_agent(...)
    # leaving the block asserts every turn was served and every expectation held
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from botocore.awsrequest import AWSResponse
from urllib3.response import HTTPResponse

__all__ = [
    "EXPENSE_TABLE",
    "FIXTURES",
    "LOOPS",
    "BedrockReplay",
    "Exchange",
    "Played",
    "ReplayMismatch",
    "bedrock_client",
    "emulated_sandbox",
    "fixture_name",
    "load_fixture",
    "play",
]

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "bedrock"

_OPERATIONS = {"invoke": "InvokeModel", "converse": "Converse"}
_ANTHROPIC_USAGE = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)
_CONVERSE_USAGE = ("inputTokens", "outputTokens", "cacheReadInputTokens", "cacheWriteInputTokens")

LOOPS = ["messages", "converse", "strands"]  # the loops the recorded turns serve
# Recordings are per wire API: InvokeModel for ``messages``, Converse for the other two.
_FIXTURE_PREFIX = {"messages": "invoke", "converse": "converse", "strands": "converse"}
# What the expense-audit recordings' last cell prints (over-budget people, exact amounts).
EXPENSE_TABLE = (
    "Name | Budget | Actual | Over by\n"
    "Alice Chen | $5,000.00 | $9,876.54 | +$4,876.54\n"
    "Emma Johnson | $5,000.00 | $5,266.02 | +$266.02\n"
    "Grace Taylor | $5,000.00 | $6,474.46 | +$1,474.46\n"
)


def fixture_name(loop: str, scenario: str) -> str:
    """The recording of ``scenario`` for ``loop`` (``converse_session_chart``)."""
    return f"{_FIXTURE_PREFIX[loop]}_{scenario}"


class ReplayMismatch(AssertionError):
    """The code under test sent a request the recording does not answer."""


def load_fixture(name: str | Path) -> dict[str, Any]:
    """A fixture by name (``messages_expense_audit_ptc``) or path."""
    path = Path(name)
    if not path.suffix:
        path = FIXTURES / f"{name}.json"
    return json.loads(path.read_text())


@dataclass
class Exchange:
    """One model call as it went over the (replaced) wire."""

    operation: str
    model_id: str
    body: bytes  # the request body exactly as sent
    request: dict[str, Any]  # parsed
    response: dict[str, Any]  # the recorded response body

    @property
    def conversation(self) -> _Conversation:
        return _Conversation.of(self.operation, self.request)

    @property
    def estimated_usage(self) -> tuple[int, int, int, int]:
        """(input, output, cache read, cache write) tokens the recorded response carries.

        These are not Bedrock's numbers: the recordings' ``usage`` was filled when they were
        authored, by an offline tokenizer run over the requests sent then
        (``tests/fixtures/bedrock/_author.py``). A test may check that a loop carries them
        over unchanged, never what they amount to. Read with each wire format's own field
        names (Anthropic Messages for InvokeModel, Converse), not through the runtime.
        """
        usage = self.response.get("usage") or {}
        keys = _ANTHROPIC_USAGE if self.operation == "InvokeModel" else _CONVERSE_USAGE
        inp, out, read, write = (int(usage.get(k, 0)) for k in keys)
        return inp, out, read, write


class BedrockReplay:
    """Serves a fixture's turns, in order, to one or more boto3 bedrock-runtime clients."""

    def __init__(self, fixture: str | Path | dict[str, Any], *, strict: bool = True) -> None:
        self.strict = strict  # False: record mismatches without failing (fixture authoring)
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
        operation, model_id = _parse_url(request.url)
        body = request.body if isinstance(request.body, bytes) else (request.body or b"")
        if hasattr(body, "read"):
            body = body.read()
        parsed = json.loads(body or b"{}")
        index = self.served
        if index >= len(self.turns):
            self._fail(f"{self.name}: unexpected model call #{index + 1} (only {len(self.turns)})")
        turn = self.turns[index]
        response = turn["response"]
        exchange = Exchange(operation, model_id, body, parsed, response.get("body", {}))
        self.exchanges.append(exchange)
        problems = _check(turn.get("expect") or {}, exchange, self.turns)
        if problems:
            where = f"{self.name} turn {index + 1}"
            message = "\n".join(f"{where}: {p}" for p in problems)
            if self.strict:
                self._fail(message)
            self.failures.append(message)
        payload = json.dumps(response.get("body", {})).encode("utf-8")
        headers = {"Content-Type": "application/json", **response.get("headers", {})}
        headers["Content-Length"] = str(len(payload))
        raw = HTTPResponse(
            body=io.BytesIO(payload),
            headers=headers,
            status=response.get("status", 200),
            preload_content=False,
        )
        return AWSResponse(request.url, response.get("status", 200), headers, raw)

    def _fail(self, message: str) -> None:
        self.failures.append(message)
        raise ReplayMismatch(message)


# --- request views -----------------------------------------------------------------------


def _parse_url(url: str) -> tuple[str, str]:
    path = url.split("://", 1)[-1].split("/", 1)[-1].split("?")[0]
    parts = path.split("/")  # model/{id}/invoke
    if len(parts) < 3 or parts[0] != "model" or parts[-1] not in _OPERATIONS:
        raise ReplayMismatch(f"not a model call the replay knows: {url}")
    return _OPERATIONS[parts[-1]], unquote("/".join(parts[1:-1]))


@dataclass
class _Result:
    is_error: bool
    text: str


@dataclass
class _Conversation:
    """A request reduced to what the expectations talk about, for either wire format."""

    system: str
    tools: list[str]
    cache_system: bool
    cache_tools: bool
    messages: list[dict[str, Any]]
    all_text: str
    last_text: str
    last_results: list[_Result]
    thinking: Any  # the request's thinking object (None when absent)
    tool_choice: Any  # the request's tool choice (None when absent)

    @classmethod
    def of(cls, operation: str, req: dict[str, Any]) -> _Conversation:
        messages = req.get("messages", [])
        if operation == "InvokeModel":
            system_blocks = req.get("system") or []
            if isinstance(system_blocks, str):
                system_blocks = [{"type": "text", "text": system_blocks}]
            tools = req.get("tools") or []
            return cls(
                system="".join(b.get("text", "") for b in system_blocks),
                tools=[t["name"] for t in tools],
                cache_system=any("cache_control" in b for b in system_blocks),
                cache_tools=any("cache_control" in t for t in tools),
                messages=messages,
                all_text="\n".join(_anthropic_text(m) for m in messages),
                last_text=_anthropic_text(messages[-1]) if messages else "",
                last_results=_anthropic_results(messages[-1]) if messages else [],
                thinking=req.get("thinking"),
                tool_choice=req.get("tool_choice"),
            )
        system = req.get("system") or []
        tools = (req.get("toolConfig") or {}).get("tools") or []
        return cls(
            system="".join(b.get("text", "") for b in system),
            tools=[t["toolSpec"]["name"] for t in tools if "toolSpec" in t],
            cache_system=any("cachePoint" in b for b in system),
            cache_tools=any("cachePoint" in t for t in tools),
            messages=messages,
            all_text="\n".join(_converse_text(m) for m in messages),
            last_text=_converse_text(messages[-1]) if messages else "",
            last_results=_converse_results(messages[-1]) if messages else [],
            thinking=(req.get("additionalModelRequestFields") or {}).get("thinking"),
            tool_choice=(req.get("toolConfig") or {}).get("toolChoice"),
        )


def _anthropic_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    parts = []
    for b in content or []:
        if b.get("type") == "text":
            parts.append(b["text"])
        elif b.get("type") == "tool_use":
            parts.append(json.dumps(b.get("input"), ensure_ascii=False))
        elif b.get("type") == "tool_result":
            parts.append(_anthropic_result_text(b))
    return "\n".join(parts)


def _anthropic_result_text(block: dict[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, str):
        return content
    return "".join(c.get("text", "") for c in content or [])


def _anthropic_results(message: dict[str, Any]) -> list[_Result]:
    content = message.get("content")
    if isinstance(content, str):
        return []
    return [
        _Result(bool(b.get("is_error")), _anthropic_result_text(b))
        for b in content or []
        if b.get("type") == "tool_result"
    ]


def _converse_text(message: dict[str, Any]) -> str:
    parts = []
    for b in message.get("content") or []:
        if "text" in b:
            parts.append(b["text"])
        elif "toolUse" in b:
            parts.append(json.dumps(b["toolUse"].get("input"), ensure_ascii=False))
        elif "toolResult" in b:
            parts.append(_converse_result_text(b["toolResult"]))
    return "\n".join(parts)


def _converse_result_text(result: dict[str, Any]) -> str:
    out = []
    for c in result.get("content") or []:
        if "text" in c:
            out.append(c["text"])
        elif "json" in c:
            out.append(json.dumps(c["json"], ensure_ascii=False))
    return "".join(out)


def _converse_results(message: dict[str, Any]) -> list[_Result]:
    return [
        _Result(b["toolResult"].get("status") == "error", _converse_result_text(b["toolResult"]))
        for b in message.get("content") or []
        if "toolResult" in b
    ]


def _is_thinking(block: dict[str, Any]) -> bool:
    return block.get("type") in ("thinking", "redacted_thinking") or "reasoningContent" in block


def _canon(block: dict[str, Any]) -> str:
    return json.dumps(block, sort_keys=True, ensure_ascii=False)


def _response_content(operation: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    if operation == "InvokeModel":
        return list(body.get("content") or [])
    return list(((body.get("output") or {}).get("message") or {}).get("content") or [])


def _replayed(n: int, turns: list[dict[str, Any]], x: Exchange) -> list[str]:
    """Problems with how this request sends back turn ``n``'s assistant message."""
    if not 1 <= n <= len(turns):
        return [f"replays_thinking_of: turn {n} is not an earlier turn of this conversation"]
    got = _response_content(x.operation, turns[n - 1]["response"].get("body") or {})
    assistants = [m for m in x.request.get("messages") or [] if m.get("role") == "assistant"]
    if len(assistants) < n:
        return [f"turn {n}'s assistant message is missing ({len(assistants)} sent back)"]
    content = assistants[n - 1].get("content")
    sent = [b for b in content if "cachePoint" not in b] if isinstance(content, list) else []
    want = [_canon(b) for b in got if _is_thinking(b)]
    have = [_canon(b) for b in sent if _is_thinking(b)]
    if not want:
        return [f"replays_thinking_of: turn {n}'s response has no thinking block"]
    if have != want:
        if len(have) < len(want) or not set(want) <= set(have):
            missing = sum(1 for w in want if w not in have)
            return [
                f"turn {n}'s thinking was dropped or altered: {missing} of {len(want)} "
                "block(s) not sent back byte for byte (signature included)"
            ]
        if sorted(have) == sorted(want):
            return [f"turn {n}'s thinking blocks were reordered"]
        return [f"turn {n}'s thinking blocks were changed: {len(have)} sent, {len(want)} received"]
    if [_canon(b) for b in sent] != [_canon(b) for b in got]:
        return [
            f"turn {n}'s assistant message was not sent back as received (a thinking block "
            "must keep its place before the text and tool use that follow it)"
        ]
    return []


def _check(
    expect: dict[str, Any], x: Exchange, turns: list[dict[str, Any]] | None = None
) -> list[str]:
    """Problems with the request against the turn's expectations (empty when all hold)."""
    problems: list[str] = []
    conv = x.conversation

    def need(ok: bool, what: str) -> None:
        if not ok:
            problems.append(what)

    if "operation" in expect:
        need(
            x.operation == expect["operation"], f"operation {x.operation} != {expect['operation']}"
        )
    if "model_id" in expect:
        need(x.model_id == expect["model_id"], f"model id {x.model_id} != {expect['model_id']}")
    for s in expect.get("system_contains", []):
        need(s in conv.system, f"system prompt lacks {s!r}")
    if "tools" in expect:
        need(conv.tools == expect["tools"], f"tools offered {conv.tools} != {expect['tools']}")
    for key, actual in (("system", conv.cache_system), ("tools", conv.cache_tools)):
        if key in expect.get("cache", {}):
            want = expect["cache"][key]
            need(actual == want, f"cache point on {key}: {actual}, expected {want}")
    if "messages" in expect:
        n = len(conv.messages)
        need(n == expect["messages"], f"{n} messages in the request, expected {expect['messages']}")
    for s in expect.get("contains", []):
        need(s in conv.all_text, f"conversation lacks {s!r}")
    for s in expect.get("last_contains", []):
        need(s in conv.last_text, f"last message lacks {s!r}; it was:\n{conv.last_text[:2000]}")
    for s in expect.get("last_not_contains", []):
        need(s not in conv.last_text, f"last message must not contain {s!r}")
    raw = x.body.decode("utf-8", errors="replace")
    for s in expect.get("body_contains", []):
        need(s in raw, f"request body lacks {s!r}")
    for s in expect.get("body_lacks", []):
        need(s not in raw, f"request body must not contain {s!r}")
    for key in expect.get("keys_absent", []):
        need(key not in x.request, f"request body must not have the key {key!r}")
    if "tool_results" in expect:
        want_results = expect["tool_results"]
        got = conv.last_results
        need(
            len(got) == len(want_results), f"{len(got)} tool results, expected {len(want_results)}"
        )
        for i, (w, g) in enumerate(zip(want_results, got, strict=False)):
            if "is_error" in w:
                need(g.is_error == w["is_error"], f"tool result {i}: error={g.is_error}")
            for s in w.get("contains", []):
                need(s in g.text, f"tool result {i} lacks {s!r}; it was:\n{g.text[:2000]}")
    if "thinking" in expect:
        need(
            conv.thinking == expect["thinking"],
            f"thinking sent: {conv.thinking!r}, expected {expect['thinking']!r}",
        )
    if expect.get("tool_choice") == "auto":
        choice = conv.tool_choice  # Converse {"any": {}} / {"tool": …}; Anthropic {"type": …}
        forced = isinstance(choice, dict) and (
            "any" in choice or "tool" in choice or choice.get("type") in ("any", "tool")
        )
        need(not forced, f"a forced tool choice was sent: {choice!r}")
    for n in expect.get("replays_thinking_of", []):
        problems.extend(_replayed(n, turns or [], x))
    return problems


# --- driving run_agent from a fixture (tests, fixture authoring, bench) -------------------

# The model of the recordings that name none (recorded with Claude Sonnet 4.5, still allowed).
DEFAULT_MODEL_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


@dataclass
class Played:
    """The result of :func:`play`: the double, each run, and the (still running) session."""

    replay: BedrockReplay
    runs: list[Any]
    session_id: str


def play(
    fixture: str | dict[str, Any],
    *,
    loop: str,
    sandbox: Any,
    bedrock: Any,
    registry: Any = None,
    check: bool = True,
    **request: Any,
) -> Played:
    """Run the fixture's ``calls`` through ``run_agent`` in one new sandbox session.

    Each call is one ``run_agent`` turn sharing the session and the history returned by
    the previous one, as the API layer does. ``request`` overrides request fields for
    every call. The caller stops the session (``sandbox.stop_session(played.session_id)``)
    after looking inside it. ``check=False`` is for authoring a recording only: unmet
    expectations are then kept in ``replay.failures`` instead of failing the call.
    """
    from code_exec.agent import AgentDeps, run_agent
    from code_exec.config import RuntimeConfig
    from code_exec.models import AgentRequest

    fixture = fixture if isinstance(fixture, dict) else load_fixture(fixture)
    model_id = fixture.get("model_id", DEFAULT_MODEL_ID)
    config = RuntimeConfig(default_model_id=model_id, allowed_model_ids=(model_id,))
    replay = BedrockReplay(fixture, strict=check).attach(bedrock)
    session_id = sandbox.start_session()
    runs: list[Any] = []
    history: list[dict[str, Any]] = []
    try:
        for call in fixture["calls"]:
            fields = {k: v for k, v in call.items() if k != "turns"}
            req = AgentRequest(loop=loop, model_id=model_id, **{**fields, **request})
            deps = AgentDeps(
                sandbox=sandbox,
                sandbox_session_id=session_id,
                bedrock=bedrock,
                history=history,
                config=config,
                registry=registry,
            )
            run = run_agent(req, deps=deps)
            history = run.history
            runs.append(run)
    except BaseException:
        replay.detach()
        sandbox.stop_session(session_id)
        raise
    replay.detach()
    if check:
        replay.assert_done()
    return Played(replay, runs, session_id)


@contextmanager
def emulated_sandbox(*, start_timeout: float = 30.0) -> Iterator[Any]:
    """A ``SandboxClient`` on a code-interpreter emulator started for the block (no pytest).

    For the bench and fixture authoring; tests use the ``emulator_url`` fixture instead.
    """
    from botocore.config import Config
    from code_exec.sandbox.client import SandboxClient

    from emulators.code_interpreter.spawn import start_emulator

    with start_emulator(start_timeout=start_timeout) as emulator:
        client = emulator.client(Config(read_timeout=120, retries={"total_max_attempts": 1}))
        yield SandboxClient("aws.codeinterpreter.v1", client=client)


def bedrock_client(endpoint_url: str | None = None) -> Any:
    """A real boto3 bedrock-runtime client with dummy credentials and no retries."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
