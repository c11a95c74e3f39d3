"""Context editing (``context_management.edits``), applied here to the client's history before
the turn converts it for the model.

Anthropic applies these edits server-side, before the prompt reaches Claude
(https://platform.claude.com/docs/en/build-with-claude/context-editing). Bedrock documents
``context_management`` on ``InvokeModel`` only for compaction, so the two editing strategies
are done here, on the history exactly as the client sent it, and reported in the response's
``context_management.applied_edits`` (only edits that cleared something are listed):

* ``clear_thinking_20251015``: ``thinking`` and ``redacted_thinking`` blocks are removed from
  every assistant message but the last ``keep.value`` that hold any (``keep`` defaults to
  ``{"type": "thinking_turns", "value": 1}``; ``"all"`` or ``{"type": "all"}`` keeps them all).
  It runs first, as Anthropic requires it to be listed first.
* ``clear_tool_uses_20250919``: once the prompt exceeds ``trigger`` (default 100,000 input
  tokens; or a number of tool uses), the results of every tool use but the last ``keep.value``
  (default 3) are replaced by :data:`PLACEHOLDER`, oldest first, except the tools named in
  ``exclude_tools``; ``clear_tool_inputs`` (true, or a list of tool names) also empties those
  uses' inputs; with ``clear_at_least``, nothing is cleared unless that many input tokens
  would be. Only the client's own tool uses are cleared (not code execution results, not calls
  made from code, whose results go to the code).

Input tokens are estimated here (:func:`estimate_tokens`, 4 characters a token), not counted
by the model: a trigger in input tokens, and ``cleared_input_tokens``, are that estimate.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from code_exec.anthropic import wire
from code_exec.exceptions import RequestValidationError

__all__ = ["PLACEHOLDER", "Edited", "apply_edits", "estimate_tokens", "parse_edits"]

logger = logging.getLogger(__name__)

PLACEHOLDER = "[This tool result was cleared by context editing to save context.]"
_DEFAULT_TRIGGER_TOKENS = 100_000
_DEFAULT_KEEP_TOOL_USES = 3
_DEFAULT_KEEP_THINKING_TURNS = 1
_FIELD = "context_management"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _InputTokens(_Strict):
    type: Literal["input_tokens"]
    value: int = Field(ge=0)


class _ToolUses(_Strict):
    type: Literal["tool_uses"]
    value: int = Field(ge=0)


class _ThinkingTurns(_Strict):
    type: Literal["thinking_turns"]
    value: int = Field(ge=1)


class _AllTurns(_Strict):
    type: Literal["all"]


class ClearToolUses(_Strict):
    type: Literal["clear_tool_uses_20250919"]
    trigger: Annotated[_InputTokens | _ToolUses, Field(discriminator="type")] | None = None
    keep: _ToolUses | None = None
    clear_at_least: _InputTokens | None = None
    exclude_tools: list[str] | None = None
    clear_tool_inputs: bool | list[str] | None = None


class ClearThinking(_Strict):
    type: Literal["clear_thinking_20251015"]
    keep: (
        Annotated[_ThinkingTurns | _AllTurns, Field(discriminator="type")] | Literal["all"] | None
    ) = None


class _Compact(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["compact_20260112"]


Edit = Annotated[ClearToolUses | ClearThinking | _Compact, Field(discriminator="type")]


class _Config(_Strict):
    edits: list[Edit] = Field(default_factory=list, max_length=10)


_CONFIG = TypeAdapter(_Config)


def _invalid(error: PydanticValidationError) -> RequestValidationError:
    from code_exec.api.errors import validation_error  # rendering lives with the API's errors

    errors = [{**e, "loc": ("body", _FIELD, *e["loc"])} for e in error.errors()]
    return validation_error(errors)


def parse_edits(config: dict[str, Any] | None) -> list[ClearToolUses | ClearThinking]:
    """The request's edits, checked as Anthropic checks them.

    Raises:
        RequestValidationError: naming ``context_management...`` (400).
    """
    if config is None:
        return []
    try:
        edits = _CONFIG.validate_python(config).edits
    except PydanticValidationError as e:
        raise _invalid(e) from e
    out: list[ClearToolUses | ClearThinking] = []
    for i, edit in enumerate(edits):
        where = f"{_FIELD}.edits.{i}"
        if isinstance(edit, _Compact):
            raise RequestValidationError(
                "compact_20260112 is not supported on this deployment (compaction is not "
                "available here; clear_tool_uses_20250919 and clear_thinking_20251015 are)",
                field=f"{where}.type",
            )
        if isinstance(edit, ClearThinking) and i != 0:
            raise RequestValidationError(
                "clear_thinking_20251015 must be the first edit in context_management.edits",
                field=f"{where}.type",
            )
        if any(type(e) is type(edit) for e in out):
            raise RequestValidationError(f"{edit.type} may be listed only once", field=where)
        out.append(edit)
    return out


def estimate_tokens(value: Any) -> int:
    """A token estimate of a JSON value: its length in characters over 4, rounded up."""
    if isinstance(value, BaseModel):
        value = value.model_dump(exclude_none=True)
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return -(-len(text) // 4)


@dataclass(frozen=True)
class Edited:
    """The history after the edits, and the ``applied_edits`` to report."""

    messages: list[wire.Message]
    applied: list[dict[str, Any]]


def apply_edits(request: wire.MessagesRequest) -> Edited:
    """Apply the request's context edits to its messages (a new list; the request is kept).

    Raises:
        RequestValidationError: the edits are not valid (400).
    """
    edits = parse_edits(request.context_management)
    if not edits:
        return Edited(list(request.messages), [])
    messages = [m.model_copy(update={"content": m.blocks()}) for m in request.messages]
    applied: list[dict[str, Any]] = []
    for edit in edits:
        if isinstance(edit, ClearThinking):
            outcome = _clear_thinking(messages, edit)
        else:
            outcome = _clear_tool_uses(request, messages, edit)
        if outcome is not None:
            messages, report = outcome
            applied.append(report)
    if applied:
        logger.info("context edits applied: %s", applied)
    return Edited(messages, applied)


def _clear_thinking(
    messages: list[wire.Message], edit: ClearThinking
) -> tuple[list[wire.Message], dict[str, Any]] | None:
    keep = edit.keep
    if keep == "all" or isinstance(keep, _AllTurns):
        return None
    n = keep.value if isinstance(keep, _ThinkingTurns) else _DEFAULT_KEEP_THINKING_TURNS
    thinking = (wire.ThinkingBlock, wire.RedactedThinkingBlock)
    turns = [
        i
        for i, m in enumerate(messages)
        if m.role == "assistant" and any(isinstance(b, thinking) for b in m.blocks())
    ]
    cleared = turns[: max(0, len(turns) - n)]
    if not cleared:
        return None
    out = list(messages)
    tokens = 0
    for i in cleared:
        blocks = messages[i].blocks()
        tokens += sum(estimate_tokens(b) for b in blocks if isinstance(b, thinking))
        kept = [b for b in blocks if not isinstance(b, thinking)]
        out[i] = messages[i].model_copy(update={"content": kept})
    report = {
        "type": edit.type,
        "cleared_thinking_turns": len(cleared),
        "cleared_input_tokens": tokens,
    }
    return out, report


def _prompt_tokens(request: wire.MessagesRequest, messages: list[wire.Message]) -> int:
    return (
        estimate_tokens([m.model_dump(exclude_none=True) for m in messages])
        + estimate_tokens(request.system or "")
        + estimate_tokens(request.tools or [])
    )


def _clear_tool_uses(
    request: wire.MessagesRequest, messages: list[wire.Message], edit: ClearToolUses
) -> tuple[list[wire.Message], dict[str, Any]] | None:
    uses: list[wire.ToolUseBlock] = [
        b
        for m in messages
        if m.role == "assistant"
        for b in m.blocks()
        if isinstance(b, wire.ToolUseBlock) and (b.caller is None or b.caller.type == "direct")
    ]
    trigger = edit.trigger or _InputTokens(type="input_tokens", value=_DEFAULT_TRIGGER_TOKENS)
    size = len(uses) if trigger.type == "tool_uses" else _prompt_tokens(request, messages)
    if size <= trigger.value:
        return None
    keep = edit.keep.value if edit.keep is not None else _DEFAULT_KEEP_TOOL_USES
    excluded = set(edit.exclude_tools or [])
    candidates = [u for u in uses[: max(0, len(uses) - keep)] if u.name not in excluded]
    inputs = edit.clear_tool_inputs
    clear_input = {
        u.id
        for u in candidates
        if inputs is True or (isinstance(inputs, list) and u.name in inputs)
    }
    ids = {u.id for u in candidates}
    out: list[wire.Message] = []
    before = after = 0
    cleared: set[str] = set()
    for m in messages:
        blocks: list[Any] = []
        for b in m.blocks():
            new = b
            if isinstance(b, wire.ToolResultBlock) and b.tool_use_id in ids:
                new = b.model_copy(update={"content": PLACEHOLDER, "is_error": None})
                cleared.add(b.tool_use_id)
            elif isinstance(b, wire.ToolUseBlock) and b.id in clear_input and b.input:
                new = b.model_copy(update={"input": {}})
            if new is not b:
                before, after = before + estimate_tokens(b), after + estimate_tokens(new)
            blocks.append(new)
        out.append(m.model_copy(update={"content": blocks}))
    tokens = max(0, before - after)
    least = edit.clear_at_least.value if edit.clear_at_least is not None else 0
    if not cleared or tokens < least:
        return None
    report = {
        "type": edit.type,
        "cleared_tool_uses": len(cleared),
        "cleared_input_tokens": tokens,
    }
    return out, report
