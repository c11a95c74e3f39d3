"""What a ``/v1/messages`` request brings into its container before the model runs: the
skills ``container.skills`` names and the files of its ``container_upload`` blocks, each
placed once per container (the container record's ``placed``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from code_exec.anthropic.containers import ContainerSession
from code_exec.anthropic.files import AnthropicFiles
from code_exec.anthropic.history import History
from code_exec.anthropic.prompts import skills_text
from code_exec.anthropic.skills import AnthropicSkills, parse_refs
from code_exec.anthropic.tools import ToolPlan
from code_exec.anthropic.wire import ContainerParam, MessagesRequest
from code_exec.exceptions import RequestValidationError

__all__ = ["place_skills", "place_uploads", "requested_skills"]


def requested_skills(
    services: Any, request: MessagesRequest, plan: ToolPlan, owner: str
) -> list[Any]:
    """The skills ``container.skills`` names, resolved for ``owner`` (404 for one the owner
    does not have, before any container is made)."""
    container = request.container
    refs = parse_refs(
        container.skills if isinstance(container, ContainerParam) else None, "container.skills"
    )
    if refs and not plan.code_execution:
        raise RequestValidationError(
            "skills run in the code execution container: add a code execution tool",
            field="container.skills",
        )
    return AnthropicSkills(services).resolve(owner, refs)


def place_skills(
    services: Any, container: ContainerSession, plan: ToolPlan, used: list[Any]
) -> ToolPlan:
    """The skills into the container (once per container and version); the plan whose
    stand-in tools tell the model their names, descriptions and directories."""
    placed = container.ensure().placed
    AnthropicSkills(services).place(used, placed, services.sandbox, container.session_id)
    container.skills = [u.wire for u in used]
    text = skills_text((u.name, u.description, u.path) for u in used)
    return dataclasses.replace(plan, skills_text=text)


def place_uploads(
    services: Any, files: AnthropicFiles, owner: str, container: ContainerSession, history: History
) -> None:
    """Files of ``container_upload`` blocks into the container (once per container), and
    the text the model reads in their place."""
    placed = container.ensure().placed
    files.place(owner, history.uploads, placed, services.sandbox, container.session_id)
    history.describe_uploads(lambda file_id: files.upload_text(placed[file_id]))
