"""docs/openapi.json is generated from the resolver and committed; this fails when it is stale.

Regenerate with ``make openapi``.
"""

from __future__ import annotations

import json
from pathlib import Path

from code_exec.api import create_app, openapi_json
from code_exec.services import Services

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def generate() -> str:
    return openapi_json(create_app(Services()))


def test_openapi_document_is_current() -> None:
    assert DOC.exists(), "docs/openapi.json is missing; see this module's docstring"
    assert DOC.read_text() == generate(), (
        "docs/openapi.json is stale: regenerate with `make openapi`"
    )


def test_openapi_document_covers_every_route() -> None:
    paths = json.loads(DOC.read_text())["paths"]
    assert {(p, m) for p, ops in paths.items() for m in ops} == {
        ("/invoke", "post"),
        ("/invoke/stream", "post"),
        ("/jobs", "post"),
        ("/jobs/{job_id}", "get"),
        ("/sessions/{session_id}/execute", "post"),
        ("/sessions/{session_id}", "delete"),
        ("/v1/messages", "post"),
        ("/v1/messages/count_tokens", "post"),
        ("/v1/models", "get"),
        ("/v1/models/{model_id}", "get"),
        ("/v1/files", "post"),
        ("/v1/files", "get"),
        ("/v1/files/{file_id}", "get"),
        ("/v1/files/{file_id}", "delete"),
        ("/v1/files/{file_id}/content", "get"),
        ("/v1/skills", "post"),
        ("/v1/skills", "get"),
        ("/v1/skills/{skill_id}", "get"),
        ("/v1/skills/{skill_id}", "delete"),
        ("/v1/skills/{skill_id}/versions", "post"),
        ("/v1/skills/{skill_id}/versions", "get"),
        ("/v1/skills/{skill_id}/versions/{version}", "get"),
        ("/v1/skills/{skill_id}/versions/{version}", "delete"),
        ("/v1/skills/{skill_id}/versions/{version}/content", "get"),
    }
    for path, ops in paths.items():
        for op in ops.values():
            # our validation errors are 400 ErrorResponse; 422 is only a reused Idempotency-Key
            names = {str(p.get("name", "")).lower() for p in op.get("parameters", [])}
            if "422" in op["responses"]:
                assert "idempotency-key" in names, (path, op["responses"]["422"])
                assert "Idempotency-Key" in op["responses"]["422"]["description"]
            # every route documents its errors; /v1 routes always the 401 of a refused key
            assert "400" in op["responses"] or path.startswith("/v1/")
            if path.startswith("/v1/"):
                assert "401" in op["responses"]


def test_the_streamed_route_is_documented_with_its_events() -> None:
    from code_exec.api.streamed import EVENTS

    op = json.loads(DOC.read_text())["paths"]["/invoke/stream"]["post"]
    assert "text/event-stream" in op["responses"]["200"]["content"]
    assert op["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/AgentRequest"
    )
    for name in EVENTS:
        assert f"`{name}`" in op["description"]


def test_the_documented_events_are_the_ones_sent() -> None:
    """Every loop event kind, plus what the route itself sends around the turn."""
    import typing

    from code_exec.api.streamed import EVENTS
    from code_exec.loops.events import LoopEvent

    kinds = {cls.kind for cls in typing.get_args(LoopEvent)}
    assert set(EVENTS) == kinds | {"start", "files", "result", "error", "ping"}
