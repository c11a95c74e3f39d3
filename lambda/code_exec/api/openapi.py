"""The OpenAPI document of the REST API, as committed in ``docs/openapi.json``."""

from __future__ import annotations

import json
from typing import Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from pydantic import BaseModel, ConfigDict

__all__ = ["openapi_json"]

TITLE = "bedrock-code-execution"
VERSION = "1.0.0"


class AnthropicErrorDetail(BaseModel):
    """The ``error`` of a ``/v1/*`` error body (more keys may come, e.g. ``details``)."""

    model_config = ConfigDict(extra="allow")
    type: str
    message: str


class AnthropicErrorResponse(BaseModel):
    """Every ``/v1/*`` error body (:func:`code_exec.anthropic.errors.error_payload`)."""

    model_config = ConfigDict(extra="allow")
    type: Literal["error"]
    error: AnthropicErrorDetail
    request_id: str | None = None


def openapi_json(app: APIGatewayRestResolver) -> str:
    """The OpenAPI document, as committed in docs/openapi.json."""
    doc = json.loads(
        app.get_openapi_json_schema(
            title=TITLE,
            version=VERSION,
            description=(
                "Code execution and programmatic tool calling for Amazon Bedrock. "
                'Every error is {"error": {"code", "message", "field"}}, except on /v1/*: '
                "Anthropic's API (Messages, Files, Models), authorized by API key (x-api-key "
                'or Authorization: Bearer), whose errors are {"type": "error", "error": '
                '{"type", "message"}, "request_id"}.'
            ),
        )
    )
    # Validation errors answer 400 ErrorResponse here, not Powertools' default 422 shape.
    for ops in doc.get("paths", {}).values():
        for op in ops.values():
            op.get("responses", {}).pop("422", None)
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        doc.get("components", {}).get("schemas", {}).pop(name, None)
    doc.setdefault("paths", {})["/invoke/stream"] = {"post": _invoke_stream()}
    doc["paths"]["/v1/messages"] = {"post": _messages(doc.setdefault("components", {}))}
    _anthropic_errors(doc)
    _idempotency_mismatch(doc)
    upload = doc["paths"].get("/v1/files", {}).get("post")
    if upload is not None:  # the handler reads the multipart body itself
        upload["requestBody"] = {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                }
            },
        }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def _messages(components: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/messages``, served by the streaming function (not a resolver route); its
    request body's schemas join the document's components."""
    from code_exec.anthropic.wire import MessagesRequest

    schema = MessagesRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas = components.setdefault("schemas", {})
    for name, definition in schema.pop("$defs", {}).items():
        schemas.setdefault(name, definition)
    schemas["MessagesRequest"] = schema
    error = {"description": "Anthropic error envelope", "content": {"application/json": {}}}
    return {
        "operationId": "messages_v1_messages_post",
        "summary": "Anthropic Messages API (code execution and programmatic tool calling on "
        "Bedrock)",
        "description": (
            "Anthropic's Messages API, served by the streaming function. With `stream: true` "
            "the answer is Anthropic's server-sent events, written as the model writes and "
            "the sandbox answers (`message_start`, `content_block_start` / `_delta` / `_stop`, "
            "`message_delta`, `message_stop`, `ping`; `error` after a failure once the stream "
            "started), for up to 15 minutes; otherwise one JSON Message. A turn out of time "
            "ends with `stop_reason: pause_turn`: send the conversation again to continue."
        ),
        "tags": ["anthropic"],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/MessagesRequest"}}
            },
        },
        "responses": {
            "200": {
                "description": "a Message, or its events as they happen",
                "content": {
                    "application/json": {"schema": {}},
                    "text/event-stream": {"schema": _sse_event(ANTHROPIC_EVENTS)},
                },
            },
            **{str(status): error for status in (400, 401, 404, 409, 413, 429, 500, 529)},
        },
    }


def _invoke_stream() -> dict[str, Any]:
    """``POST /invoke/stream``, served by the streaming function (not a resolver route)."""
    from code_exec.api.streamed import EVENTS

    error = {
        "description": "error (before the stream starts)",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
    }
    events = "\n".join(f"- `{name}`: {what}" for name, what in EVENTS.items())
    return {
        "operationId": "invoke_stream_invoke_stream_post",
        "summary": "Run one agent turn, streamed as server-sent events (up to 15 minutes)",
        "description": (
            "The body of POST /invoke; no 22 s cap: the turn may run until shortly before the "
            "streaming function's 15-minute timeout. Each event is `event: <name>` and "
            "`data: <JSON>` whose `type` is the name:\n" + events
        ),
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/AgentRequest"}}
            },
        },
        "responses": {
            "200": {
                "description": "the turn's events, as they happen",
                "content": {"text/event-stream": {"schema": _sse_event(list(EVENTS))}},
            },
            **{str(status): error for status in (400, 404, 409, 410, 413, 429, 502)},
        },
    }


ANTHROPIC_EVENTS = [
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
    "ping",
    "error",
]


def _sse_event(names: list[str]) -> dict[str, Any]:
    """One server-sent event as sent: its name, and JSON data whose ``type`` is the name."""
    return {
        "type": "object",
        "required": ["event", "data"],
        "properties": {
            "event": {"type": "string", "enum": names},
            "data": {"type": "string", "contentMediaType": "application/json"},
        },
    }


def _anthropic_errors(doc: dict[str, Any]) -> None:
    """Every ``/v1/*`` error response is the Anthropic error envelope (its handlers return a
    Response whose body the resolver cannot see, so it documented ``string`` or nothing)."""
    schema = AnthropicErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name, definition in schema.pop("$defs", {}).items():
        schemas[name] = definition
    schemas["AnthropicErrorResponse"] = schema
    ref = {"$ref": "#/components/schemas/AnthropicErrorResponse"}
    for path, ops in doc.get("paths", {}).items():
        if not path.startswith("/v1/"):
            continue
        for op in ops.values():
            # any /v1 request may be refused as invalid (a malformed id, a missing part)
            op.setdefault("responses", {}).setdefault("400", {})
            for status, response in op["responses"].items():
                if not status.startswith("2"):
                    response["description"] = "Anthropic error envelope"
                    response["content"] = {"application/json": {"schema": ref}}


def _idempotency_mismatch(doc: dict[str, Any]) -> None:
    """Routes taking ``Idempotency-Key`` answer 422 when a key comes back with another body."""
    error = {
        "description": "the Idempotency-Key was used with another body",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
    }
    for ops in doc.get("paths", {}).values():
        for op in ops.values():
            names = {str(p.get("name", "")).lower() for p in op.get("parameters", [])}
            if "idempotency-key" in names:
                op.setdefault("responses", {}).setdefault("422", error)
