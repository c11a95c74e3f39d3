"""Request and result models shared by the API, the job runner and every agent loop.

Every loop (``messages``, ``converse``, ``strands``, ``claude_code``) takes an
:class:`AgentRequest` and returns an :class:`AgentResult`; nothing downstream
asks which backend produced it.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

__all__ = [
    "AfterRunError",
    "AgentRequest",
    "AgentResult",
    "CodeRun",
    "InputFile",
    "Limits",
    "LoopName",
    "ModelUsage",
    "OutputFile",
    "SkipReason",
    "SkippedFile",
    "ThinkingConfig",
    "ThinkingType",
    "ToolMode",
    "WebOptions",
]

LoopName = Literal["messages", "converse", "strands", "claude_code"]
ToolMode = Literal["ptc", "direct"]
ThinkingType = Literal["adaptive", "between_tools", "enabled", "disabled"]

MAX_PROMPT_CHARS = 200_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputFile(_Strict):
    """A file written into the sandbox before the turn: inline base64 or an S3 key."""

    # exactly one of the two (checked in code_exec.file_transfer), stated in the schema
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {"required": [name], "properties": {name: {"type": "string"}}}
                for name in ("content_base64", "s3_key")
            ]
        },
    )

    name: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9._\-/]+$")
    content_base64: str | None = Field(default=None, max_length=8_000_000)
    s3_key: str | None = Field(default=None, max_length=1024)


class Limits(_Strict):
    max_turns: int = Field(default=12, ge=1, le=50)
    max_tokens: int = Field(default=4096, ge=1, le=64_000)
    wall_time_seconds: int = Field(default=25, ge=1, le=3600)


class ThinkingConfig(_Strict):
    """Claude's thinking setting, sent to Bedrock as given (``thinking`` in the InvokeModel
    body, ``additionalModelRequestFields.thinking`` on Converse).

    ``budget_tokens`` goes with ``enabled`` only; which types a model takes is checked
    against :mod:`code_exec.loops.capabilities` before any model call.
    """

    type: ThinkingType
    budget_tokens: int | None = Field(default=None, ge=1024, le=64_000)

    def wire(self) -> dict[str, object]:
        """The ``thinking`` object as Bedrock takes it."""
        body: dict[str, object] = {"type": self.type}
        if self.budget_tokens is not None:
            body["budget_tokens"] = self.budget_tokens
        return body


_DOMAIN = r"^[A-Za-z0-9](?:[A-Za-z0-9.\-]{0,251}[A-Za-z0-9])?(?:/[^\s]{0,200})?$"


class WebOptions(_Strict):
    """Opt-in web tools for a turn: ``web_search`` / ``web_fetch``, callable from code in
    ``ptc`` mode (bridged: they run in the orchestrator, the pages stay in the sandbox and only
    what the code prints reaches the model) or model tools in ``direct`` mode. A fetch may name
    only URLs the prompt, the session's history or an earlier search or fetch gave."""

    search: StrictBool = True  # JSON true/false only, as the schema says
    fetch: StrictBool = True
    max_uses: int = Field(default=20, ge=1, le=200, description="per tool, per turn")
    allowed_domains: list[str] = Field(default_factory=list, max_length=50)
    blocked_domains: list[str] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _consistent(self) -> WebOptions:
        if not (self.search or self.fetch):
            raise ValueError("web: enable search, fetch or both (or leave web out)")
        if self.allowed_domains and self.blocked_domains:
            raise ValueError("web: allowed_domains and blocked_domains cannot both be set")
        for domain in (*self.allowed_domains, *self.blocked_domains):
            if not re.match(_DOMAIN, domain):
                raise ValueError(f"web: {domain[:80]!r} is not a domain (e.g. example.com)")
        return self


class AgentRequest(_Strict):
    """One agent turn."""

    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    loop: LoopName = "messages"
    model_id: str | None = Field(default=None, max_length=256)
    tools: list[str] = Field(default_factory=list, max_length=64)
    mode: ToolMode = "ptc"
    session_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    system: str | None = Field(default=None, max_length=50_000)
    files: list[InputFile] = Field(default_factory=list, max_length=20)
    # Custom skills uploaded with /v1/skills, as container.skills names them ({type: custom,
    # skill_id, version}); skills_owner is the API key owner whose skills they are.
    skills: list[dict[str, Any]] = Field(default_factory=list, max_length=8)
    skills_owner: str | None = Field(default=None, min_length=1, max_length=256)
    limits: Limits = Field(default_factory=Limits)
    prompt_caching: StrictBool = True  # JSON true/false only, as the schema says
    thinking: ThinkingConfig | None = None  # None: nothing is sent, the model's default applies
    web: WebOptions | None = None  # None: no web tools


class CodeRun(BaseModel):
    """One execution in the sandbox, as the model (or the caller) saw it."""

    code: str
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    is_error: bool = False
    duration_ms: float = 0.0


class OutputFile(BaseModel):
    """A file the code produced, copied to S3 and handed out as a presigned URL."""

    name: str
    size: int
    media_type: str
    url: str
    s3_key: str


SkipReason = Literal[
    "file_too_large",
    "total_too_large",
    "too_many_files",
    "name_too_long",
    "unreadable",
    "too_deep",
    "too_many_directories",
    "listing_truncated",
]


class SkippedFile(BaseModel):
    """A file (or, ending in ``/``, a directory) the code left in ``outputs/`` that was not
    collected, and why: the caps on sandbox output (``code_exec.outputs.OutputLimits``)."""

    name: str
    size: int | None = None
    reason: SkipReason


class AfterRunError(BaseModel):
    """A step AFTER the code ran that failed; the run's result in the same answer is complete.

    Once code has run, a failure of what follows (copying its output files, saving the
    session) is reported here instead of failing the request: an error answer would lose the
    code's result, and the client's retry would run the code again (see
    ``docs/architecture.md``, "A failure after the code ran").
    """

    step: Literal["outputs", "session"] = Field(
        description="outputs: the run's output files were not copied to S3; session: the "
        "session could not be saved (its TTL not renewed, a turn's history not kept)"
    )
    code: str = Field(description="the failure's error code (as an error answer would name it)")
    message: str
    retry_after: int | None = Field(
        default=None, description="seconds, when the failure was a throttle or an outage"
    )
    files_kept: bool | None = Field(
        default=None,
        description="step outputs: true when the files are still in the session's outputs/ "
        "and the next request on this session returns them; false when they were lost with "
        "a one-shot sandbox session",
    )


class ModelUsage(BaseModel):
    """Token usage of one model call.

    ``thinking_tokens`` is the part of ``output_tokens`` spent thinking, where Bedrock
    reports it (the InvokeModel body's ``usage.output_tokens_details.thinking_tokens``);
    None when the response has no such breakdown (Converse's usage has none).
    """

    model_id: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_write_input_tokens: int = 0
    thinking_tokens: int | None = None


class AgentResult(BaseModel):
    """What every loop returns."""

    text: str
    loop: LoopName
    model_id: str
    session_id: str | None = None
    stop_reason: str
    code_runs: list[CodeRun] = Field(default_factory=list)
    files: list[OutputFile] = Field(default_factory=list)
    files_skipped: list[SkippedFile] = Field(default_factory=list)
    usage: list[ModelUsage] = Field(default_factory=list)
    duration_ms: float = 0.0
    after_run_errors: list[AfterRunError] = Field(default_factory=list)
