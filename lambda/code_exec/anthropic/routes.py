"""The buffered ``/v1/*`` routes: Models, Files (and Skills), as the Anthropic SDK calls them.

They are registered on the API's one resolver (:func:`register`); the resolver's error handler
answers errors on these paths in Anthropic's envelope (:mod:`code_exec.anthropic.errors`).
``POST /v1/messages`` is served by the streaming function
(:mod:`code_exec.anthropic.create_message`).
The caller's identity is the API key owner the Lambda authorizer put in the request context
(:func:`owner_of`); ``?beta=true`` (the SDK's beta client) is accepted and changes nothing.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import inspect
import json
import re
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from code_exec.anthropic.files import AnthropicFiles, Upload, metadata
from code_exec.anthropic.ids import request_id
from code_exec.anthropic.model_catalog import list_models, model_info
from code_exec.anthropic.surface import DROPPED_HEADER, split_betas
from code_exec.anthropic.wire import CountTokensRequest
from code_exec.disposition import content_disposition
from code_exec.exceptions import AuthenticationError, RequestValidationError

__all__ = [
    "PREFIX",
    "binary_route",
    "error_responses",
    "form_parts",
    "header_of",
    "json_response",
    "list_limit",
    "owner_of",
    "register",
    "request_id_of",
]

PREFIX = "/v1/"
_FILE_ID = r"^file_[A-Za-z0-9]{1,64}$"
_PAGE = r"^page_file_[A-Za-z0-9]{1,64}$"  # GET /v1/files' next_page: the last id of a page


def _raw(event: Any) -> Mapping[str, Any]:
    """The proxy event, from Powertools' event object or as it came."""
    raw: Mapping[str, Any] = getattr(event, "raw_event", event)
    return raw


def header_of(event: Any, name: str) -> str | None:
    """A request header (``name`` in lower case)."""
    for k, v in (_raw(event).get("headers") or {}).items():
        if k.lower() == name:
            return str(v)
    return None


def request_id_of(event: Any) -> str:
    """The id of a request (API Gateway's request id)."""
    return request_id((_raw(event).get("requestContext") or {}).get("requestId"))


def owner_of(event: Any) -> str:
    """The API key owner the authorizer found (401 when the request did not pass one)."""
    context = (_raw(event).get("requestContext") or {}).get("authorizer") or {}
    owner = context.get("owner")
    if not owner:
        raise AuthenticationError("invalid x-api-key")
    return str(owner)


def json_response(body: dict[str, Any], rid: str, status: int = 200) -> Response[str]:
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(body),
        headers={"request-id": rid},
    )


def list_limit(query: Mapping[str, str]) -> int:
    """A list's ``limit`` (1-1000, default 20), as Anthropic's lists take it."""
    raw = query.get("limit") or "20"
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise RequestValidationError("limit must be an integer from 1 to 1000", field="limit")
    return int(raw)


def form_parts(event: Any, field: str) -> list[EmailMessage]:
    """The parts of a ``multipart/form-data`` body (400 naming ``field`` for another type)."""
    ctype = header_of(event, "content-type") or ""
    if not ctype.lower().startswith("multipart/form-data"):
        raise RequestValidationError(f"send the {field} as multipart/form-data", field=field)
    raw = _raw(event).get("body") or ""
    if _raw(event).get("isBase64Encoded"):
        data = base64.b64decode(raw)
    else:
        data = raw.encode("utf-8", errors="surrogateescape")
    head = f"Content-Type: {ctype}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + data)
    return [p for p in parsed.iter_parts() if isinstance(p, EmailMessage)]


def _upload(event: Any) -> Upload:
    """The ``file`` part of a ``multipart/form-data`` body (what the SDK's upload sends)."""
    for part in form_parts(event, "file"):
        if part.get_param("name", header="content-disposition") == "file":
            payload = part.get_payload(decode=True)
            return Upload(
                filename=part.get_filename() or "",
                mime_type=part.get_content_type() if part.get("content-type") else "",
                data=payload if isinstance(payload, bytes) else b"",
            )
    raise RequestValidationError("the form has no 'file' part", field="file")


