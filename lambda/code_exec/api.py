"""The REST API: routes, request/response models, and errors -> JSON in one place.

Routes raise :mod:`code_exec.exceptions`; ONE exception handler
(:func:`code_exec.api_errors.error_response`) turns every error — ours, Powertools'
request validation, unknown routes, anything unexpected — into
``{"error": {"code", "message", "field"}}`` with the error's HTTP status.

Bodies are JSON whatever ``Content-Type`` says (``curl -d`` sends form-encoded);
a body over :data:`MAX_BODY_BYTES` answers 413 before anything parses it.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from pydantic import BaseModel, ConfigDict, Field

from code_exec.api_errors import ErrorBody, ErrorResponse, error_response
from code_exec.exceptions import PayloadTooLargeError, RequestValidationError
from code_exec.jobs import Jobs
from code_exec.models import AgentRequest, AgentResult, InputFile, OutputFile
from code_exec.operations import Operations
from code_exec.services import Services

__all__ = [
    "MAX_BODY_BYTES",
    "DeleteSessionResponse",
    "ErrorBody",
    "ErrorResponse",
    "ExecuteRequest",
    "ExecuteResponse",
    "JobAccepted",
    "JobView",
    "MessagesRequest",
    "create_app",
    "openapi_json",
]

logger = logging.getLogger(__name__)

# Lambda's synchronous invocation payload limit is 6 MB for the whole event (headers,
# context, base64 framing); 5 MiB of body keeps the check reachable and meaningful.
MAX_BODY_BYTES = 5 * 1024 * 1024
SESSION_ID = r"^[A-Za-z0-9_\-]{1,64}$"
JOB_ID = r"^[A-Za-z0-9_\-]{1,80}$"
TITLE = "bedrock-code-execution"
VERSION = "1.0.0"


# --- models ------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExecuteRequest(_Strict):
    """Run code or a shell command in a session's sandbox directly (no model)."""

    code: str | None = Field(default=None, max_length=1_000_000)
    command: str | None = Field(default=None, max_length=100_000)
    language: Literal["python", "javascript", "typescript"] = "python"
    clear_context: bool = False
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


class MessagesRequest(BaseModel):
    """The minimum of an Anthropic Messages request (the full API lands with issue 5)."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=256)
    max_tokens: int = Field(ge=1)
    messages: list[dict[str, Any]] = Field(min_length=1)


def _responses(ok: int, model: type[BaseModel], *errors: int) -> Any:
    """OpenAPI responses: the success model, then ErrorResponse for each error status."""
    out: dict[int, dict[str, Any]] = {
        ok: {"description": "success", "content": {"application/json": {"model": model}}}
    }
    for status in errors:
        out[status] = {
            "description": "error",
            "content": {"application/json": {"model": ErrorResponse}},
        }
    return out


# --- resolver ------------------------------------------------------------------------------


def _body_size(event: dict[str, Any]) -> int:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return len(body) * 3 // 4
    return len(body.encode("utf-8")) if isinstance(body, str) else len(body)


def _declared_size(headers: dict[str, Any]) -> int:
    for k, v in headers.items():
        if k.lower() == "content-length":
            try:
                return int(v)
            except (TypeError, ValueError):
                return 0
    return 0


class _Resolver(APIGatewayRestResolver):
    """Adds the body-size limit and JSON-only bodies in front of Powertools' validation."""

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        headers = dict(event.get("headers") or {})
        if event.get("body"):
            ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
            if not str(ctype).lower().startswith("application/json"):
                headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
                headers["content-type"] = "application/json"
                mv = {
                    k: v
                    for k, v in (event.get("multiValueHeaders") or {}).items()
                    if k.lower() != "content-type"
                }
                event = {**event, "headers": headers, "multiValueHeaders": mv}
        return super().resolve(event, context)

    def _call_route(self, route: Any, route_arguments: dict[str, str]) -> Any:
        event = self.current_event.raw_event
        size = max(_body_size(event), _declared_size(event.get("headers") or {}))
        if size > MAX_BODY_BYTES:
            error: Exception = PayloadTooLargeError(
                f"request body is {size} bytes; the limit is {MAX_BODY_BYTES} bytes "
                "(upload large inputs to the files bucket and pass files[].s3_key)",
                field="body",
            )
            return self._call_exception_handler(error, route)
        problem = _unreadable_body(event)
        if problem:
            error = RequestValidationError(problem, field="body")
            return self._call_exception_handler(error, route)
        return super()._call_route(route, route_arguments)


def _unreadable_body(event: Mapping[str, Any]) -> str | None:
    """Why the body cannot be read as JSON text at all (None when it can, or is not JSON).

    Caught here because Powertools' own decoding raises plain ``binascii.Error``,
    ``UnicodeDecodeError`` or ``RecursionError``, which would otherwise answer 500.
    Ordinary JSON syntax errors are left to Powertools' validation (400 naming the body).
    """
    body = event.get("body")
    if not body or not isinstance(body, str):
        return None
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
            return "request body is flagged base64-encoded but is not base64 of UTF-8 text"
    try:
        json.loads(body)
    except RecursionError:
        return "request body is nested too deeply"
    except ValueError:
        pass
    return None


# --- routes ----------------------------------------------------------------------------------


