"""The buffered ``/v1/skills`` routes, as ``client.beta.skills`` calls them.

Uploads are ``multipart/form-data``: one ``files`` part per file (the SDK names them
``files[]``), each named by its path under the skill's directory, or one zip; ``display_name``
is a plain field. Lists page as the SDK's ``SyncPageCursor`` follows them (``limit``, the
opaque ``page`` a response's ``next_page`` gives). Errors are the resolver's, in Anthropic's
envelope (:mod:`code_exec.anthropic.errors`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Path

from code_exec.anthropic.routes import (
    binary_route,
    error_responses,
    form_parts,
    json_response,
    list_limit,
    owner_of,
    request_id_of,
)
from code_exec.anthropic.skills import SKILL_ID, AnthropicSkills, skill_json, version_json
from code_exec.anthropic.skills_bundle import MAX_FILES, SkillBundle, bundle
from code_exec.disposition import content_disposition
from code_exec.exceptions import RequestValidationError

__all__ = ["register_skills"]

_VERSION = r"^(latest|[0-9]{1,20})$"
_FILE_FIELD = re.compile(r"^files(\[[0-9]*\])?$")


def _upload(event: Any) -> tuple[SkillBundle, str | None]:
    """The uploaded skill and the ``display_name`` field (if any)."""
    files: list[tuple[str, bytes]] = []
    display_name: str | None = None
    for part in form_parts(event, "files"):
        name = part.get_param("name", header="content-disposition")
        if name == "display_name":
            display_name = str(part.get_content()).strip() or None
        elif isinstance(name, str) and _FILE_FIELD.match(name):
            if len(files) > MAX_FILES:
                raise RequestValidationError(f"at most {MAX_FILES} files", field="files")
            payload = part.get_payload(decode=True)
            files.append(
                (part.get_filename() or "", payload if isinstance(payload, bytes) else b"")
            )
    if display_name is not None and (len(display_name) > 255 or "\n" in display_name):
        raise RequestValidationError(
            "display_name is one line of at most 255 characters", field="display_name"
        )
    return bundle(files), display_name


def _page(query: Mapping[str, str], pattern: str) -> str | None:
    """The cursor of ``page`` (``page_<last id of the previous page>``)."""
    page = query.get("page") or None
    if page is None:
        return None
    cursor = page.removeprefix("page_")
    if not page.startswith("page_") or not re.match(pattern, cursor):
        raise RequestValidationError("page is not a valid cursor", field="page")
    return cursor


class _SkillRoutes:
    def __init__(self, app: APIGatewayRestResolver, services: Any) -> None:
        self.app = app
        self.skills = AnthropicSkills(services)

    def _reply(self, body: dict[str, Any]) -> Response[str]:
        return json_response(body, request_id_of(self.app.current_event))

    def create(self) -> Response[str]:
        """Create a skill from its files (a root ``SKILL.md``) or a zip."""
        event = self.app.current_event
        owner = owner_of(event)
        skill, display_name = _upload(event)
        return self._reply(skill_json(self.skills.create(owner, skill, display_name)))

    def list_skills(self) -> Response[str]:
        """The caller's skills, newest first (``source=anthropic``: none are here)."""
        event = self.app.current_event
        query = event.query_string_parameters or {}
        owner = owner_of(event)
        limit = list_limit(query)
        after = _page(query, SKILL_ID)
        if (query.get("source") or "custom") != "custom":
            return self._reply({"data": [], "has_more": False, "next_page": None})
        return self._reply(self.skills.list_skills(owner, limit=limit, after_id=after))

    def get(self, skill_id: Annotated[str, Path(pattern=SKILL_ID)]) -> Response[str]:
        """A skill."""
        owner = owner_of(self.app.current_event)
        return self._reply(skill_json(self.skills.get(owner, skill_id)))

    def delete(self, skill_id: Annotated[str, Path(pattern=SKILL_ID)]) -> Response[str]:
        """Delete a skill that has no versions left."""
        self.skills.delete(owner_of(self.app.current_event), skill_id)
        return self._reply({"id": skill_id, "type": "skill_deleted"})

    def create_version(self, skill_id: Annotated[str, Path(pattern=SKILL_ID)]) -> Response[str]:
        """A new version of a skill (same ``name`` in its SKILL.md)."""
        event = self.app.current_event
        owner = owner_of(event)
        skill, _ = _upload(event)
        return self._reply(version_json(self.skills.create_version(owner, skill_id, skill)))

    def list_versions(self, skill_id: Annotated[str, Path(pattern=SKILL_ID)]) -> Response[str]:
        """A skill's versions, newest first."""
        event = self.app.current_event
        query = event.query_string_parameters or {}
        owner = owner_of(event)
        limit = list_limit(query)
        after = _page(query, r"^[0-9]{1,20}$")
        return self._reply(self.skills.list_versions(owner, skill_id, limit=limit, after=after))

    def get_version(
        self,
        skill_id: Annotated[str, Path(pattern=SKILL_ID)],
        version: Annotated[str, Path(pattern=_VERSION)],
    ) -> Response[str]:
        """One version of a skill."""
        owner = owner_of(self.app.current_event)
        return self._reply(version_json(self.skills.version(owner, skill_id, version)))

    def delete_version(
        self,
        skill_id: Annotated[str, Path(pattern=SKILL_ID)],
        version: Annotated[str, Path(pattern=r"^[0-9]{1,20}$")],
    ) -> Response[str]:
        """Delete one version (the skill's latest moves to the next newest)."""
        self.skills.delete_version(owner_of(self.app.current_event), skill_id, version)
        return self._reply({"id": version, "type": "skill_version_deleted"})

    def content(
        self,
        skill_id: Annotated[str, Path(pattern=SKILL_ID)],
        version: Annotated[str, Path(pattern=_VERSION)],
    ) -> Response[bytes]:
        """A version's files as one zip."""
        event = self.app.current_event
        found, data = self.skills.content(owner_of(event), skill_id, version)
        return Response(
            status_code=200,
            content_type="application/zip",
            body=data,
            headers={
                "request-id": request_id_of(event),
                "content-disposition": content_disposition(f"{found.name}.zip"),
            },
        )


def register_skills(app: APIGatewayRestResolver, services: Any) -> None:
    """Add the ``/v1/skills`` routes to ``app``."""
    r = _SkillRoutes(app, services)
    tags = ["anthropic"]
    base, one = "/v1/skills", "/v1/skills/<skill_id>"
    versions, version = f"{one}/versions", f"{one}/versions/<version>"
    ok, missing = error_responses(400, 401, 413), error_responses(401, 404)
    app.post(base, summary="Create a skill", responses=ok, tags=tags)(r.create)
    app.get(base, summary="The caller's skills", responses=error_responses(400, 401), tags=tags)(
        r.list_skills
    )
    app.get(one, summary="A skill", responses=missing, tags=tags)(r.get)
    app.delete(one, summary="Delete a skill", responses=error_responses(400, 401, 404), tags=tags)(
        r.delete
    )
    app.post(
        versions,
        summary="Create a skill version",
        responses=error_responses(400, 401, 404),
        tags=tags,
    )(r.create_version)
    app.get(versions, summary="A skill's versions", responses=missing, tags=tags)(r.list_versions)
    app.get(version, summary="A skill version", responses=missing, tags=tags)(r.get_version)
    app.delete(version, summary="Delete a skill version", responses=missing, tags=tags)(
        r.delete_version
    )
    app.get(f"{version}/content", summary="Download a skill version", responses=missing, tags=tags)(
        binary_route(r.content)
    )
