"""POST /invoke end to end for every loop: recorded Bedrock turns (replayed through the real
bedrock-runtime client), real code in the emulator, sessions and files in moto, through the REAL
``api_handler`` with a recorded API Gateway event."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from code_exec.sandbox.client import SandboxClient
from code_exec.sandbox.types import SandboxFile

from devtools.bedrock_replay import (
    EXPENSE_TABLE,
    LOOPS,
    BedrockReplay,
    fixture_name,
    load_fixture,
)
from devtools.expense import expense_registry

from .conftest import ApiClient, replay_bedrock_client

pytestmark = [pytest.mark.sandbox, pytest.mark.slow(seconds=12)]


class RecordingSandbox(SandboxClient):
    """The real client, remembering sessions started/stopped and the files it read."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.started: list[str] = []
        self.stopped: list[str] = []
        self.read: dict[str, bytes] = {}

    def start_session(self, **kwargs: Any) -> str:
        session_id = super().start_session(**kwargs)
        self.started.append(session_id)
        return session_id

    def stop_session(self, session_id: str) -> None:
        super().stop_session(session_id)
        self.stopped.append(session_id)

    def read_files(self, session_id: str, paths: list[str]) -> list[SandboxFile]:
        files = super().read_files(session_id, paths)
        self.read.update({f.path: f.data for f in files})
        return files


@pytest.fixture
def invoke_api(sandbox_api: ApiClient) -> Iterator[tuple[ApiClient, RecordingSandbox, Any]]:
    services = sandbox_api.handler.services
    sandbox = RecordingSandbox(services.config.code_interpreter_id, client=services.agentcore)
    bedrock = replay_bedrock_client()
    services.override(sandbox=sandbox, bedrock=bedrock, registry=expense_registry("preloaded"))
    try:
        yield sandbox_api, sandbox, bedrock
    finally:
        services.reset()


def _calls(name: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in c.items() if k != "turns"} for c in load_fixture(name)["calls"]]


