"""Skills in ``/invoke`` and jobs: the ``skills`` request field, with the same semantics as
``container.skills`` (:mod:`code_exec.anthropic.skills`), in the session's sandbox.

``/invoke`` is IAM-authorized, so no API key owner comes with the request: the caller names
whose skills it uses (``skills_owner``), as a trusted operator of the deployment.
"""

from __future__ import annotations

from typing import Any

from code_exec.anthropic.prompts import skills_text
from code_exec.anthropic.skills import AnthropicSkills, UsedSkill, parse_refs
from code_exec.models import AgentRequest

__all__ = ["place_skills", "resolve_skills"]


def resolve_skills(services: Any, request: AgentRequest) -> list[UsedSkill]:
    """The request's skills, resolved (404 for one that does not exist) before any sandbox
    is started."""
    refs = parse_refs(request.skills, "skills")
    return AnthropicSkills(services).resolve(request.skills_owner or "", refs) if refs else []


def place_skills(
    services: Any, used: list[UsedSkill], active: Any, request: AgentRequest
) -> AgentRequest:
    """Skills into the session's ``skills/`` (once per session and version); the request with
    the model told of them after the caller's system prompt."""
    if not used:
        return request
    placed: dict[str, Any] = {}
    if active.record is not None:
        placed = active.record.metadata.setdefault("skills_placed", {})
    AnthropicSkills(services).place(used, placed, services.sandbox, active.sandbox_session_id)
    text = skills_text((u.name, u.description, u.path) for u in used)
    return request.model_copy(update={"system": (request.system or "") + text})
