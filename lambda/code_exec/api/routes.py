"""The REST routes: each validates its body, calls one use case, and returns a model.

Routes raise :mod:`code_exec.exceptions`; ONE exception handler
(:func:`code_exec.api.errors.error_response`) turns every error — ours, Powertools'
request validation, unknown routes, anything unexpected — into
``{"error": {"code", "message", "field"}}`` with the error's HTTP status (Anthropic's envelope
on the ``/v1/*`` routes, :mod:`code_exec.anthropic.routes`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path
from pydantic import BaseModel

from code_exec.anthropic.routes import register as register_anthropic
from code_exec.anthropic.skills_routes import register_skills
from code_exec.api.errors import ErrorBody, ErrorResponse, error_response
from code_exec.api.idempotency import HEADER, KEY_PATTERN, REPLAYED_HEADER, Outcome
from code_exec.api.resolver import JsonBodyResolver
from code_exec.api.schemas import (
    JOB_ID,
    SESSION_ID,
    DeleteSessionResponse,
    ExecuteRequest,
    ExecuteResponse,
    JobAccepted,
    JobView,
)
from code_exec.exceptions import RequestValidationError
from code_exec.jobs import Jobs
from code_exec.models import AgentRequest, AgentResult
from code_exec.operations import Operations
from code_exec.services import Services

if TYPE_CHECKING:
    from code_exec.api.idempotent_runs import Idempotency

__all__ = ["create_app"]

# The Idempotency-Key header of the routes that run something (see code_exec.api.idempotency);
# checked there, so a bad key is a 400 naming the header in our own words.
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=HEADER,
        description=(
            "Optional. A repeat of this request with the same key (same caller, route and "
            "body) within 24 hours returns the first answer without running again "
            f"(`{REPLAYED_HEADER}: true`); the same key with another body answers 422, and a "
            "repeat while the first still runs answers 409 with Retry-After. Errors are not "
            "stored: a retry after an error runs again. A failure after the code ran is not "
            "an error: the answer keeps the result and lists it in `after_run_errors`."
        ),
        json_schema_extra={"pattern": KEY_PATTERN, "maxLength": 255},
    ),
]


# Every route calls dependencies, so every route may answer the failure contract's statuses
# (docs/architecture.md, "Deadlines and the failure contract").
_DEPENDENCY_ERRORS = {
    429: "a dependency throttled past the retries the request's deadline allowed",
    502: "a dependency refused the deployment's role (AccessDenied)",
    503: "a dependency failed transiently, or the request's deadline came first",
}
_RETRY_AFTER = {
    "Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}
}


def _responses(ok: int, model: type[BaseModel], *errors: int) -> Any:
    """OpenAPI responses: the success model, then ErrorResponse for each error status and for
    the dependency failures every route may answer (429 and 503 with ``Retry-After``)."""
    out: dict[int, dict[str, Any]] = {
        ok: {"description": "success", "content": {"application/json": {"model": model}}}
    }
    for status in sorted({*errors, *_DEPENDENCY_ERRORS}):
        out[status] = {
            "description": _DEPENDENCY_ERRORS.get(status, "error"),
            "content": {"application/json": {"model": ErrorResponse}},
        }
        if status in (429, 503):
            out[status]["headers"] = _RETRY_AFTER
    return out


def _json(status: int, model: BaseModel, outcome: Outcome, **headers: str) -> Response[Any]:
    """The route's answer, marked when it is a stored one replayed."""
    if outcome.replayed:
        headers[REPLAYED_HEADER] = "true"
    return Response(
        status_code=status, content_type="application/json", body=model, headers=headers
    )


