"""The ``claude_code`` loop: hand the prompt to Claude Code running inside the session's sandbox.

Claude Code (installed and run by :mod:`code_exec.claude_code.runner`) is its own agent: it
calls Bedrock from inside the sandbox with the interpreter's execution role and works
in the session's workspace, where the API layer put ``inputs/`` and from where it
collects ``outputs/``. This loop maps its JSON result onto the common ``AgentResult``
shape: final text, one code run (the ``claude`` command, its output and duration),
stop reason, and the token usage it reports (one aggregate entry).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from code_exec.claude_code.runner import ClaudeCodeRunner
from code_exec.file_transfer import INPUTS_DIR, OUTPUTS_DIR
from code_exec.loops.common import ANTHROPIC_USAGE, LoopOutput, StopReason, model_usage
from code_exec.models import AgentRequest, CodeRun, ModelUsage
from code_exec.sandbox import SandboxClient

__all__ = ["WORKSPACE", "claude_code_prompt", "run"]

logger = logging.getLogger(__name__)

WORKSPACE = "."  # the session workspace: inputs/ and outputs/ are where the API layer expects
_SUBTYPES = {"success": StopReason.END_TURN, "error_max_turns": StopReason.MAX_TURNS}


def claude_code_prompt(request: AgentRequest) -> str:
    """The task as Claude Code gets it: the prompt plus where files are."""
    parts = []
    if request.system:
        parts.append(request.system.strip())
    parts.append(request.prompt.strip())
    parts.append(
        f"Input files, if any, are in ./{INPUTS_DIR}/. Save every file you want to hand "
        f"back under ./{OUTPUTS_DIR}/."
    )
    return "\n\n".join(parts)


def run(
    request: AgentRequest,
    *,
    model_id: str,
    sandbox: SandboxClient,
    small_model_id: str = "",
    sandbox_session_id: str,
    region: str,
    history: list[dict[str, Any]],
    clock: Callable[[], float] = time.monotonic,
) -> tuple[LoopOutput, list[CodeRun]]:
    """Run Claude Code once for this turn; return the common loop output and its code run.

    Args:
        request: The turn (prompt, system text, limits).
        model_id: The Bedrock model Claude Code uses (must be one the sandbox role may invoke).
        small_model_id: Its small/fast model for background work ("" for ``model_id``).
        sandbox: The sandbox client; ``sandbox_session_id`` is a started session.
        region: The Bedrock region Claude Code calls from inside the sandbox.
        history: The session's conversation so far (Anthropic format).
        clock: Monotonic seconds, for the run's duration when Claude Code reports none.
    """
    runner = ClaudeCodeRunner(
        sandbox,
        sandbox_session_id,
        model_id=model_id,
        small_model_id=small_model_id,
        region=region,
        workspace=WORKSPACE,
    )
    prompt = claude_code_prompt(request)
    start = clock()
    result = runner.run(
        prompt,
        timeout_seconds=request.limits.wall_time_seconds,
        max_turns=request.limits.max_turns,
    )
    duration_ms = float(result.duration_ms or (clock() - start) * 1000.0)
    code_run = CodeRun(
        code=f"claude -p <prompt> --output-format json  # Claude Code, model {model_id}",
        stdout=result.result,
        stderr=result.stderr,
        # The runner returns only runs whose process exited 0; one that still reports a
        # failed task (is_error, an error subtype) is a failed run, never exit code 0.
        exit_code=1 if result.is_error else 0,
        is_error=result.is_error,
        duration_ms=duration_ms,
    )
    subtype = str(result.raw.get("subtype") or "success")
    stop = _SUBTYPES.get(subtype, subtype)
    history = [
        *history,
        {"role": "user", "content": [{"type": "text", "text": request.prompt}]},
        {"role": "assistant", "content": [{"type": "text", "text": result.result}]},
    ]
    logger.info(
        "claude code done: stop=%s turns=%s files=%d",
        stop,
        result.num_turns,
        len(result.files_written),
    )
    output = LoopOutput(
        text=result.result, stop_reason=stop, usage=_usage(result.usage, model_id), history=history
    )
    return output, [code_run]


def _usage(usage: dict[str, Any], model_id: str) -> list[ModelUsage]:
    return [model_usage(usage, model_id, ANTHROPIC_USAGE)] if usage else []
