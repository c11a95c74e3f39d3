"""A recorded turn's ``expect`` block: what must be in the request that its response answers.

Expectation keys (all optional):

``operation``            "InvokeModel" | "Converse" (their streamed variants match too)
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
"""

from __future__ import annotations

import json
from typing import Any

from devtools.bedrock_replay.wire import Exchange, family, response_content

__all__ = ["check_expectations"]


def check_expectations(
    expect: dict[str, Any], x: Exchange, turns: list[dict[str, Any]] | None = None
) -> list[str]:
    """Problems with the request against the turn's expectations (empty when all hold).

    ``turns`` are the recording's turns, for ``replays_thinking_of``.
    """
    problems: list[str] = []
    conv = x.conversation

    def need(ok: bool, what: str) -> None:
        if not ok:
            problems.append(what)

    if "operation" in expect:
        need(
            family(x.operation) == expect["operation"],
            f"operation {x.operation} != {expect['operation']}",
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
        # a count mismatch is reported just above with the others; compare what pairs up
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


def _is_thinking(block: dict[str, Any]) -> bool:
    return block.get("type") in ("thinking", "redacted_thinking") or "reasoningContent" in block


def _canon(block: dict[str, Any]) -> str:
    return json.dumps(block, sort_keys=True, ensure_ascii=False)


def _replayed(n: int, turns: list[dict[str, Any]], x: Exchange) -> list[str]:
    """Problems with how this request sends back turn ``n``'s assistant message."""
    if not 1 <= n <= len(turns):
        return [f"replays_thinking_of: turn {n} is not an earlier turn of this conversation"]
    got = response_content(x.operation, turns[n - 1]["response"].get("body") or {})
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
