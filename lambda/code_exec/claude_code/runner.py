"""Install and run Claude Code (headless) inside a sandbox session.

- :meth:`ClaudeCodeRunner.install` sends ``sandbox_assets/install_claude_code.sh`` and runs it
  as a background task: a pinned ``@anthropic-ai/claude-code`` (plus Node.js when missing),
  cached per session by a marker file. It needs the interpreter's PUBLIC network mode.
- :meth:`ClaudeCodeRunner.run` runs ``claude -p --output-format json ... -- <prompt>``
  in a workspace directory with a time limit, on Bedrock with the execution role's
  credentials (``CLAUDE_CODE_USE_BEDROCK=1``, ``AWS_REGION``; no keys are passed). The model
  is ``ANTHROPIC_MODEL``; the ``sonnet`` and ``opus`` aliases are pinned to it and the
  small/fast (``haiku``, background) model to ``small_model_id`` with
  ``ANTHROPIC_DEFAULT_*_MODEL`` (Claude Code's documented names), so no alias resolves to a
  model the sandbox role may not invoke. It returns the parsed JSON result plus the files
  it wrote: every file under the workspace whose inode changed after a marker made just
  before the run (``find -cnewer``, one ``executeCommand``), so a same-size rewrite counts
  and preserved mtimes do not hide a file. The ``.bcx/`` tree (the runtime, Claude Code's
  own install) is never listed.

Every failure is a typed error: no network, install failure, timeout, non-zero exit, bad JSON.
"""

from __future__ import annotations

import json
import logging
import posixpath
import re
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from code_exec.exceptions import SandboxError, SandboxTimeoutError
from code_exec.ptc import asset_path
from code_exec.sandbox import SandboxClient, SandboxFile, TaskStatus

__all__ = [
    "CLAUDE_CODE_VERSION",
    "ERROR_MAX_CHARS",
    "RESULT_MAX_CHARS",
    "ClaudeCodeError",
    "ClaudeCodeInstallError",
    "ClaudeCodeNoNetworkError",
    "ClaudeCodeOutputError",
    "ClaudeCodeResult",
    "ClaudeCodeRunError",
    "ClaudeCodeRunner",
    "ClaudeCodeTimeoutError",
]

logger = logging.getLogger(__name__)

CLAUDE_CODE_VERSION = "2.1.328"
NODE_VERSION = "22.12.0"
DEFAULT_ALLOWED_TOOLS = ("Read", "Write", "Edit", "Glob", "Grep", "Bash")
# Claude Code's result text comes out of the sandbox: the answer (a job's stored result,
# under Step Functions' 256 KB) and a failed run's error are capped.
RESULT_MAX_CHARS = 100_000
ERROR_MAX_CHARS = 2_000
_PREFIX = ".bcx/claude-code"
_INSTALLER = ".bcx/install_claude_code.sh"
_TIMEOUT_EXIT = 124
_RUNTIME_DIR = ".bcx"  # never reported as written: the runtime and this install live there
_ERROR_LINE = re.compile(r"^BCX_ERROR=(\w+): (.*)$", re.M)


class ClaudeCodeError(SandboxError):
    """Claude Code could not be installed or run in the sandbox."""

    status, code = 502, "ClaudeCodeError"


class ClaudeCodeInstallError(ClaudeCodeError):
    code = "ClaudeCodeInstallFailed"


class ClaudeCodeNoNetworkError(ClaudeCodeInstallError):
    """The sandbox cannot reach npm / nodejs.org (the interpreter is not in PUBLIC mode)."""

    code = "ClaudeCodeNoNetwork"


class ClaudeCodeRunError(ClaudeCodeError):
    """``claude`` exited non-zero."""

    code = "ClaudeCodeRunFailed"


class ClaudeCodeOutputError(ClaudeCodeError):
    """``claude`` printed something that is not its JSON result."""

    code = "ClaudeCodeBadOutput"


class ClaudeCodeTimeoutError(SandboxTimeoutError, ClaudeCodeError):
    code = "ClaudeCodeTimeout"


@dataclass(frozen=True)
class ClaudeCodeResult:
    """The parsed ``--output-format json`` result, and the files the run created or changed."""

    result: str
    is_error: bool
    duration_ms: int | None = None
    num_turns: int | None = None
    total_cost_usd: float | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    session_id: str | None = None
    files_written: tuple[str, ...] = ()
    stderr: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


