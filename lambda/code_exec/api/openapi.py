"""The OpenAPI document of the REST API, as committed in ``docs/openapi.json``."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

__all__ = ["openapi_json"]

TITLE = "bedrock-code-execution"
VERSION = "1.0.0"


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
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


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
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            },
            **{str(status): error for status in (400, 404, 409, 410, 413, 429, 502)},
        },
    }
