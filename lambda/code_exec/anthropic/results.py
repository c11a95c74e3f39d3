"""Server tool result blocks in Anthropic's exact shapes, and what the model reads of them.

The client receives ``bash_code_execution_tool_result`` / ``text_editor_code_execution_tool_result``
/ ``code_execution_tool_result`` blocks (``content`` always present on results, as the SDK's
strict validation requires); the model on Bedrock receives the same outcome as the text of a
``tool_result``, rendered by :func:`render`. Both come from the one result block, so a history
the client sends back renders exactly as the model first saw it.

A run's output is the sandbox's, so attacker-controlled: :func:`run_result` caps stdout and
stderr together at what ``/invoke`` lets the model see of a run
(:data:`code_exec.loops.toolbox.DEFAULT_OUTPUT_LIMIT`, head and tail kept with a note), so
neither the client, the container's stored state nor every later model call carries more.
"""

from __future__ import annotations

from typing import Any

from code_exec.anthropic import tool_search
from code_exec.anthropic.ids import bedrock_tool_id
from code_exec.anthropic.tools import BASH, CODE_EXECUTION, EDITOR
from code_exec.loops.toolbox import DEFAULT_OUTPUT_LIMIT, truncate

__all__ = [
    "ERROR_CODES",
    "RESULT_TYPES",
    "cap_output",
    "editor_create",
    "editor_error",
    "editor_str_replace",
    "editor_view",
    "model_result",
    "render",
    "result_block",
    "run_error",
    "run_result",
]

RESULT_TYPES = {
    BASH: "bash_code_execution_tool_result",
    EDITOR: "text_editor_code_execution_tool_result",
    CODE_EXECUTION: "code_execution_tool_result",
    **dict.fromkeys(tool_search.NAMES, "tool_search_tool_result"),
}
_RUN_TYPES = {BASH: "bash_code_execution", CODE_EXECUTION: "code_execution"}
_COMMON_ERRORS = (
    "invalid_tool_input",
    "unavailable",
    "too_many_requests",
    "execution_time_exceeded",
)
ERROR_CODES = {
    CODE_EXECUTION: _COMMON_ERRORS,
    BASH: (*_COMMON_ERRORS, "output_file_too_large"),
    EDITOR: (*_COMMON_ERRORS, "file_not_found"),
}


def result_block(name: str, tool_use_id: str, content: dict[str, Any]) -> dict[str, Any]:
    """The result block answering the server tool use ``tool_use_id``."""
    return {"type": RESULT_TYPES[name], "tool_use_id": tool_use_id, "content": content}


def run_result(
    name: str, stdout: str, stderr: str, return_code: int, file_ids: list[str]
) -> dict[str, Any]:
    """A finished bash command or Python cell (``content`` lists the files it wrote); its
    output capped (:func:`cap_output`)."""
    kind = _RUN_TYPES[name]
    stdout, stderr = cap_output(stdout, stderr)
    return {
        "type": f"{kind}_result",
        "stdout": stdout,
        "stderr": stderr,
        "return_code": return_code,
        "content": [{"type": f"{kind}_output", "file_id": f} for f in file_ids],
    }


def cap_output(stdout: str, stderr: str, limit: int = DEFAULT_OUTPUT_LIMIT) -> tuple[str, str]:
    """``stdout`` and ``stderr`` within ``limit`` characters together (each cut keeps its head
    and tail, with a note); stderr keeps at least a quarter when both are long."""
    if len(stdout) + len(stderr) <= limit:
        return stdout, stderr
    err_limit = max(limit // 4, limit - len(stdout))
    out_limit = limit - min(len(stderr), err_limit)  # >= len(stdout) when stdout is short
    return truncate(stdout, out_limit), truncate(stderr, err_limit)


def run_error(name: str, error_code: str) -> dict[str, Any]:
    """A bash command or Python cell that could not run (one of :data:`ERROR_CODES`)."""
    assert error_code in ERROR_CODES[name], error_code
    return {"type": f"{_RUN_TYPES[name]}_tool_result_error", "error_code": error_code}


def editor_view(content: str, *, file_type: str = "text", start_line: int = 1) -> dict[str, Any]:
    lines = content.count("\n") + (0 if content.endswith("\n") or not content else 1)
    return {
        "type": "text_editor_code_execution_view_result",
        "file_type": file_type,
        "content": content,
        "num_lines": lines,
        "start_line": start_line,
        "total_lines": lines,
    }


def editor_create(is_file_update: bool) -> dict[str, Any]:
    return {"type": "text_editor_code_execution_create_result", "is_file_update": is_file_update}


def editor_str_replace(
    old_start: int, old_lines: int, new_start: int, new_lines: int, lines: list[str]
) -> dict[str, Any]:
    return {
        "type": "text_editor_code_execution_str_replace_result",
        "old_start": old_start,
        "old_lines": old_lines,
        "new_start": new_start,
        "new_lines": new_lines,
        "lines": lines,
    }


def editor_error(error_code: str, message: str | None = None) -> dict[str, Any]:
    assert error_code in ERROR_CODES[EDITOR], error_code
    out: dict[str, Any] = {
        "type": "text_editor_code_execution_tool_result_error",
        "error_code": error_code,
    }
    if message:
        out["error_message"] = message
    return out


def model_result(block: dict[str, Any]) -> dict[str, Any]:
    """The ``tool_result`` that stands for the result block ``block`` in what the model on
    Bedrock reads: the block's :func:`render` text, answering the stand-in tool use."""
    text, is_error = render(block)
    result: dict[str, Any] = {
        "type": "tool_result",
        "tool_use_id": bedrock_tool_id(block["tool_use_id"]),
        "content": [{"type": "text", "text": text}],
    }
    if is_error:
        result["is_error"] = True
    return result


def render(block: dict[str, Any]) -> tuple[str, bool]:
    """The ``tool_result`` text (and error flag) the model reads for a result block."""
    content = block.get("content") or {}
    kind = str(content.get("type", ""))
    if kind.endswith("_tool_result_error"):
        message = content.get("error_message")
        code = content.get("error_code", "unavailable")
        return (f"error: {code}: {message}" if message else f"error: {code}"), True
    if kind in ("code_execution_result", "bash_code_execution_result"):
        parts = []
        if content.get("stdout"):
            parts.append(str(content["stdout"]).rstrip("\n"))
        if content.get("stderr"):
            parts.append("stderr:\n" + str(content["stderr"]).rstrip("\n"))
        if content.get("return_code"):
            parts.append(f"return code: {content['return_code']}")
        return "\n".join(parts) or "(no output; return code 0)", False
    if kind == "tool_search_tool_search_result":
        return tool_search.render(content), False
    if kind == "text_editor_code_execution_view_result":
        if content.get("file_type", "text") != "text":
            return f"({content.get('file_type')} file; its content is not shown as text)", False
        return str(content.get("content", "")) or "(empty file)", False
    if kind == "text_editor_code_execution_create_result":
        return ("File updated." if content.get("is_file_update") else "File created."), False
    if kind == "text_editor_code_execution_str_replace_result":
        head = (
            f"Replaced lines {content.get('old_start')}-"
            f"{int(content.get('old_start') or 0) + int(content.get('old_lines') or 0) - 1}:"
        )
        return "\n".join([head, *[str(x) for x in content.get("lines") or []]]), False
    return "(result not shown)", False
