"""What the model on Bedrock is told about the tools that stand for code execution.

Everything is in the tool definitions (name, description, input schema), none of it in the
system prompt, so the caller's ``system`` reaches the model unchanged. The directories are
the sandbox's ``inputs/`` (uploaded files) and ``outputs/`` (files returned to the caller).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Protocol

__all__ = ["BASH_TOOL", "EDITOR_TOOL", "python_tool", "skills_text"]

_FILES = (
    "Files the user uploaded are in inputs/. Save files the user should receive (charts, "
    "reports, data) under outputs/: each one is returned to the user as a file. The working "
    "directory and its files persist for this container."
)

BASH_TOOL: dict[str, Any] = {
    "name": "bash_code_execution",
    "description": (
        "Run a bash command in a sandboxed Linux container and get its stdout, stderr and "
        "return code. Python 3 with numpy, pandas and matplotlib is installed. " + _FILES
    ),
    "input_schema": {
        "type": "object",
        "properties": {"command": {"type": "string", "description": "The bash command to run."}},
        "required": ["command"],
    },
}

EDITOR_TOOL: dict[str, Any] = {
    "name": "text_editor_code_execution",
    "description": (
        "View, create and edit text files in the sandboxed container. Commands: `view` (a "
        "file's content, or a directory listing), `create` (write file_text to path, "
        "replacing any file there), `str_replace` (replace the one occurrence of old_str "
        "with new_str). " + _FILES
    ),
    "input_schema": {
        "type": "object",
        "properties": {
            "command": {"type": "string", "enum": ["view", "create", "str_replace"]},
            "path": {"type": "string", "description": "The file (or directory, for view)."},
            "file_text": {"type": "string", "description": "create: the file's content."},
            "old_str": {"type": "string", "description": "str_replace: the text to replace."},
            "new_str": {"type": "string", "description": "str_replace: its replacement."},
            "view_range": {
                "type": "array",
                "items": {"type": "integer"},
                "description": "view: [first line, last line] (1-based; -1 = end of file).",
            },
        },
        "required": ["command", "path"],
    },
}


class _Callable(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def input_schema(self) -> dict[str, Any]: ...


def python_tool(version: str, tools: Iterable[_Callable]) -> dict[str, Any]:
    """The Python tool: a fresh run (20250522) or a persistent REPL whose tools are functions."""
    tools = list(tools)
    if version == "20250522":
        text = (
            "Run Python 3 code in a sandboxed container and get its stdout, stderr and return "
            "code. numpy, pandas and matplotlib are installed. " + _FILES
        )
    else:
        text = (
            "Run Python 3 in the container's interpreter. Variables, imports and functions "
            "persist from one call to the next; top-level `await` works. Only what the code "
            "prints comes back to you, so print results (not whole datasets). numpy, pandas "
            "and matplotlib are installed. " + _FILES
        )
    if tools:
        text += (
            "\n\nThese tools are async functions in the interpreter. Call each with ONE dict "
            "holding its input (keyword arguments also work) and await it; it returns the "
            "tool's result as a string (often JSON: use json.loads). Run independent calls "
            "in parallel with asyncio.gather. Their results reach only your code, not you: "
            "print what you need.\n"
        )
        for t in tools:
            schema = json.dumps(t.input_schema, separators=(",", ":"), sort_keys=True)
            text += f"\nasync def {t.name}(input: dict) -> str\n"
            if t.description:
                text += f"    {' '.join(t.description.split())}\n"
            text += f"    input schema: {schema}\n"
    return {
        "name": "code_execution",
        "description": text,
        "input_schema": {
            "type": "object",
            "properties": {"code": {"type": "string", "description": "The Python code to run."}},
            "required": ["code"],
        },
    }


def skills_text(skills: Iterable[tuple[str, str, str]]) -> str:
    """What the model is told of the container's skills (name, description, directory): only
    enough to know when one applies; it reads the skill's SKILL.md when it does (progressive
    disclosure, as Anthropic's skills work)."""
    lines = [
        "\n\nSkills are installed in the container. Each is a folder of instructions, scripts "
        "and resources. When a task matches a skill's description, first read its SKILL.md "
        "(`cat <location>`) and follow it; read other files of the skill only "
        "as SKILL.md points to them.\n<skills>"
    ]
    for name, description, directory in skills:
        lines.append(
            f"<skill><name>{name}</name><description>{' '.join(description.split())}"
            f"</description><location>{directory}/SKILL.md</location></skill>"
        )
    lines.append("</skills>")
    return "\n".join(lines)
