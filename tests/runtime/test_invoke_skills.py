"""``/invoke`` with a ``skills`` field: a skill uploaded for an API key owner is placed in the
session's sandbox and described to the model, which reads its SKILL.md and runs its script
(recorded model turns; the code runs for real in the emulator); a deleted skill is 404 and
``type: anthropic`` is 400, as in ``/v1/messages``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from code_exec.anthropic.skills import AnthropicSkills
from code_exec.anthropic.skills_bundle import bundle

from devtools.bedrock_replay import BedrockReplay

from .conftest import ApiClient, replay_bedrock_client

pytestmark = pytest.mark.sandbox

SKILL_MD = b"""---
name: house-greeting
description: Greets people in the house style. Use when asked to greet someone.
---

# Greeting

Run `python3 skills/house-greeting/scripts/greet.py NAME` and answer with its output.
"""
GREET = b"import sys\nprint(f'Ahoy, {sys.argv[1]}! (house style v1)')\n"


@pytest.fixture
def api(sandbox_api: ApiClient) -> Iterator[tuple[ApiClient, Any]]:
    services = sandbox_api.handler.services
    bedrock = replay_bedrock_client()
    services.override(bedrock=bedrock)
    try:
        yield sandbox_api, bedrock
    finally:
        services.reset()


def test_invoke_uses_a_skill_then_404_once_deleted(api: tuple[ApiClient, Any]) -> None:
    client, bedrock = api
    skills = AnthropicSkills(client.handler.services)
    files = [("house-greeting/SKILL.md", SKILL_MD), ("house-greeting/scripts/greet.py", GREET)]
    skill = skills.create("alice", bundle(files), None)
    body = {
        "prompt": "Greet Ada in the house style.",
        "skills": [{"type": "custom", "skill_id": skill.skill_id, "version": "latest"}],
        "skills_owner": "alice",
    }
    with BedrockReplay("invoke_skill_greeting").attach(bedrock):
        resp = client.invoke(**body)
    assert resp.status == 200, resp.body
    [run] = resp.body["code_runs"]
    assert run["stdout"].endswith("Ahoy, Ada! (house style v1)\n") and "# Greeting" in run["stdout"]
    assert resp.body["text"] == "Ahoy, Ada! (house style v1)"
    # another owner's name finds nothing; a deleted skill is 404; Anthropic's skills are 400
    assert client.invoke(**{**body, "skills_owner": "bob"}).status == 404
    assert skill.latest_version
    skills.delete_version("alice", skill.skill_id, skill.latest_version)
    skills.delete("alice", skill.skill_id)
    gone = client.invoke(**body)
    assert gone.status == 404 and "skill" in str(gone.body)
    refused = client.invoke(
        **{**body, "skills": [{"type": "anthropic", "skill_id": "xlsx", "version": "latest"}]}
    )
    assert refused.status == 400 and "type: custom" in str(refused.body)
    assert client.invoke(**{k: v for k, v in body.items() if k != "skills_owner"}).status == 400