class _Routes:
    def __init__(self, app: APIGatewayRestResolver, services: Any) -> None:
        self.app, self.s = app, services
        self.files = AnthropicFiles(services)

    # --- models --------------------------------------------------------------------------

    def models(self) -> Response[str]:
        """The model names this deployment answers to."""
        event = self.app.current_event
        query = event.query_string_parameters or {}
        try:
            limit = max(1, min(1000, int(query.get("limit") or 20)))
        except ValueError as e:
            raise RequestValidationError("limit must be an integer", field="limit") from e
        page = list_models(
            self.s.config,
            limit=limit,
            after_id=query.get("after_id"),
            before_id=query.get("before_id"),
        )
        return json_response(page, request_id_of(event))

    def model(self, model_id: Annotated[str, Path()]) -> Response[str]:
        """One model name (404 when this deployment does not answer to it)."""
        event = self.app.current_event
        return json_response(model_info(self.s.config, model_id), request_id_of(event))

    # --- token counting ------------------------------------------------------------------

    def count(self, body: Annotated[CountTokensRequest, Body()]) -> Response[str]:
        """Count the input tokens of a Messages request as the model would receive it
        (the stand-in tools and prompts this deployment adds included), with Bedrock's
        ``CountTokens``."""
        from code_exec.anthropic.count_tokens import count_tokens  # the /v1 turn's modules

        event = self.app.current_event
        beta = header_of(event, "anthropic-beta")
        answer = count_tokens(self.s, body, owner=owner_of(event), beta_header=beta)
        response = json_response(answer, request_id_of(event))
        dropped = split_betas(beta).dropped
        if dropped:
            response.headers[DROPPED_HEADER] = ",".join(dropped)
        return response

    # --- files ---------------------------------------------------------------------------

    def upload(self) -> Response[str]:
        """Upload a file (multipart ``file``) for code execution (``container_upload``)."""
        event = self.app.current_event
        record = self.files.upload(owner_of(event), _upload(event))
        return json_response(metadata(record), request_id_of(event))

    def list_files(self) -> Response[str]:
        """The caller's files, newest first, a page at a time (``limit`` 1-1000, default
        20). Both ways Anthropic's SDKs page: ``after_id`` / ``before_id`` with ``has_more``,
        ``first_id``, ``last_id``; and the opaque ``page`` cursor a response's ``next_page``
        gives (what the pinned SDK's ``client.beta.files.list`` follows)."""
        event = self.app.current_event
        query = event.query_string_parameters or {}
        cursors = {k: query.get(k) or None for k in ("after_id", "before_id", "page")}
        for name, value in cursors.items():
            pattern = _PAGE if name == "page" else _FILE_ID
            if value is not None and not re.match(pattern, value):
                raise RequestValidationError(f"{name} is not a valid cursor", field=name)
        if sum(v is not None for v in cursors.values()) > 1:
            raise RequestValidationError(
                "give one of after_id, before_id or page", field="after_id"
            )
        page = cursors.pop("page")
        if page is not None:
            cursors["after_id"] = page.removeprefix("page_")
        listed = self.files.list_files(owner_of(event), limit=list_limit(query), **cursors)
        more_after = listed["has_more"] or cursors["before_id"] is not None
        listed["next_page"] = f"page_{listed['last_id']}" if more_after and listed["data"] else None
        return json_response(listed, request_id_of(event))

    def file(self, file_id: Annotated[str, Path(pattern=_FILE_ID)]) -> Response[str]:
        """A file's metadata."""
        event = self.app.current_event
        return json_response(
            metadata(self.files.get(owner_of(event), file_id)), request_id_of(event)
        )

    def content(self, file_id: Annotated[str, Path(pattern=_FILE_ID)]) -> Response[bytes]:
        """A file made by code execution (uploaded files cannot be downloaded)."""
        event = self.app.current_event
        record, data = self.files.content(owner_of(event), file_id)
        return Response(
            status_code=200,
            content_type=record.mime_type,
            body=data,
            headers={
                "request-id": request_id_of(event),
                "content-disposition": content_disposition(record.filename),
            },
        )

    def delete_file(self, file_id: Annotated[str, Path(pattern=_FILE_ID)]) -> Response[str]:
        """Forget a file (its bytes expire with the bucket's lifecycle)."""
        event = self.app.current_event
        self.files.delete(owner_of(event), file_id)
        return json_response({"id": file_id, "type": "file_deleted"}, request_id_of(event))


def binary_route(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with its return annotation hidden from Powertools, which would otherwise serialize
    the body through pydantic as JSON text (a binary file cannot pass: it is not UTF-8)."""

    def route(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    signature = inspect.signature(fn, eval_str=True)  # in fn's module, not this one
    route.__signature__ = signature.replace(  # type: ignore[attr-defined]
        return_annotation=inspect.Signature.empty
    )
    route.__name__, route.__doc__ = fn.__name__, fn.__doc__
    return route


def error_responses(*errors: int) -> Any:
    out: dict[int, dict[str, Any]] = {
        200: {"description": "success", "content": {"application/json": {"schema": {}}}}
    }
    for status in errors:
        out[status] = {"description": "Anthropic error envelope"}
    return out


def register(app: APIGatewayRestResolver, services: Any) -> None:
    """Add the buffered ``/v1/*`` routes to ``app`` (Skills': :mod:`.skills_routes`)."""
    r = _Routes(app, services)
    tags = ["anthropic"]
    app.get("/v1/models", summary="Models", responses=error_responses(401), tags=tags)(r.models)
    app.get(
        "/v1/models/<model_id>", summary="One model", responses=error_responses(401, 404), tags=tags
    )(r.model)
    app.post(
        "/v1/messages/count_tokens",
        summary="Count a Messages request's input tokens",
        responses=error_responses(400, 401, 404, 429, 529),
        tags=tags,
    )(r.count)
    app.post(
        "/v1/files", summary="Upload a file", responses=error_responses(400, 401, 413), tags=tags
    )(r.upload)
    app.get("/v1/files", summary="The caller's files", responses=error_responses(401), tags=tags)(
        r.list_files
    )
    app.get(
        "/v1/files/<file_id>",
        summary="A file's metadata",
        responses=error_responses(401, 404),
        tags=tags,
    )(r.file)
    app.get(
        "/v1/files/<file_id>/content",
        summary="Download a file made by code execution",
        responses=error_responses(400, 401, 404),
        tags=tags,
    )(binary_route(r.content))
    app.delete(
        "/v1/files/<file_id>",
        summary="Delete a file",
        responses=error_responses(401, 404),
        tags=tags,
    )(r.delete_file)
