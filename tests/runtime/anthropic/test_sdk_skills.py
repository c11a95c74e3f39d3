"""Agent Skills through the real ``anthropic`` SDK (strict response validation): the Skills API
(create from a directory and from a zip, list, retrieve, versions, delete), a skill used in a
``/v1/messages`` turn (the recorded model reads its SKILL.md with bash and runs its script,
for real in the emulator), 404 once deleted and for another owner, 400 for a bad SKILL.md."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import anthropic
import pytest
from anthropic.lib import files_from_dir
from anthropic.types import beta as beta_types

from .conftest import MODEL, Server, fixture, model_turn, text

pytestmark = [pytest.mark.sandbox, pytest.mark.filterwarnings("ignore:The model")]

SKILL_MD = """---
name: {name}
description: Greets people in the house style. Use when asked to greet someone.
---

# Greeting

Run `python3 skills/{name}/scripts/greet.py NAME` and answer with its output, unchanged.
"""
GREET = "import sys\nprint(f'Ahoy, {sys.argv[1]}! (house style v{V})')\n"
BETAS = ["skills-2025-10-02", "code-execution-2025-08-25"]


def _skill_dir(tmp: Path, name: str = "house-greeting", v: int = 1) -> Path:
    root = tmp / name
    (root / "scripts").mkdir(parents=True, exist_ok=True)
    (root / "SKILL.md").write_text(SKILL_MD.format(name=name))
    (root / "scripts" / "greet.py").write_text(GREET.replace("{V}", str(v)))
    return root


def _zip(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for path, text in files.items():
            z.writestr(path, text)
    return out.getvalue()


def test_skills_api_create_list_versions_delete(server: Server, tmp_path: Path) -> None:
    c = server.client()
    skill = c.beta.skills.create(
        files=files_from_dir(_skill_dir(tmp_path)), display_name="House greeting", betas=BETAS
    )
    assert isinstance(skill, beta_types.BetaSkill)
    assert skill.id.startswith("skill_") and skill.display_name == "House greeting"
    assert skill.source.type == "custom" and skill.latest_version_id.isdigit()
    assert len(skill.latest_version_id) == 16  # epoch microseconds, as Anthropic's
    assert c.beta.skills.retrieve(skill.id).latest_version_id == skill.latest_version_id
    assert skill.id in {s.id for s in c.beta.skills.list(limit=100)}

    v1 = c.beta.skills.versions.retrieve(skill.latest_version_id, skill_id=skill.id)
    assert (v1.name, v1.skill_id, v1.type) == ("house-greeting", skill.id, "skill_version")
    assert v1.description.startswith("Greets people")
    # a second version from a zip (no top directory: the zip of the directory's content)
    zipped = _zip({"SKILL.md": SKILL_MD.format(name="house-greeting"), "scripts/greet.py": "x"})
    v2 = c.beta.skills.versions.create(skill.id, files=[("skill.zip", zipped, "application/zip")])
    assert int(v2.id) > int(v1.id)
    assert c.beta.skills.retrieve(skill.id).latest_version_id == v2.id
    listed = [v.id for v in c.beta.skills.versions.list(skill.id)]
    assert listed == [v2.id, v1.id]
    archive = zipfile.ZipFile(
        io.BytesIO(c.beta.skills.versions.download(v2.id, skill_id=skill.id).read())
    )
    assert sorted(archive.namelist()) == [
        "house-greeting/SKILL.md",
        "house-greeting/scripts/greet.py",
    ]
    # a new version cannot rename the skill
    with pytest.raises(anthropic.BadRequestError) as err:
        c.beta.skills.versions.create(
            skill.id, files=files_from_dir(_skill_dir(tmp_path, "other-name"))
        )
    assert "cannot change it" in err.value.body["error"]["message"]
    # another owner sees nothing of it
    bob = server.client("bob")
    with pytest.raises(anthropic.NotFoundError):
        bob.beta.skills.retrieve(skill.id)
    with pytest.raises(anthropic.NotFoundError):
        bob.beta.skills.versions.list(skill.id)
    assert skill.id not in {s.id for s in bob.beta.skills.list()}
    # a skill with versions is not deleted (delete them first, as Anthropic's API asks)
    with pytest.raises(anthropic.BadRequestError):
        c.beta.skills.delete(skill.id)
    deleted = c.beta.skills.versions.delete(v2.id, skill_id=skill.id)
    assert (deleted.id, deleted.type) == (v2.id, "skill_version_deleted")
    assert c.beta.skills.retrieve(skill.id).latest_version_id == v1.id
    c.beta.skills.versions.delete(v1.id, skill_id=skill.id)
    gone = c.beta.skills.delete(skill.id)
    assert (gone.id, gone.type) == (skill.id, "skill_deleted")
    with pytest.raises(anthropic.NotFoundError):
        c.beta.skills.retrieve(skill.id)


def test_skill_lists_page_with_next_page(server: Server, tmp_path: Path) -> None:
    c = server.client("bob")
    made = [
        c.beta.skills.create(files=files_from_dir(_skill_dir(tmp_path / str(i), f"page-{i}"))).id
        for i in range(3)
    ]
    first = c.beta.skills.list(limit=2)
    assert [s.id for s in first.data] == made[::-1][:2] and first.next_page
    assert [
        s.id for s in first.next_page and c.beta.skills.list(limit=2, page=first.next_page).data
    ][:1] == [made[0]]
    assert [s.id for s in c.beta.skills.list(limit=2)] == made[::-1]  # auto-paging
    assert list(c.beta.skills.list(source="anthropic")) == []


@pytest.mark.parametrize(
    ("skill_md", "field"),
    [
        ("no frontmatter", "files"),
        ("---\nname: Bad_Name\ndescription: d\n---\n", "name"),
        ("---\nname: claude-helper\ndescription: d\n---\n", "name"),
        ("---\nname: " + "a" * 65 + "\ndescription: d\n---\n", "name"),
        ("---\nname: ok\n---\n", "description"),
        ("---\nname: ok\ndescription: " + "d" * 1025 + "\n---\n", "description"),
        ("---\nname: ok\ndescription: has <b>xml</b>\n---\n", "description"),
    ],
)
def test_a_bad_skill_md_is_400_naming_the_field(server: Server, skill_md: str, field: str) -> None:
    with pytest.raises(anthropic.BadRequestError) as err:
        server.client().beta.skills.create(files=[("bad/SKILL.md", skill_md.encode())])
    assert err.value.body["error"]["type"] == "invalid_request_error"
    assert field in err.value.body["error"]["message"]


@pytest.mark.parametrize(
    "files",
    [
        [("a/SKILL.md", b"x"), ("b/other.md", b"y")],  # two top directories
        [("a/notes.md", b"x")],  # no SKILL.md
        [("../evil/SKILL.md", b"x")],  # out of the directory
        [("big.zip", _zip({"big/SKILL.md": "x", "big/zeros": "0" * (8 * 1024 * 1024)}))],
    ],
)
def test_bad_uploads_are_400(server: Server, files: list[tuple[str, bytes]]) -> None:
    with pytest.raises(anthropic.BadRequestError) as err:
        server.client().beta.skills.create(files=files)
    assert "files" in err.value.body["error"]["message"]


def test_skill_used_in_a_messages_turn_then_deleted(server: Server, tmp_path: Path) -> None:
    c = server.client()
    skill = c.beta.skills.create(files=files_from_dir(_skill_dir(tmp_path)), betas=BETAS)
    container = {"skills": [{"type": "custom", "skill_id": skill.id, "version": "latest"}]}
    request = {
        "model": MODEL,
        "max_tokens": 1024,
        "betas": BETAS,
        "tools": [{"type": "code_execution_20250825", "name": "code_execution"}],
        "messages": [{"role": "user", "content": "Greet Ada in the house style."}],
    }
    with server.replay("anthropic_skill_greeting") as replay:
        r = c.beta.messages.create(container=container, **request)  # type: ignore[arg-type]
    tools = replay.exchanges[0].request["tools"]
    bash = next(t for t in tools if t["name"] == "bash_code_execution")
    assert "house-greeting" in bash["description"] and "Greets people" in bash["description"]
    assert "skills/house-greeting/SKILL.md" in bash["description"]
    results = [
        b for b in r.content if isinstance(b, beta_types.BetaBashCodeExecutionToolResultBlock)
    ]
    assert "Run `python3 skills/house-greeting/scripts/greet.py NAME`" in results[0].content.stdout
    assert results[1].content.stdout == "Ahoy, Ada! (house style v1)\n"
    assert r.container is not None and r.container.skills is not None
    [used] = r.container.skills
    assert (used.skill_id, used.type, used.version) == (skill.id, "custom", skill.latest_version_id)
    # placed once per container: the record remembers it, a later turn re-reads nothing
    placed = server.container(r.container.id).placed
    assert placed[f"skill:{skill.id}"]["version"] == skill.latest_version_id
    again = fixture(model_turn(text("Ahoy again.")))
    s3_reads: list[str] = []
    s3 = server.services.s3
    s3.meta.events.register("before-call.s3.GetObject", lambda **kw: s3_reads.append("get"))
    try:
        with server.replay(again) as replay:
            r2 = c.beta.messages.create(
                container={"id": r.container.id, **container},  # type: ignore[arg-type]
                **request,  # type: ignore[arg-type]
            )
    finally:
        s3.meta.events.unregister("before-call.s3.GetObject")
    assert s3_reads == [] and r2.container is not None and r2.container.skills
    assert "house-greeting" in json.dumps(replay.exchanges[0].request["tools"])
    # once deleted, a request naming it is 404 (Anthropic's not_found_error)
    c.beta.skills.versions.delete(skill.latest_version_id, skill_id=skill.id)
    c.beta.skills.delete(skill.id)
    with pytest.raises(anthropic.NotFoundError) as err:
        c.beta.messages.create(container=container, **request)  # type: ignore[arg-type]
    assert err.value.body["error"]["type"] == "not_found_error"


def test_container_skills_refusals(server: Server, tmp_path: Path) -> None:
    c = server.client()
    skill = c.beta.skills.create(files=files_from_dir(_skill_dir(tmp_path, "mine")))
    request = {
        "model": MODEL,
        "max_tokens": 64,
        "tools": [{"type": "code_execution_20250825", "name": "code_execution"}],
        "messages": [{"role": "user", "content": "hi"}],
    }
    cases = [
        ([{"type": "anthropic", "skill_id": "xlsx", "version": "latest"}], 400, "type: custom"),
        ([{"type": "custom", "skill_id": f"skill_{i:02d}x"} for i in range(9)], 400, "at most 8"),
        ([{"type": "custom", "skill_id": skill.id, "version": "v1"}], 400, "version"),
    ]
    for skills, status, words in cases:
        with pytest.raises(anthropic.APIStatusError) as err:
            c.beta.messages.create(container={"skills": skills}, **request)  # type: ignore[arg-type]
        assert err.value.status_code == status and words in err.value.body["error"]["message"]
    # another owner's skill is 404, as an unknown one
    with pytest.raises(anthropic.NotFoundError):
        server.client("bob").beta.messages.create(
            container={"skills": [{"type": "custom", "skill_id": skill.id}]},  # type: ignore[arg-type]
            **request,  # type: ignore[arg-type]
        )
