"""One model call: the request's own fields plus the conversation, as an InvokeModel body,
sent with ``InvokeModelWithResponseStream`` through
:func:`~code_exec.loops.model_stream.anthropic_events`, as the ``messages`` loop streams.

Bedrock's Anthropic body is Anthropic's Messages body with ``anthropic_version:
bedrock-2023-05-31`` instead of ``model``, and betas in ``anthropic_beta`` instead of a
header. What Bedrock does not know never reaches it: the code execution tool (its stand-ins
are sent instead), Anthropic-only betas (code execution, files, PTC), and the fields that
describe Anthropic's own accounting (``metadata``, ``service_tier``, ``container``, ...).

Every call streams, whether the client asked for a stream or not: each chunk Bedrock sends
is one Anthropic Messages stream event, which a streamed response forwards as it arrives and
a whole response adds up (:class:`~code_exec.loops.model_stream.AnthropicReader`). The
function serving ``/v1/messages`` is therefore allowed ``bedrock:InvokeModelWithResponseStream``
and nothing else on the models.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from code_exec.anthropic.tools import ToolPlan
from code_exec.anthropic.wire import MessagesRequest
from code_exec.loops.messages import ANTHROPIC_VERSION

__all__ = ["ANTHROPIC_VERSION", "BEDROCK_BETAS", "bedrock_betas", "request_body"]

# Betas Bedrock's Anthropic models accept; any other (code-execution-*, files-api-*,
# advanced-tool-use-*, structured-outputs-*, ...) is Anthropic's own and is dropped.
BEDROCK_BETAS = frozenset(
    {
        "computer-use-2025-01-24",
        "computer-use-2025-11-24",
        "context-1m-2025-08-07",
        "context-management-2025-06-27",
        "fine-grained-tool-streaming-2025-05-14",
        "interleaved-thinking-2025-05-14",
        "token-efficient-tools-2025-02-19",
        "tool-examples-2025-10-29",
        "tool-search-tool-2025-10-19",
    }
)
_FORWARDED = ("stop_sequences", "temperature", "top_p", "top_k", "thinking", "output_config")


def bedrock_betas(header: str | None) -> list[str]:
    """The betas of an ``anthropic-beta`` header that Bedrock is given (in order)."""
    names = [b.strip() for b in (header or "").split(",") if b.strip()]
    return [b for b in dict.fromkeys(names) if b in BEDROCK_BETAS]


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
        if value is not None:
            body[name] = value
    betas = list(betas)
    if betas:
        body["anthropic_beta"] = betas
    return body
