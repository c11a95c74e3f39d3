"""One model call: the request's own fields plus the conversation, as an InvokeModel body,
sent with ``InvokeModelWithResponseStream`` through
:func:`~code_exec.loops.model_deltas.anthropic_events`, as the ``messages`` loop streams.

Bedrock's Anthropic body is Anthropic's Messages body with ``anthropic_version:
bedrock-2023-05-31`` instead of ``model``, and betas in ``anthropic_beta`` instead of a
header. What Bedrock does not know never reaches it: the code execution tool (its stand-ins
are sent instead), Anthropic-only betas (code execution, files, PTC), and the fields that
describe Anthropic's own accounting (``metadata``, ``service_tier``, ``container``, ...).

Every call streams, whether the client asked for a stream or not: each chunk Bedrock sends
is one Anthropic Messages stream event, which a streamed response forwards as it arrives and
a whole response adds up (:class:`~code_exec.loops.model_deltas.AnthropicReader`). The
function serving ``/v1/messages`` is therefore allowed ``bedrock:InvokeModelWithResponseStream``
and nothing else on the models.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from code_exec.anthropic.surface import BETAS, split_betas
from code_exec.anthropic.tools import ToolPlan
from code_exec.anthropic.wire import MessagesRequest
from code_exec.loops.messages import ANTHROPIC_VERSION

__all__ = ["ANTHROPIC_VERSION", "BEDROCK_BETAS", "bedrock_betas", "request_body"]

# Betas Bedrock's Anthropic models accept (the request-surface table decides); any other
# (code-execution-*, files-api-*, advanced-tool-use-*, unknown ones, ...) is dropped.
BEDROCK_BETAS = frozenset(r.name for r in BETAS if r.disposition == "passed")
_FORWARDED = ("stop_sequences", "temperature", "top_p", "top_k", "thinking", "output_config")
# Fields of ``thinking`` done here, not in Bedrock's body.
_THINKING_HERE = ("display",)


def bedrock_betas(header: str | None) -> list[str]:
    """The betas of an ``anthropic-beta`` header that Bedrock is given (in order)."""
    return list(split_betas(header).passed)


def request_body(
    request: MessagesRequest,
    plan: ToolPlan,
    messages: list[dict[str, Any]],
    betas: Iterable[str] = (),
) -> dict[str, Any]:
    """The InvokeModel body for one sampling step of the turn."""
    body: dict[str, Any] = {
        "anthropic_version": ANTHROPIC_VERSION,
        "max_tokens": request.max_tokens,
        "messages": messages,
    }
    if request.system is not None:
        body["system"] = (
            request.system
            if isinstance(request.system, str)
            else [b.model_dump(exclude_none=True) for b in request.system]
        )
    tools = plan.bedrock_tools()
    if tools:
        body["tools"] = tools
    if plan.tool_choice is not None:
        body["tool_choice"] = plan.tool_choice
    for name in _FORWARDED:
        value = getattr(request, name)
        if name == "thinking" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in _THINKING_HERE}
        if value is not None:
            body[name] = value
    betas = list(betas)
    if betas:
        body["anthropic_beta"] = betas
    return body
