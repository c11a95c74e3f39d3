"""What each Bedrock model supports, in one table, and the Claude models this stack knows.

Every loop asks this module — and only this module — whether to add prompt-cache
points (``cache_control`` / ``cachePoint``), whether a tool result may carry an error
``status``, which ``thinking`` settings a model takes and whether it accepts a forced
tool choice. A model that is not in the table gets no cache points and no status field,
which every Converse model accepts.

:data:`CLAUDE_MODELS` is the one list of Claude models by name: the Anthropic API model
name, the Bedrock foundation-model id (a cross-region inference profile id is one of the
``PROFILE_PREFIXES`` plus that id) and whether the Bedrock user guide lists the id. Anything
that maps Anthropic names to Bedrock ids reads it from here.

Sources (Amazon Bedrock user guide unless noted): "Prompt caching for faster model
inference" (which sections take a checkpoint); the Converse ``ToolResultBlock.status``
field ("only supported by Anthropic Claude"); "Extended thinking" (models taking
``thinking.type: "enabled"`` with ``budget_tokens``; thinking is not compatible with a
forced tool choice); "Adaptive thinking" (models taking ``thinking.type: "adaptive"``, and
those that take nothing else). Claude Sonnet 5.5 is not in the user guide yet: its id and
its limits (no ``disabled`` thinking, ``between_tools`` as the lowest setting, no forced
tool choice) come from Anthropic's model pages and public Bedrock integrations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "CLAUDE_MODELS",
    "PROFILE_PREFIXES",
    "THINKING_TYPES",
    "ClaudeModel",
    "ModelCapabilities",
    "capabilities",
    "claude_model",
    "foundation_model_id",
]

# The thinking.type values a request may carry (Anthropic Messages body / Converse
# additionalModelRequestFields); which of them a model takes is in its capabilities.
THINKING_TYPES = ("adaptive", "between_tools", "enabled", "disabled")
# Prefixes of Bedrock's system-defined cross-region inference profiles.
PROFILE_PREFIXES = ("global", "us", "eu", "apac", "jp", "au", "us-gov")


@dataclass(frozen=True)
class ModelCapabilities:
    """Features of one model (family) that change the request we build or accept.

    Attributes:
        cache_system: a cache point after the system prompt.
        cache_tools: a cache point after the tool definitions.
        tool_result_status: ``toolResult.status`` / ``tool_result.is_error`` understood.
        thinking: the ``thinking.type`` values the model accepts; empty when it takes no
            ``thinking`` field at all; None when unknown (a request's setting is sent as
            asked and Bedrock decides).
        forced_tool_choice: a forced tool choice (``any`` or a named tool) is accepted.
            No loop sends one; the flag is here for callers that would.
    """

    cache_system: bool = False
    cache_tools: bool = False
    tool_result_status: bool = False
    thinking: frozenset[str] | None = frozenset()
    forced_tool_choice: bool = True

    @property
    def prompt_caching(self) -> bool:
        return self.cache_system or self.cache_tools

    @property
    def rejects_disabled_thinking(self) -> bool:
        """True when ``thinking.type: "disabled"`` is known to be refused (a 400)."""
        return self.thinking is not None and bool(self.thinking) and "disabled" not in self.thinking


def _claude(
    thinking: frozenset[str] | None, *, caching: bool = True, forced: bool = True
) -> ModelCapabilities:
    return ModelCapabilities(
        cache_system=caching,
        cache_tools=caching,
        tool_result_status=True,
        thinking=thinking,
        forced_tool_choice=forced,
    )


_BUDGET = frozenset({"enabled", "disabled"})  # extended thinking with budget_tokens only
_ADAPTIVE_AND_BUDGET = frozenset({"adaptive", "enabled", "disabled"})
_ADAPTIVE = frozenset({"adaptive", "disabled"})  # budget_tokens refused with a 400
_BETWEEN_TOOLS = frozenset({"adaptive", "between_tools"})  # thinking cannot be disabled


@dataclass(frozen=True)
class ClaudeModel:
    """One Claude model as Anthropic and Bedrock name it.

    Attributes:
        name: the model's name ("Claude Sonnet 5").
        anthropic_id: the Anthropic API model name ("claude-sonnet-5").
        bedrock_id: the Bedrock foundation-model id ("anthropic.claude-sonnet-5").
        in_user_guide: the Bedrock user guide lists ``bedrock_id`` (False: the id comes
            from Anthropic's pages and public integrations only).
        capabilities: what its requests may carry.
    """

    name: str
    anthropic_id: str
    bedrock_id: str
    in_user_guide: bool
    capabilities: ModelCapabilities

    def profile_id(self, prefix: str = "global") -> str:
        """The id of its cross-region inference profile with ``prefix`` (``global.…``)."""
        if prefix not in PROFILE_PREFIXES:
            raise ValueError(f"not an inference-profile prefix: {prefix!r}")
        return f"{prefix}.{self.bedrock_id}"


CLAUDE_MODELS: tuple[ClaudeModel, ...] = (
    ClaudeModel(
        "Claude Sonnet 5.5",
        "claude-sonnet-5-5",
        "anthropic.claude-sonnet-5-5",
        False,
        _claude(_BETWEEN_TOOLS, forced=False),
    ),
    ClaudeModel(
        "Claude Sonnet 5", "claude-sonnet-5", "anthropic.claude-sonnet-5", True, _claude(_ADAPTIVE)
    ),
    ClaudeModel(
        "Claude Opus 5", "claude-opus-5", "anthropic.claude-opus-5", True, _claude(_ADAPTIVE)
    ),
    ClaudeModel(
        "Claude Opus 4.7", "claude-opus-4-7", "anthropic.claude-opus-4-7", True, _claude(_ADAPTIVE)
    ),
    ClaudeModel(
        "Claude Opus 4.6",
        "claude-opus-4-6",
        "anthropic.claude-opus-4-6-v1",
        True,
        _claude(_ADAPTIVE_AND_BUDGET),
    ),
    ClaudeModel(
        "Claude Sonnet 4.6",
        "claude-sonnet-4-6",
        "anthropic.claude-sonnet-4-6",
        True,
        _claude(_ADAPTIVE_AND_BUDGET),
    ),
    ClaudeModel(
        "Claude Opus 4.5",
        "claude-opus-4-5-20251101",
        "anthropic.claude-opus-4-5-20251101-v1:0",
        True,
        _claude(_BUDGET),
    ),
    ClaudeModel(
        "Claude Sonnet 4.5",
        "claude-sonnet-4-5-20250929",
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        True,
        _claude(_BUDGET),
    ),
    ClaudeModel(
        "Claude Haiku 4.5",
        "claude-haiku-4-5-20251001",
        "anthropic.claude-haiku-4-5-20251001-v1:0",
        True,
        _claude(_BUDGET),
    ),
)
_BY_BEDROCK_ID = {m.bedrock_id: m for m in CLAUDE_MODELS}

_NOVA = ModelCapabilities(cache_system=True)  # Nova caches system and messages, not tools

# Families not in CLAUDE_MODELS: (pattern searched in the foundation-model id, capabilities);
# first match wins.
_FAMILIES: tuple[tuple[re.Pattern[str], ModelCapabilities], ...] = (
    (re.compile(r"anthropic\.claude-3-haiku"), _claude(frozenset(), caching=False)),
    (re.compile(r"anthropic\.claude-3-sonnet"), _claude(frozenset(), caching=False)),
    (re.compile(r"anthropic\.claude-3-opus"), _claude(frozenset(), caching=False)),
    (re.compile(r"anthropic\.claude-3-5-sonnet"), _claude(frozenset(), caching=False)),
    (re.compile(r"anthropic\.claude-3-5-haiku"), _claude(frozenset())),
    (re.compile(r"anthropic\.claude-3-7-sonnet"), _claude(_BUDGET)),
    (re.compile(r"anthropic\.claude-(sonnet|opus)-4-(1-)?20"), _claude(_BUDGET)),  # 4, 4.1
    (re.compile(r"anthropic\.claude-[a-z]+-[4-9]"), _claude(None)),  # newer: thinking unknown
    (re.compile(r"anthropic\.claude"), _claude(None, caching=False)),
    (re.compile(r"amazon\.nova-(micro|lite|pro|premier)"), _NOVA),
)

_NONE = ModelCapabilities()
_ARN = re.compile(r"^arn:[^:]+:bedrock:[^:]*:[^:]*:(foundation-model|inference-profile)/(.+)$")


def foundation_model_id(model_id: str) -> str:
    """The foundation-model id behind ``model_id`` (a model id, profile id or ARN)."""
    match = _ARN.match(model_id)
    if match:
        model_id = match.group(2)
    prefix, _, rest = model_id.partition(".")
    if prefix in PROFILE_PREFIXES and "." in rest:
        return rest
    return model_id


def claude_model(model_id: str) -> ClaudeModel | None:
    """The known Claude model ``model_id`` names (any profile prefix or ARN), or None."""
    return _BY_BEDROCK_ID.get(foundation_model_id(model_id))


def capabilities(model_id: str) -> ModelCapabilities:
    """Capabilities of ``model_id`` (a model id, inference profile id or ARN)."""
    known = claude_model(model_id)
    if known is not None:
        return known.capabilities
    foundation = foundation_model_id(model_id)
    for pattern, caps in _FAMILIES:
        if pattern.search(foundation):
            return caps
    return _NONE