class _Routes:
    def __init__(self, ops: Operations) -> None:
        self.ops = ops
        self.jobs = Jobs(ops)

    def invoke(self, body: Annotated[AgentRequest, Body()]) -> AgentResult:
        """Run one agent turn synchronously (wall time capped under API Gateway's 29 s)."""
        return self.ops.invoke(body)

    def submit_job(self, body: Annotated[AgentRequest, Body()]) -> Response[JobAccepted]:
        """Queue an agent turn on the Step Functions job machine; poll GET /jobs/{job_id}."""
        job = self.jobs.submit_job(body)
        accepted = JobAccepted(job_id=job.job_id, status=job.status, location=f"/jobs/{job.job_id}")
        return Response(
            status_code=202,
            content_type="application/json",
            body=accepted,
            headers={"Location": accepted.location},
        )

    def get_job(self, job_id: Annotated[str, Path(pattern=JOB_ID)]) -> JobView:
        """Status of a job, with its result once it has succeeded or its error once failed."""
        job = self.jobs.job_status(job_id)
        return JobView(
            job_id=job.job_id,
            status=job.status,  # type: ignore[arg-type]
            session_id=job.session_id,
            created_at=job.created_at,
            updated_at=job.updated_at,
            result=AgentResult.model_validate(job.result) if job.result else None,
            error=ErrorBody.model_validate(job.error) if job.error else None,
        )

    def execute(
        self,
        session_id: Annotated[str, Path(pattern=SESSION_ID)],
        body: Annotated[ExecuteRequest, Body()],
    ) -> ExecuteResponse:
        """Run code (or a shell command) in the session's sandbox; no model involved."""
        if (body.code is None) == (body.command is None):
            raise RequestValidationError("give exactly one of code or command", field="code")
        result, files, duration_ms = self.ops.execute(
            session_id,
            code=body.code,
            command=body.command,
            language=body.language,
            clear_context=body.clear_context,
            files=body.files,
        )
        return ExecuteResponse(
            session_id=session_id,
            stdout=result.stdout,
            stderr=result.stderr,
            exit_code=result.exit_code,
            is_error=not result.ok,
            execution_time=result.execution_time,
            duration_ms=round(duration_ms, 3),
            files=files,
        )

    def delete_session(
        self, session_id: Annotated[str, Path(pattern=SESSION_ID)]
    ) -> DeleteSessionResponse:
        """Stop the session's sandbox now and forget it (idempotent)."""
        return DeleteSessionResponse(
            session_id=session_id, stopped=self.ops.delete_session(session_id)
        )

    def messages(self, body: Annotated[MessagesRequest, Body()]) -> Response[ErrorResponse]:
        """Anthropic Messages API (not implemented yet: answers 501)."""
        error = ErrorBody(
            code="NotImplemented",
            message="/v1/messages is not implemented yet; use POST /invoke",
        )
        return Response(
            status_code=501,
            content_type="application/json",
            body=ErrorResponse(error=error),
        )


def create_app(services: Services) -> APIGatewayRestResolver:
    """The resolver with every route, over the given services."""
    app = _Resolver(enable_validation=True)
    routes = _Routes(Operations(services))
    sessions, jobs = ["sessions"], ["jobs"]
    app.post(
        "/invoke",
        summary="Run one agent turn synchronously",
        responses=_responses(200, AgentResult, 400, 404, 409, 410, 413, 429, 502),
    )(routes.invoke)
    app.post(
        "/jobs",
        summary="Run one agent turn asynchronously (Step Functions)",
        responses=_responses(202, JobAccepted, 400, 413),
        tags=jobs,
    )(routes.submit_job)
    app.get(
        "/jobs/<job_id>",
        summary="Status and result of a job",
        responses=_responses(200, JobView, 400, 404),
        tags=jobs,
    )(routes.get_job)
    app.post(
        "/sessions/<session_id>/execute",
        summary="Run code or a command in a session, no model",
        responses=_responses(200, ExecuteResponse, 400, 409, 410, 413, 502),
        tags=sessions,
    )(routes.execute)
    app.delete(
        "/sessions/<session_id>",
        summary="Stop a session now (idempotent)",
        responses=_responses(200, DeleteSessionResponse, 400),
        tags=sessions,
    )(routes.delete_session)
    app.post(
        "/v1/messages",
        summary="Anthropic Messages API (not implemented yet)",
        responses=_responses(501, ErrorResponse, 400, 413),
    )(routes.messages)
    app.exception_handler(Exception)(error_response)
    return app


def openapi_json(app: APIGatewayRestResolver) -> str:
    """The OpenAPI document, as committed in docs/openapi.json."""
    doc = json.loads(
        app.get_openapi_json_schema(
            title=TITLE,
            version=VERSION,
            description=(
                "Code execution and programmatic tool calling for Amazon Bedrock. "
                'Every error is {"error": {"code", "message", "field"}}.'
            ),
        )
    )
    # Validation errors answer 400 ErrorResponse here, not Powertools' default 422 shape.
    for ops in doc.get("paths", {}).values():
        for op in ops.values():
            op.get("responses", {}).pop("422", None)
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        doc.get("components", {}).get("schemas", {}).pop(name, None)
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"
