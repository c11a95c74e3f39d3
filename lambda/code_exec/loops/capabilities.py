"""What each Bedrock model family supports, in one table.

Every loop asks this module — and only this module — whether to add prompt-cache
points (``cache_control`` / ``cachePoint``) and whether a tool result may carry an
error ``status``. A model that is not in the table gets no cache points and no
status field, which every Converse model accepts.

Sources: the Amazon Bedrock user guide pages "Prompt caching for faster model
inference" (supported models and which sections take a checkpoint) and the
Converse ``ToolResultBlock.status`` field ("only supported by Anthropic Claude").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ModelCapabilities", "capabilities"]


@dataclass(frozen=True)
class ModelCapabilities:
    """Features of one model family that change the request we build."""

    cache_system: bool = False  # a cache point after the system prompt
    cache_tools: bool = False  # a cache point after the tool definitions
    tool_result_status: bool = False  # toolResult.status / tool_result.is_error understood

    @property
    def prompt_caching(self) -> bool:
        return self.cache_system or self.cache_tools


_CLAUDE_CACHING = ModelCapabilities(cache_system=True, cache_tools=True, tool_result_status=True)
_CLAUDE_NO_CACHING = ModelCapabilities(tool_result_status=True)
_NOVA = ModelCapabilities(cache_system=True)  # Nova caches system and messages, not tools

# (pattern searched in the model id, capabilities); first match wins.
# Inference-profile prefixes (us., eu., apac., global.) and ARNs are handled by `search`.
_TABLE: tuple[tuple[re.Pattern[str], ModelCapabilities], ...] = (
    (re.compile(r"anthropic\.claude-3-haiku"), _CLAUDE_NO_CACHING),
    (re.compile(r"anthropic\.claude-3-sonnet"), _CLAUDE_NO_CACHING),
    (re.compile(r"anthropic\.claude-3-opus"), _CLAUDE_NO_CACHING),
    (re.compile(r"anthropic\.claude-3-5-sonnet"), _CLAUDE_NO_CACHING),
    (re.compile(r"anthropic\.claude-3-5-haiku"), _CLAUDE_CACHING),
    (re.compile(r"anthropic\.claude-3-7-sonnet"), _CLAUDE_CACHING),
    (re.compile(r"anthropic\.claude-(sonnet|opus|haiku)-4"), _CLAUDE_CACHING),
    (re.compile(r"anthropic\.claude"), _CLAUDE_NO_CACHING),
    (re.compile(r"amazon\.nova-(micro|lite|pro|premier)"), _NOVA),
)

_NONE = ModelCapabilities()


def capabilities(model_id: str) -> ModelCapabilities:
    """Capabilities of ``model_id`` (a model id, inference profile id or ARN)."""
    for pattern, caps in _TABLE:
        if pattern.search(model_id):
            return caps
    return _NONE
