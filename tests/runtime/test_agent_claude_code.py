"""The ``claude_code`` loop through ``run_agent``, in a real emulator session.

There is no network here, so the ``claude`` CLI is a stand-in written into the session
(with the installer's "already installed" marker): it checks how it was called (headless
``-p`` prompt, Bedrock mode, model id, the outputs/ instruction), does the file work in
the session workspace, and prints a recorded Claude Code ``--output-format json`` result.
Everything else is real: the installer script, the background task, the timeout wrapper,
file listing, and the mapping onto ``AgentResult``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from code_exec.agent import AgentDeps, run_agent
from code_exec.claude_code.runner import CLAUDE_CODE_VERSION
from code_exec.config import RuntimeConfig
from code_exec.models import AgentRequest
from code_exec.sandbox.client import SandboxClient
from code_exec.sandbox.types import SandboxFile

from devtools.bedrock_replay import FIXTURES, bedrock_client

pytestmark = pytest.mark.sandbox

SANDBOX_MODEL = "global.anthropic.claude-sonnet-5"  # the deployment's default
FAKE_CLAUDE = """#!/usr/bin/env bash
# Stand-in for the claude CLI (no network in tests).
[ "$1" = "-p" ] || { echo "expected -p <prompt>" >&2; exit 2; }
[ "$CLAUDE_CODE_USE_BEDROCK" = "1" ] || { echo "not in Bedrock mode" >&2; exit 3; }
[ "$ANTHROPIC_MODEL" = "__MODEL__" ] || { echo "wrong model $ANTHROPIC_MODEL" >&2; exit 4; }
[ "$ANTHROPIC_DEFAULT_HAIKU_MODEL" = "__MODEL__" ] || { echo "wrong small model" >&2; exit 7; }
case "${@: -1}" in *outputs/*) ;; *) echo "prompt lacks the outputs/ rule" >&2; exit 5 ;; esac
case "$*" in *"--output-format json"*) ;; *) echo "not json output" >&2; exit 6 ;; esac
mkdir -p outputs
wc -l < inputs/data.csv | tr -d ' ' > outputs/line_count.txt
cat "$(dirname "$0")/../result.json"
""".replace("__MODEL__", SANDBOX_MODEL)


def test_claude_code_runs_in_the_session_and_maps_to_agent_result(agentcore_client):
    sandbox = SandboxClient("aws.codeinterpreter.v1", client=agentcore_client)
    session_id = sandbox.start_session()
    try:
        prefix = ".bcx/claude-code"
        sandbox.write_files(
            session_id,
            [
                SandboxFile(f"{prefix}/.installed-{CLAUDE_CODE_VERSION}", b""),
                SandboxFile(f"{prefix}/bin/claude", FAKE_CLAUDE.encode()),
                SandboxFile(
                    f"{prefix}/result.json",
                    Path(FIXTURES / "claude_code_result.json").read_bytes(),
                ),
                SandboxFile("inputs/data.csv", b"name,value\na,1\nb,2\nc,3\n"),
            ],
        )
        sandbox.execute_command(session_id, f"chmod +x {prefix}/bin/claude")
        deps = AgentDeps(
            sandbox=sandbox,
            sandbox_session_id=session_id,
            bedrock=bedrock_client(),
            config=RuntimeConfig.from_env({}),  # nothing set: the current default everywhere
        )
        request = AgentRequest(
            prompt="How many data rows does inputs/data.csv have?", loop="claude_code"
        )
        run = run_agent(request, deps=deps)

        (count,) = sandbox.read_files(session_id, ["outputs/line_count.txt"])
        assert count.text.strip() == "4"
    finally:
        sandbox.stop_session(session_id)

    result = run.result
    assert result.loop == "claude_code" and result.model_id == SANDBOX_MODEL
    assert result.stop_reason == "end_turn"
    assert result.text.startswith("The CSV has 3 data rows")
    assert len(result.code_runs) == 1 and not result.code_runs[0].is_error
    assert result.code_runs[0].duration_ms == 18342
    (usage,) = result.usage
    assert (usage.input_tokens, usage.output_tokens) == (14, 412)
    assert (usage.cache_read_input_tokens, usage.cache_write_input_tokens) == (30871, 5123)
    assert [m["role"] for m in run.history] == ["user", "assistant"]
