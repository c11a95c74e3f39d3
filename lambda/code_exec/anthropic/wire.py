"""The body of ``POST /v1/messages``, validated as strictly as Anthropic's API validates it.

Anthropic answers an unknown field with 400 ``invalid_request_error`` ("Extra inputs are not
permitted"), so every model here forbids extras, except the blocks this endpoint only passes
on to Bedrock unchanged (images, documents, search results), which Bedrock validates itself.
Blocks the endpoint interprets (text, tool use and results, server tool blocks, container
uploads) are typed: those are the shapes it reads, and the SDK echoes back exactly what the
endpoint emitted in earlier responses.

Tool definitions stay dicts here and are sorted out by :mod:`code_exec.anthropic.tools`,
because their variety (custom tools, code execution versions, Anthropic-defined client tools)
is decided by ``type`` prefixes rather than a closed list.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "MAX_BLOCKS",
    "Block",
    "ContainerUploadBlock",
    "CountTokensRequest",
    "ImageBlock",
    "Message",
    "MessagesRequest",
    "RedactedThinkingBlock",
    "ServerResultBlock",
    "ServerToolUseBlock",
    "TextBlock",
    "ThinkingBlock",
    "ToolChoice",
    "ToolResultBlock",
    "ToolUseBlock",
    "WebResultBlock",
]

MAX_BLOCKS = 10_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Passed(BaseModel):
    """A block handed to Bedrock as it came (Bedrock validates what it does not know)."""

    model_config = ConfigDict(extra="allow")


class CacheControl(_Strict):
    type: Literal["ephemeral"]
    ttl: Literal["5m", "1h"] | None = None


class Caller(_Strict):
    type: Literal["direct", "code_execution_20250825", "code_execution_20260120"]
    tool_id: str | None = None


class TextBlock(_Strict):
    type: Literal["text"]
    text: str
    cache_control: CacheControl | None = None
    citations: list[dict[str, Any]] | None = None


class ImageBlock(_Passed):
    type: Literal["image"]
    source: dict[str, Any]


class DocumentBlock(_Passed):
    type: Literal["document"]
    source: dict[str, Any]


class SearchResultBlock(_Passed):
    type: Literal["search_result"]


class ThinkingBlock(_Strict):
    type: Literal["thinking"]
    thinking: str
    signature: str


class RedactedThinkingBlock(_Strict):
    type: Literal["redacted_thinking"]
    data: str


class ToolUseBlock(_Strict):
    type: Literal["tool_use"]
    id: str = Field(min_length=1, max_length=256)
    name: str = Field(min_length=1, max_length=256)
    input: dict[str, Any]
    caller: Caller | None = None
    cache_control: CacheControl | None = None


class ToolResultBlock(_Strict):
    type: Literal["tool_result"]
    tool_use_id: str = Field(min_length=1, max_length=256)
    content: str | list[dict[str, Any]] | None = None
    is_error: bool | None = None
    cache_control: CacheControl | None = None


class ServerToolUseBlock(_Strict):
    type: Literal["server_tool_use"]
    id: str = Field(min_length=1, max_length=256)
    name: str
    input: dict[str, Any]
    caller: Caller | None = None
    cache_control: CacheControl | None = None


class ServerResultBlock(_Strict):
    """A server tool's result block an earlier response carried, echoed back."""

    type: Literal[
        "code_execution_tool_result",
        "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result",
        "tool_search_tool_result",
    ]
    tool_use_id: str = Field(min_length=1, max_length=256)
    content: dict[str, Any]
    cache_control: CacheControl | None = None


class WebResultBlock(_Strict):
    """A web search or fetch result an earlier response carried, echoed back."""

    type: Literal["web_search_tool_result", "web_fetch_tool_result"]
    tool_use_id: str = Field(min_length=1, max_length=256)
    content: dict[str, Any] | list[dict[str, Any]]
    caller: Caller | None = None
    cache_control: CacheControl | None = None


class ContainerUploadBlock(_Strict):
    type: Literal["container_upload"]
    file_id: str = Field(min_length=1, max_length=256)
    cache_control: CacheControl | None = None


Block = Annotated[
    TextBlock
    | ImageBlock
    | DocumentBlock
    | SearchResultBlock
    | ThinkingBlock
    | RedactedThinkingBlock
    | ToolUseBlock
    | ToolResultBlock
    | ServerToolUseBlock
    | ServerResultBlock
    | WebResultBlock
    | ContainerUploadBlock,
    Field(discriminator="type"),
]