def _first_call(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The recording cut to its first call's turns, and that call's request fields."""
    fixture = load_fixture(name)
    first = fixture["calls"][0]
    fixture["calls"], fixture["turns"] = [first], fixture["turns"][: first["turns"]]
    return fixture, {k: v for k, v in first.items() if k != "turns"}


@pytest.mark.parametrize("loop", LOOPS)
def test_expense_audit_in_ptc_mode_gives_the_exact_table(invoke_api, loop: str) -> None:
    api, sandbox, bedrock = invoke_api
    name = fixture_name(loop, "expense_audit_ptc")
    [call] = _calls(name)
    with BedrockReplay(name).attach(bedrock) as replay:
        resp = api.invoke(**call, loop=loop)
    assert resp.status == 200, resp.body
    result = resp.body
    assert result["loop"] == loop and result["stop_reason"] == "end_turn"
    # a failing cell came back as an error and the model corrected it
    runs = result["code_runs"]
    assert [r["is_error"] for r in runs] == [True, False, False]
    assert "KeyError" in runs[0]["stderr"]
    assert runs[2]["stdout"] == EXPENSE_TABLE
    assert "+$4,876.54" in result["text"]
    # one usage entry per model call, as each recorded response gave it (offline estimates)
    keys = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_write_input_tokens")
    usage = [tuple(u[k] for k in keys) for u in result["usage"]]
    assert usage == [x.estimated_usage for x in replay.exchanges]
    assert len(usage) == 4
    # no session id: one sandbox session, started and stopped within the request
    assert len(sandbox.started) == 1 and sandbox.stopped == sandbox.started
    assert sandbox.session_status(sandbox.started[0]) == "TERMINATED"
    assert result["session_id"] is None


@pytest.mark.parametrize("loop", LOOPS)
def test_session_keeps_a_variable_across_two_invokes_and_returns_the_chart(
    invoke_api, loop: str
) -> None:
    api, sandbox, bedrock = invoke_api
    name = fixture_name(loop, "session_chart")
    first_call, second_call = _calls(name)
    session = f"chart-{loop}"
    with BedrockReplay(name).attach(bedrock):  # both turns; checks the 2nd carries history
        first = api.invoke(**first_call, loop=loop, session_id=session)
        assert first.status == 200, first.body
        second = api.invoke(**second_call, loop=loop, session_id=session)
        assert second.status == 200, second.body

    assert "mean_sq = 38.5" in first.body["code_runs"][0]["stdout"]
    # mean_sq was defined by the first request's code and is still there in the second
    assert second.body["code_runs"][0]["stdout"] == "sqrt(mean_sq) = 6.2048\n"
    assert first.body["session_id"] == second.body["session_id"] == session

    [chart] = first.body["files"]
    assert (chart["name"], chart["media_type"]) == ("squares.svg", "image/svg+xml")
    made_in_sandbox = sandbox.read["outputs/squares.svg"]
    fetched = requests.get(chart["url"], timeout=10).content
    assert fetched == made_in_sandbox and chart["size"] == len(made_in_sandbox)
    assert fetched.startswith(b"<svg") and fetched.count(b"<rect") == 10
    assert second.body["files"] == []

    # the session's sandbox is still running (one session for both requests) until DELETE
    assert len(sandbox.started) == 1 and sandbox.stopped == []
    assert api.delete(session).body["stopped"] is True
    assert sandbox.session_status(sandbox.started[0]) == "TERMINATED"


def test_a_session_keeps_its_loop(invoke_api) -> None:
    api, _, bedrock = invoke_api
    fixture, first_call = _first_call("converse_session_chart")
    with BedrockReplay(fixture).attach(bedrock):
        assert api.invoke(**first_call, loop="converse", session_id="loopy").status == 200
    resp = api.invoke(prompt="again", loop="messages", session_id="loopy")
    assert resp.status == 400 and resp.error["field"] == "loop"
    api.delete("loopy")


def test_a_session_keeps_its_mode(invoke_api) -> None:
    """A PTC conversation (execute_code tool blocks) is not continued in direct mode."""
    api, _, bedrock = invoke_api
    fixture, first_call = _first_call("converse_session_chart")
    with BedrockReplay(fixture).attach(bedrock):  # a model call for "again" would be one too many
        assert api.invoke(**first_call, loop="converse", session_id="modal").status == 200
        resp = api.invoke(prompt="again", loop="converse", mode="direct", session_id="modal")
    assert resp.status == 400 and resp.error["field"] == "mode", resp.body
    assert "'ptc'" in resp.error["message"]
    api.delete("modal")


def test_claude_code_through_the_handler_returns_its_files_as_urls(invoke_api) -> None:
    """``loop: claude_code`` via POST /invoke: the ``claude`` CLI is the stand-in of
    test_agent_claude_code (no network here), put into a named session first."""
    from pathlib import Path

    from code_exec.claude_code.runner import CLAUDE_CODE_VERSION

    from devtools.bedrock_replay import FIXTURES

    from .test_agent_claude_code import FAKE_CLAUDE, SANDBOX_MODEL

    api, _, _ = invoke_api
    prefix = ".bcx/claude-code"
    files = {
        f"{prefix}/.installed-{CLAUDE_CODE_VERSION}": b"",
        f"{prefix}/bin/claude": FAKE_CLAUDE.encode(),
        f"{prefix}/result.json": Path(FIXTURES / "claude_code_result.json").read_bytes(),
    }
    setup = "\n".join(
        f"import os; os.makedirs(os.path.dirname({p!r}), exist_ok=True); "
        f"open({p!r}, 'wb').write({data!r})"
        for p, data in files.items()
    )
    setup += f"\nos.chmod({prefix + '/bin/claude'!r}, 0o755)"
    assert api.execute("cc", code=setup).status == 200
    resp = api.invoke(
        prompt="How many data rows does inputs/data.csv have?",
        loop="claude_code",
        model_id=SANDBOX_MODEL,
        session_id="cc",
        files=[{"name": "data.csv", "content_base64": "bmFtZSx2YWx1ZQphLDEKYiwyCmMsMwo="}],
    )
    assert resp.status == 200, resp.body
    body = resp.body
    assert body["loop"] == "claude_code" and body["text"].startswith("The CSV has 3 data rows")
    assert body["duration_ms"] > 0
    [out] = body["files"]  # once: not also listed by Claude Code's own file report
    assert out["name"] == "line_count.txt"
    assert requests.get(out["url"], timeout=10).content == b"4\n"
    api.delete("cc")


def _count_object_reads(s3: Any, key: str) -> list[str]:
    """Every GetObject the client sends for ``key`` (appended as it happens)."""
    reads: list[str] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        if params.get("Key") == key:
            reads.append(key)

    s3.meta.events.register("provide-client-params.s3.GetObject", count)
    return reads


def test_an_input_file_from_the_bucket_is_downloaded_once(invoke_api) -> None:
    api, _, bedrock = invoke_api
    services = api.handler.services
    key = "files/uploads/once.csv"
    services.s3.put_object(Bucket=services.config.files_bucket, Key=key, Body=b"a,b\n1,2\n")
    reads = _count_object_reads(services.s3, key)
    with BedrockReplay("converse_plain_answer").attach(bedrock):
        resp = api.invoke(
            prompt="What is 6 x 7?",
            loop="converse",
            files=[{"name": "once.csv", "s3_key": key}],
        )
    assert resp.status == 200, resp.body
    assert len(reads) == 1
