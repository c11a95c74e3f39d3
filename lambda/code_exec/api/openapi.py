"""The OpenAPI document of the REST API, as committed in ``docs/openapi.json``."""

from __future__ import annotations

import json

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
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"