class Message(_Strict):
    """A message. ``role: system`` is a mid-conversation system message (Claude Code sends
    one): Bedrock's body takes ``user`` and ``assistant`` messages only, so it reaches the
    model as user text at its place (:meth:`MessagesRequest._system_messages`)."""

    role: Literal["user", "assistant", "system"]
    content: str | Annotated[list[Block], Field(max_length=MAX_BLOCKS)]
    clear_at: Literal["next_user_message", "never"] | None = None  # system messages only
    output_config: dict[str, Any] | None = None  # system messages only: this turn's

    def blocks(self) -> list[Any]:
        """The content as blocks (a string is one text block)."""
        if isinstance(self.content, str):
            return [TextBlock(type="text", text=self.content)]
        return list(self.content)


class ToolChoice(_Strict):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class ContainerParam(_Strict):
    id: str | None = None
    skills: list[dict[str, Any]] | None = None


class MessagesRequest(_Strict):
    """``POST /v1/messages`` (GA and ``?beta=true``)."""

    model: str = Field(min_length=1, max_length=256)
    max_tokens: int = Field(ge=1)
    messages: list[Message] = Field(min_length=1, max_length=MAX_BLOCKS)
    system: str | list[TextBlock] | None = None
    tools: list[dict[str, Any]] | None = Field(default=None, max_length=1000)
    tool_choice: ToolChoice | None = None
    container: str | ContainerParam | None = None
    stream: bool | None = None
    stop_sequences: list[str] | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=1.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    top_k: int | None = Field(default=None, ge=0)
    thinking: dict[str, Any] | None = None
    output_config: dict[str, Any] | None = None
    cache_control: CacheControl | None = None
    # Accepted and not used: they describe Anthropic's own accounting and routing.
    metadata: dict[str, Any] | None = None
    service_tier: str | None = None
    speed: str | None = None
    inference_geo: str | None = None
    diagnostics: dict[str, Any] | None = None
    user_profile_id: str | None = None
    workspace_id: str | None = None
    billing_policy: dict[str, Any] | None = None
    fallback_credit_token: str | dict[str, Any] | None = None
    # Applied here (code_exec.anthropic.context_edits).
    context_management: dict[str, Any] | None = None
    # Recognised, and refused with a 400 naming the field: code_exec.anthropic.surface decides
    # (code_exec.anthropic.tools.plan_tools enforces it).
    fallbacks: list[Any] | dict[str, Any] | None = None
    mcp_servers: list[dict[str, Any]] | None = None
    compaction: dict[str, Any] | None = None
    output_format: dict[str, Any] | None = None
    thread: dict[str, Any] | bool | None = None  # answered with thread_unsupported_request

    @model_validator(mode="after")
    def _system_messages(self) -> MessagesRequest:
        """Mid-conversation system messages as the model on Bedrock can see them: text at
        their place (as user text), gone once a later user message exists if ``clear_at`` is
        ``next_user_message``; the ``output_config`` of one after the last user message
        applies to this turn (over the top-level one, key by key)."""
        users = [i for i, m in enumerate(self.messages) if m.role == "user"]
        last_user = users[-1] if users else -1
        kept: list[Message] = []
        for i, m in enumerate(self.messages):
            if m.role != "system":
                if m.clear_at is not None or m.output_config is not None:
                    raise ValueError(
                        f"messages.{i}: clear_at and output_config are only permitted on "
                        "role: system messages"
                    )
                kept.append(m)
                continue
            if any(not isinstance(b, TextBlock) for b in m.blocks()):
                raise ValueError(
                    f"messages.{i}: a system message holds text blocks only here (tool "
                    "additions and removals are not supported on this deployment)"
                )
            if i > last_user and m.output_config:
                self.output_config = {**(self.output_config or {}), **m.output_config}
            if m.clear_at == "next_user_message" and i < last_user:
                continue
            kept.append(Message(role="user", content=m.content))
        self.messages = kept
        return self

    @property
    def container_id(self) -> str | None:
        """The container to reuse, from either accepted shape."""
        if isinstance(self.container, ContainerParam):
            return self.container.id
        return self.container


class CountTokensRequest(MessagesRequest):
    """``POST /v1/messages/count_tokens``: a Messages request without ``max_tokens`` (the
    InvokeModel body Bedrock counts needs one; it does not change the count)."""

    max_tokens: int = Field(default=1, ge=1)
