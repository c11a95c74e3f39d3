"""Request and response bodies of the REST routes (the agent's own models are in
:mod:`code_exec.models`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from code_exec.api.errors import ErrorBody
from code_exec.models import AfterRunError, AgentResult, InputFile, OutputFile, SkippedFile

__all__ = [
    "JOB_ID",
    "SESSION_ID",
    "DeleteSessionResponse",
    "ExecuteRequest",
    "ExecuteResponse",
    "JobAccepted",
    "JobView",
    "exactly_one",
]

SESSION_ID = r"^[A-Za-z0-9_\-]{1,64}$"
JOB_ID = r"^[A-Za-z0-9_\-]{1,80}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def exactly_one(*fields: str) -> dict[str, Any]:
    """A schema stating that exactly one of ``fields`` is given (as a string): the check the
    handler makes, written where a client's generator reads it."""
    return {
        "oneOf": [{"required": [name], "properties": {name: {"type": "string"}}} for name in fields]
    }


class ExecuteRequest(_Strict):
    """Run code or a shell command in a session's sandbox directly (no model)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=exactly_one("code", "command"))

    code: str | None = Field(default=None, max_length=1_000_000)
    command: str | None = Field(default=None, max_length=100_000)
    language: Literal["python", "javascript", "typescript"] = "python"
    clear_context: StrictBool = False  # JSON true/false only, as the schema says
    files: list[InputFile] = Field(default_factory=list, max_length=20)


class ExecuteResponse(BaseModel):
    session_id: str
    stdout: str
    stderr: str
    exit_code: int | None
    is_error: bool
    execution_time: float | None = None
    duration_ms: float
    files: list[OutputFile] = Field(default_factory=list)
    files_skipped: list[SkippedFile] = Field(default_factory=list)  # left in outputs/, and why
    after_run_errors: list[AfterRunError] = Field(default_factory=list)


class DeleteSessionResponse(BaseModel):
    session_id: str
    stopped: bool  # False when no such session existed (DELETE is idempotent)


class JobAccepted(BaseModel):
    job_id: str
    status: str
    location: str


class JobView(BaseModel):
    job_id: str
    status: Literal["QUEUED", "RUNNING", "SUCCEEDED", "FAILED"]
    session_id: str | None = None
    created_at: float
    updated_at: float
    result: AgentResult | None = None
    error: ErrorBody | None = None