class ClaudeCodeRunner:
    """Claude Code in one sandbox session."""

    def __init__(
        self,
        sandbox: SandboxClient,
        session_id: str,
        *,
        model_id: str,
        region: str,
        small_model_id: str = "",
        version: str = CLAUDE_CODE_VERSION,
        workspace: str = "claude-work",
        prefix: str = _PREFIX,
        poll_seconds: float = 0.5,
    ) -> None:
        self.sandbox, self.session_id = sandbox, session_id
        self.model_id, self.region, self.version = model_id, region, version
        self.small_model_id = small_model_id or model_id
        self.workspace, self.prefix = workspace.strip("/") or ".", prefix.rstrip("/")
        self.poll_seconds = poll_seconds

    # --- commands (pure: what is sent into the sandbox) ------------------------------------

    def install_command(self) -> str:
        return " ".join(
            shlex.quote(a) for a in ("bash", _INSTALLER, self.version, self.prefix, NODE_VERSION)
        )

    def run_command(
        self,
        prompt_file: str,
        *,
        allowed_tools: Sequence[str],
        timeout_seconds: int,
        max_turns: int | None = None,
    ) -> str:
        """The shell command that runs Claude Code headless in the workspace."""
        env = {
            "CLAUDE_CODE_USE_BEDROCK": "1",
            "ANTHROPIC_MODEL": self.model_id,
            "ANTHROPIC_DEFAULT_SONNET_MODEL": self.model_id,
            "ANTHROPIC_DEFAULT_OPUS_MODEL": self.model_id,
            "ANTHROPIC_DEFAULT_HAIKU_MODEL": self.small_model_id,
            "AWS_REGION": self.region,
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        }
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        args = ["--output-format", "json", "--allowedTools", ",".join(allowed_tools)]
        if max_turns:
            args += ["--max-turns", str(max_turns)]
        q = shlex.quote
        # The prompt goes last, after "--": claude's option parser would otherwise take a
        # prompt starting with "-" (a Markdown list) for an unknown option and exit.
        return (
            f'P="$(cd {q(self.prefix)} && pwd)" && mkdir -p {q(self.workspace)} && '
            f'export PATH="$P/bin:$P/node/bin:$PATH" {exports} && '
            f'PROMPT="$(cat {q(prompt_file)})" && cd {q(self.workspace)} && '
            f"timeout --kill-after=10 {int(timeout_seconds)} claude -p "
            + " ".join(q(a) for a in args)
            + ' -- "$PROMPT" < /dev/null'
        )

    # --- install and run ---------------------------------------------------------------------

    def install(self, *, timeout_seconds: float = 900) -> None:
        """Install the pinned Claude Code (no-op when this session already has it)."""
        script = asset_path("install_claude_code.sh").read_bytes()
        self.sandbox.write_files(self.session_id, [SandboxFile(_INSTALLER, script)])
        status = self._run_task(self.install_command(), timeout_seconds, what="install")
        if status.exit_code == 0:
            logger.info("claude-code %s ready in session %s", self.version, self.session_id)
            return
        output = (status.stdout + status.stderr).strip()
        match = _ERROR_LINE.search(output)
        kind, message = match.groups() if match else ("install", output[-800:])
        if kind == "no_network" or status.exit_code == 10:
            raise ClaudeCodeNoNetworkError(f"Claude Code install failed: {message}")
        raise ClaudeCodeInstallError(
            f"Claude Code {self.version} install failed ({kind}, exit {status.exit_code}): "
            f"{message}"
        )

    def run(
        self,
        prompt: str,
        *,
        allowed_tools: Sequence[str] = DEFAULT_ALLOWED_TOOLS,
        timeout_seconds: int = 600,
        max_turns: int | None = None,
        install: bool = True,
    ) -> ClaudeCodeResult:
        """Run one headless Claude Code task; return its result and the files it wrote."""
        if install:
            self.install()
        marker = self._start_marker()
        prompt_file = f"{self.prefix}/prompt-{time.time_ns()}.txt"
        self.sandbox.write_files(self.session_id, [SandboxFile(prompt_file, prompt.encode())])
        command = self.run_command(
            prompt_file,
            allowed_tools=allowed_tools,
            timeout_seconds=timeout_seconds,
            max_turns=max_turns,
        )
        try:
            status = self._run_task(command, timeout_seconds + 30, what="run")
            written = self._written_since(marker)
        finally:
            self.sandbox.execute_command(
                self.session_id, f"rm -f {shlex.quote(prompt_file)} {shlex.quote(marker)}"
            )
        if status.exit_code == _TIMEOUT_EXIT:
            raise ClaudeCodeTimeoutError(f"Claude Code did not finish within {timeout_seconds} s")
        raw = _parse_json_result(status.stdout)
        if status.exit_code == 127 and raw is None:
            raise ClaudeCodeInstallError(f"claude is not installed: {status.stderr.strip()[-300:]}")
        if status.exit_code != 0:
            detail = (raw or {}).get("result") or (status.stderr or status.stdout).strip()[-800:]
            detail = _capped(str(detail), ERROR_MAX_CHARS)  # it becomes a job's error
            raise ClaudeCodeRunError(f"Claude Code exited with {status.exit_code}: {detail}")
        if raw is None:
            raise ClaudeCodeOutputError(
                f"Claude Code printed no JSON result: {status.stdout.strip()[-300:]!r}"
            )
        return ClaudeCodeResult(
            result=_capped(str(raw.get("result") or ""), RESULT_MAX_CHARS),
            is_error=bool(raw.get("is_error")) or raw.get("subtype") not in (None, "success"),
            duration_ms=raw.get("duration_ms"),
            num_turns=raw.get("num_turns"),
            total_cost_usd=raw.get("total_cost_usd", raw.get("cost_usd")),
            usage=dict(raw.get("usage") or {}),
            session_id=raw.get("session_id"),
            files_written=tuple(written),
            stderr=status.stderr,
            raw=raw,
        )

    # --- helpers -----------------------------------------------------------------------------

    def _run_task(self, command: str, timeout_seconds: float, *, what: str) -> TaskStatus:
        task_id = self.sandbox.start_command(self.session_id, command)
        deadline = time.monotonic() + timeout_seconds
        while True:
            status = self.sandbox.get_task(self.session_id, task_id)
            if status.done:
                if status.exit_code is None:
                    return TaskStatus(
                        status.task_id, status.status, status.stdout, status.stderr, 1
                    )
                return status
            if time.monotonic() > deadline:
                self.sandbox.stop_task(self.session_id, task_id)
                raise ClaudeCodeTimeoutError(
                    f"Claude Code {what} did not finish within {timeout_seconds:g} s"
                )
            time.sleep(self.poll_seconds)

    def _start_marker(self) -> str:
        """Create the workspace and a fresh marker file (before the run); return its path."""
        marker = f"{self.prefix}/run-{time.time_ns()}.marker"
        q = shlex.quote
        made = self.sandbox.execute_command(
            self.session_id, f"mkdir -p {q(self.workspace)} {q(self.prefix)} && : > {q(marker)}"
        )
        if not made.ok:
            raise ClaudeCodeError(f"cannot prepare the workspace: {made.stderr.strip()[-300:]}")
        return marker

    def _written_since(self, marker: str) -> list[str]:
        """Files under the workspace created or rewritten since ``marker`` was made.

        ``-cnewer``: the inode change time moves on every write, rename and ``touch -d``,
        so same-size rewrites count and archives extracted with old mtimes do too.
        """
        q = shlex.quote
        skip = [f"./{_RUNTIME_DIR}"]
        inside = posixpath.relpath(posixpath.normpath(self.prefix), self.workspace)
        if not inside.startswith(".."):
            skip.append(f"./{inside}")
        prune = " -o ".join(f"-path {q(p)}" for p in skip)
        listing = self.sandbox.execute_command(
            self.session_id,
            f'M="$(pwd)/"{q(marker)} && cd {q(self.workspace)} && '
            f'find . \\( {prune} \\) -prune -o -type f -cnewer "$M" -print0',
        )
        if not listing.ok:
            raise ClaudeCodeError(f"cannot list written files: {listing.stderr.strip()[-300:]}")
        out = listing.stdout
        names = out.split("\0") if "\0" in out else out.splitlines()
        base = "" if self.workspace == "." else f"{self.workspace}/"
        return sorted(base + n.removeprefix("./") for n in names if n)


def _capped(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying so (it came out of the sandbox)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n[truncated: {len(text)} characters in all]"


def _parse_json_result(stdout: str) -> dict[str, Any] | None:
    """The JSON result object (the whole output, or its last JSON line)."""
    text = stdout.strip()
    candidates = [text, *reversed([ln for ln in text.splitlines() if ln.startswith("{")])]
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict) and ("result" in value or value.get("type") == "result"):
            return value
    return None
