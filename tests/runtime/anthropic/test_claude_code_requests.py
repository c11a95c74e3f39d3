"""What Claude Code sends, as captured from both pinned CLIs (tests/fixtures/claude_code/), is
in the request-surface table and answered 2xx by the local ``/v1``: its first request and
every retry variant it sends after an error (``python -m devtools.claude_code_capture``).

Each variant is posted as the CLI sent it (its model set to the deployment's, as
``ANTHROPIC_MODEL`` does) and answered by one replayed model turn.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from code_exec.anthropic import surface

from devtools.claude_cli import CLIS, ROOT

from .conftest import MODEL, Server, fixture, model_turn, text

pytestmark = [pytest.mark.sandbox, pytest.mark.filterwarnings("ignore:The model")]

CAPTURES = Path(__file__).resolve().parents[2] / "fixtures" / "claude_code"
VERSIONS = sorted(CLIS)
SIGNATURE = "EqQBCgIYAhIMcmV0cnktdmFyaWFudA=="
VARIANTS = json.loads((CAPTURES / "retry_variants_2.1.328.json").read_text())["variants"]
# Keys of Claude Code's tool definitions (all custom tools): what the custom row covers.
TOOL_KEYS = {"name", "description", "input_schema", "defer_loading", "cache_control"}


def _first(version: str) -> dict[str, Any]:
    captured: dict[str, Any] = json.loads((CAPTURES / f"first_request_{version}.json").read_text())
    return captured


def test_the_clis_run_are_the_versions_package_json_pins() -> None:
    pins = json.loads((ROOT / "package.json").read_text())["devDependencies"]
    assert pins["@anthropic-ai/claude-code"] == "2.1.328"
    assert pins["claude-code-latest"] == "npm:@anthropic-ai/claude-code@2.1.332"
    for version, binary in CLIS.items():
        installed = json.loads((binary.parent.parent / "package.json").read_text())
        assert installed["version"] == version
        assert (CAPTURES / f"first_request_{version}.json").exists()


@pytest.mark.parametrize("version", VERSIONS)
def test_every_field_beta_and_tool_claude_code_sends_has_its_own_row(version: str) -> None:
    captured = _first(version)
    body = captured["body"]
    for name in body:
        assert surface.field_row(name).disposition != "refused", name
    betas = captured["headers"]["anthropic-beta"].split(",")
    named = {r.name for r in surface.BETAS}
    assert [b for b in betas if b not in named] == []  # none falls to the catch-all row
    split = surface.split_betas(",".join(betas))
    assert split.passed == ("interleaved-thinking-2025-05-14", "context-management-2025-06-27")
    assert sorted(split.passed + split.implemented + split.dropped) == sorted(betas)
    for tool in body["tools"]:
        assert "type" not in tool and set(tool) <= TOOL_KEYS, tool["name"]
    assert surface.tool_row("custom") is not None
    thinking = surface.field_row("thinking").why
    # the display the default model is asked with, and 2.1.332's for other models
    assert f"`{body['thinking']['display']}`" in thinking and "`updates`" in thinking


@pytest.mark.parametrize("variant", VARIANTS, ids=[v["name"] for v in VARIANTS])
def test_each_retry_variant_of_claude_code_is_answered(
    server: Server, variant: dict[str, Any]
) -> None:
    captured = _first("2.1.328")
    body = {k: v for k, v in captured["body"].items() if k not in variant["unset"]}
    body.update(variant["set"], model=MODEL)
    headers = {
        **captured["headers"],
        "anthropic-beta": variant["anthropic-beta"],
        "x-api-key": server.keys["alice"],
    }
    turn = model_turn(
        {"type": "thinking", "thinking": "Greet back.", "signature": SIGNATURE}, text("Hello!")
    )
    with server.replay(fixture(turn)) as replay:
        response = httpx.post(
            server.url.rstrip("/") + captured["path"], json=body, headers=headers, timeout=60
        )
    assert response.status_code == 200, response.text
    events = [
        json.loads(line[len("data: ") :])
        for line in response.text.splitlines()
        if line.startswith("data: ")
    ]
    assert [e["type"] for e in events][-1] == "message_stop"
    assert (
        "".join(e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta")
        == "Hello!"
    )
    [delta] = [e for e in events if e["type"] == "message_delta"]
    assert ("context_management" in delta) == ("context_management" in body)
    sent = replay.exchanges[0].request
    passed = surface.split_betas(variant["anthropic-beta"]).passed
    assert tuple(sent.get("anthropic_beta", ())) == passed
    assert set(passed) <= {"interleaved-thinking-2025-05-14", "context-management-2025-06-27"}
    assert "display" not in sent["thinking"]
    assert all("defer_loading" not in t for t in sent["tools"])