class _Routes:
    def __init__(self, ops: Operations, app: APIGatewayRestResolver) -> None:
        self.ops = ops
        self.jobs = Jobs(ops)
        self.app = app
        self.idempotency: Idempotency | None = None

    def _once(self, key: str | None, body: BaseModel, fn: Any) -> Outcome:
        """``fn()`` at most once per Idempotency-Key (:mod:`code_exec.api.idempotency`)."""
        if key is None:
            return Outcome(body=fn())
        if self.idempotency is None:  # Powertools' utility (and boto3) load with the first key
            from code_exec.api.idempotent_runs import Idempotency

            self.idempotency = Idempotency(self.ops.s)
        return self.idempotency.run(
            key,
            raw_event=self.app.current_event.raw_event,
            body=body.model_dump(mode="json"),
            context=self.app.lambda_context,
            fn=fn,
        )

    def invoke(
        self, body: Annotated[AgentRequest, Body()], idempotency_key: IdempotencyKey = None
    ) -> Response[AgentResult]:
        """Run one agent turn synchronously (wall time capped under API Gateway's 29 s)."""
        outcome = self._once(
            idempotency_key, body, lambda: self.ops.invoke(body).model_dump(mode="json")
        )
        return _json(200, AgentResult.model_validate(outcome.body), outcome)

    def submit_job(
        self, body: Annotated[AgentRequest, Body()], idempotency_key: IdempotencyKey = None
    ) -> Response[JobAccepted]:
        """Queue an agent turn on the Step Functions job machine; poll GET /jobs/{job_id}."""

        def submit() -> dict[str, Any]:
            job = self.jobs.submit_job(body)
            return JobAccepted(
                job_id=job.job_id, status=job.status, location=f"/jobs/{job.job_id}"
            ).model_dump(mode="json")

        outcome = self._once(idempotency_key, body, submit)
        accepted = JobAccepted.model_validate(outcome.body)
        return _json(202, accepted, outcome, Location=accepted.location)

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
        idempotency_key: IdempotencyKey = None,
    ) -> Response[ExecuteResponse]:
        """Run code (or a shell command) in the session's sandbox; no model involved."""
        if (body.code is None) == (body.command is None):
            raise RequestValidationError("give exactly one of code or command", field="code")

        def execute() -> dict[str, Any]:
            result, outputs, duration_ms, after_run_errors = self.ops.execute(
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
                files=outputs.files,
                files_skipped=outputs.skipped,
                after_run_errors=after_run_errors,
            ).model_dump(mode="json")

        outcome = self._once(idempotency_key, body, execute)
        return _json(200, ExecuteResponse.model_validate(outcome.body), outcome)

    def delete_session(
        self, session_id: Annotated[str, Path(pattern=SESSION_ID)]
    ) -> DeleteSessionResponse:
        """Stop the session's sandbox now and forget it (idempotent)."""
        return DeleteSessionResponse(
            session_id=session_id, stopped=self.ops.delete_session(session_id)
        )


def create_app(services: Services) -> APIGatewayRestResolver:
    """The resolver with every route, over the given services."""
    app = JsonBodyResolver(enable_validation=True)
    routes = _Routes(Operations(services), app)
    sessions, jobs = ["sessions"], ["jobs"]
    app.post(
        "/invoke",
        summary="Run one agent turn synchronously",
        responses=_responses(200, AgentResult, 400, 404, 409, 410, 413, 422, 429, 502),
    )(routes.invoke)
    app.post(
        "/jobs",
        summary="Run one agent turn asynchronously (Step Functions)",
        responses=_responses(202, JobAccepted, 400, 409, 413, 422),
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
        responses=_responses(200, ExecuteResponse, 400, 409, 410, 413, 422, 502),
        tags=sessions,
    )(routes.execute)
    app.delete(
        "/sessions/<session_id>",
        summary="Stop a session now (idempotent)",
        responses=_responses(200, DeleteSessionResponse, 400),
        tags=sessions,
    )(routes.delete_session)
    register_anthropic(app, services)
    register_skills(app, services)
    app.exception_handler(Exception)(lambda exc: error_response(exc, app.current_event))
    return app
