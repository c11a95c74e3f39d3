"""Claude Code in the sandbox: how we compose the install and run commands, and report errors.

The emulator has no network, and no real Claude Code can run here. So these tests check
OUR composition: the installer fails cleanly and clearly without network, and the run path
is exercised with a fake ``claude`` executable placed on the workspace PATH that prints a
realistic ``--output-format json`` result (and records the arguments and environment it got).
A real install/run needs an interpreter in PUBLIC network mode and Bedrock access.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from code_exec.claude_code.runner import (
    CLAUDE_CODE_VERSION,
    ClaudeCodeNoNetworkError,
    ClaudeCodeOutputError,
    ClaudeCodeRunError,
    ClaudeCodeRunner,
    ClaudeCodeTimeoutError,
)
from code_exec.sandbox.client import SandboxClient
from code_exec.sandbox.types import SandboxFile

pytestmark = [pytest.mark.sandbox, pytest.mark.slow(seconds=11)]
MODEL = "global.anthropic.claude-sonnet-5"
SMALL_MODEL = "us.anthropic.claude-haiku-4-5-20251001-v1:0"

FAKE_CLAUDE = r'''#!/usr/bin/env python3
"""Fake `claude` for tests: behaves per keywords in the prompt, prints a realistic result."""
import json, os, sys, time
args = sys.argv[1:]
# Like the real CLI's option parser: before "--", an unknown "-..." word is an error.
KNOWN = {"-p", "--output-format", "--allowedTools", "--max-turns"}
split = args.index("--") if "--" in args else len(args)
for word in args[:split]:
    if word.startswith("-") and word not in KNOWN:
        print(f"error: unknown option '{word}'", file=sys.stderr)
        sys.exit(1)
prompt = args[split + 1] if split < len(args) else args[args.index("-p") + 1]
if "SLEEP" in prompt:
    time.sleep(30)
if "HUGE" in prompt:  # a result text as long as the sandbox likes (a hostile workspace)
    print(json.dumps({"type": "result", "subtype": "success", "is_error": "FAIL" in prompt,
                      "result": "y" * 1_000_000, "usage": {}}))
    sys.exit(1 if "FAIL" in prompt else 0)
if "GARBAGE" in prompt:
    print("Welcome to Claude Code! <not json>")
    sys.exit(0)
seen = {k: os.environ.get(k) for k in (
    "CLAUDE_CODE_USE_BEDROCK", "ANTHROPIC_MODEL", "ANTHROPIC_DEFAULT_HAIKU_MODEL", "AWS_REGION"
)}
with open("hello.py", "w") as f:
    f.write("print('hello from claude')\n")
with open("last.txt", "w") as f:  # same size every run, new content
    f.write(prompt[-1])
install = os.path.dirname(os.path.dirname(os.path.abspath(sys.argv[0])))
with open(os.path.join(install, "cache.json"), "a") as f:  # its own install tree changes
    f.write("{}\n")
os.makedirs("pkg", exist_ok=True)
with open("pkg/notes.md", "w") as f:
    f.write(json.dumps({"args": args, "env": seen, "cwd": os.getcwd()}))
failed = "FAIL" in prompt
print(json.dumps({
    "type": "result", "subtype": "error_during_execution" if failed else "success",
    "is_error": failed, "duration_ms": 5321, "duration_api_ms": 4870, "num_turns": 3,
    "result": "Model refused." if failed else "Created hello.py and pkg/notes.md.",
    "session_id": "9f1c2b7e-8a64-4c55-9d0e-0f7c1e2a3b4c", "total_cost_usd": 0.0231,
    "usage": {"input_tokens": 1200, "cache_creation_input_tokens": 0,
              "cache_read_input_tokens": 9800, "output_tokens": 410},
}))
sys.exit(1 if failed else 0)
'''


@pytest.fixture(scope="module")
def sid(sandbox: SandboxClient) -> Iterator[str]:
    with sandbox.session(name="claude-code-tests", timeout_seconds=600) as session_id:
        yield session_id


def _runner(sandbox: SandboxClient, sid: str, prefix: str) -> ClaudeCodeRunner:
    return ClaudeCodeRunner(
        sandbox,
        sid,
        model_id=MODEL,
        small_model_id=SMALL_MODEL,
        region="us-west-2",
        prefix=prefix,
        poll_seconds=0.05,
    )


def test_commands_are_composed_safely() -> None:
    runner = ClaudeCodeRunner(
        None,  # type: ignore[arg-type]
        "s",
        model_id=MODEL,
        region="us-west-2",
    )
    assert runner.install_command() == (
        f"bash .bcx/install_claude_code.sh {CLAUDE_CODE_VERSION} .bcx/claude-code 22.12.0"
    )
    cmd = runner.run_command("p.txt", allowed_tools=["Read", "Write"], timeout_seconds=60)
    assert "CLAUDE_CODE_USE_BEDROCK=1" in cmd and f"ANTHROPIC_MODEL={MODEL}" in cmd
    # every alias Claude Code may pick resolves to a model the sandbox role may invoke; with
    # no small/fast model given, background work uses the main model too
    for alias in ("SONNET", "OPUS", "HAIKU"):
        assert f"ANTHROPIC_DEFAULT_{alias}_MODEL={MODEL}" in cmd
    assert "AWS_REGION=us-west-2" in cmd and "AWS_ACCESS_KEY" not in cmd
    assert "timeout --kill-after=10 60 claude -p" in cmd
    assert "--output-format json --allowedTools Read,Write" in cmd


def test_install_without_network_fails_cleanly(sandbox: SandboxClient, sid: str) -> None:
    runner = _runner(sandbox, sid, ".bcx/cc-real")
    with pytest.raises(ClaudeCodeNoNetworkError, match="PUBLIC network mode"):
        runner.install(timeout_seconds=60)
    assert ClaudeCodeNoNetworkError.code == "ClaudeCodeNoNetwork"


@pytest.fixture(scope="module")
def fake(sandbox: SandboxClient, sid: str) -> ClaudeCodeRunner:
    """A session where `claude` is the fake above and the install marker is present."""
    prefix = ".bcx/cc-fake"
    sandbox.write_files(
        sid,
        [
            SandboxFile(f"{prefix}/bin/claude", FAKE_CLAUDE.encode()),
            SandboxFile(f"{prefix}/.installed-{CLAUDE_CODE_VERSION}", b""),
        ],
    )
    assert sandbox.execute_command(sid, f"chmod +x {prefix}/bin/claude").ok
    return _runner(sandbox, sid, prefix)


def test_run_parses_result_and_reports_written_files(fake: ClaudeCodeRunner) -> None:
    result = fake.run('Write a hello world script. It\'s "quoted" & $(not expanded)')
    assert not result.is_error
    assert result.result == "Created hello.py and pkg/notes.md."
    assert (result.duration_ms, result.num_turns, result.total_cost_usd) == (5321, 3, 0.0231)
    assert result.usage["output_tokens"] == 410
    assert result.files_written == (
        "claude-work/hello.py",
        "claude-work/last.txt",
        "claude-work/pkg/notes.md",
    )
    notes = json.loads(
        fake.sandbox.read_files(fake.session_id, ["claude-work/pkg/notes.md"])[0].data
    )
    assert notes["env"] == {
        "CLAUDE_CODE_USE_BEDROCK": "1",
        "ANTHROPIC_MODEL": MODEL,
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": SMALL_MODEL,
        "AWS_REGION": "us-west-2",
    }
    assert notes["args"] == [
        "-p",
        "--output-format",
        "json",
        "--allowedTools",
        "Read,Write,Edit,Glob,Grep,Bash",
        "--",
        'Write a hello world script. It\'s "quoted" & $(not expanded)',
    ]
    assert notes["cwd"].endswith("/claude-work")
    fake.sandbox.write_files(fake.session_id, [SandboxFile("claude-work/untouched.txt", b"x")])
    again = fake.run("Write it again")
    # every file the run wrote counts: same content (hello.py), same size (last.txt);
    # a file it did not touch does not
    assert again.files_written == result.files_written
    assert fake.sandbox.read_files(fake.session_id, ["claude-work/last.txt"])[0].data == b"n"


def test_a_prompt_starting_with_a_dash_is_a_prompt(fake: ClaudeCodeRunner) -> None:
    """claude would reject "- item" as an unknown option if it came before "--"."""
    result = fake.run("- list the files\n- then stop")
    assert not result.is_error and result.result


def test_written_files_skip_the_runtime_tree(fake: ClaudeCodeRunner) -> None:
    """Run in the session workspace itself (as the claude_code loop does): .bcx/ is not listed."""
    fake.sandbox.write_files(fake.session_id, [SandboxFile("kept.txt", b"old")])
    root = ClaudeCodeRunner(
        fake.sandbox,
        fake.session_id,
        model_id=MODEL,
        region="us-west-2",
        prefix=fake.prefix,
        workspace=".",
        poll_seconds=0.05,
    )
    result = root.run("Write in the workspace root")
    assert result.files_written == ("hello.py", "last.txt", "pkg/notes.md")
    assert fake.sandbox.execute_command(fake.session_id, "ls .bcx/cc-fake/cache.json").ok
    leftovers = fake.sandbox.list_files(fake.session_id, fake.prefix)
    assert not [p for p in leftovers if "prompt-" in p or ".marker" in p]


def test_run_failures_are_typed(fake: ClaudeCodeRunner) -> None:
    with pytest.raises(ClaudeCodeRunError, match="Model refused"):
        fake.run("FAIL please")
    with pytest.raises(ClaudeCodeOutputError, match="no JSON result"):
        fake.run("GARBAGE please")
    with pytest.raises(ClaudeCodeTimeoutError, match="did not finish within 1 s"):
        fake.run("SLEEP please", timeout_seconds=1)


def test_hostile_result_text_is_capped(fake: ClaudeCodeRunner) -> None:
    """Hostile cells (issue 14, §1.13): Claude Code's result text comes out of the sandbox; a
    failed run's text becomes a job's error, a finished run's the turn's answer: both capped."""
    from code_exec.claude_code.runner import RESULT_MAX_CHARS

    with pytest.raises(ClaudeCodeRunError) as failed:
        fake.run("HUGE FAIL please")
    assert len(failed.value.message) < 2_100
    assert failed.value.message.endswith("[truncated: 1000000 characters in all]")
    done = fake.run("HUGE please")
    assert len(done.result) < RESULT_MAX_CHARS + 100
    assert done.result.endswith("[truncated: 1000000 characters in all]")


def test_a_failed_run_is_not_reported_with_exit_code_0(monkeypatch: pytest.MonkeyPatch) -> None:
    """Claude Code can exit 0 and still report a failed task (``is_error``, an error subtype):
    the code run the caller sees must not say exit code 0 then."""
    from code_exec.claude_code import loop
    from code_exec.claude_code.runner import ClaudeCodeResult
    from code_exec.models import AgentRequest

    def max_turns(self: ClaudeCodeRunner, prompt: str, **_: object) -> ClaudeCodeResult:
        raw = {"type": "result", "subtype": "error_max_turns", "is_error": True, "result": ""}
        return ClaudeCodeResult(result="", is_error=True, duration_ms=1200, raw=raw)

    monkeypatch.setattr(loop.ClaudeCodeRunner, "run", max_turns)
    output, [run] = loop.run(
        AgentRequest(prompt="Refactor everything", loop="claude_code"),
        model_id=MODEL,
        sandbox=None,  # type: ignore[arg-type]
        sandbox_session_id="unused",
        region="us-east-1",
        history=[],
    )
    assert output.stop_reason == "max_turns"
    assert run.is_error
    assert run.exit_code not in (0, None)
