"""The text editor of ``/v1/messages`` code execution, run INSIDE the sandbox (stdlib only).

``python3 -c <this file> <request>`` where the request is base64 of a JSON object
``{"command": "view"|"create"|"str_replace", "path", ...}`` or ``@<file>`` holding that JSON
(for large ``file_text``; the file is removed). It prints one JSON object:
``{"content": <Anthropic result content>}`` — a ``text_editor_code_execution_*_result`` or a
``text_editor_code_execution_tool_result_error``. Running in the sandbox, as the code's own
user and working directory, it sees exactly the files the code sees (absolute paths included).
"""

from __future__ import annotations

import base64
import json
import os
import sys
from typing import Any

__all__ = ["handle", "main"]

_IMAGES = {".png": "image", ".jpg": "image", ".jpeg": "image", ".gif": "image", ".webp": "image"}
_MAX_VIEW = 500_000  # characters of a file returned by view


def _error(code: str, message: str) -> dict[str, Any]:
    return {
        "type": "text_editor_code_execution_tool_result_error",
        "error_code": code,
        "error_message": message,
    }


def _count_lines(text: str) -> int:
    return text.count("\n") + (0 if text.endswith("\n") or not text else 1)


def _view(path: str, view_range: Any) -> dict[str, Any]:
    if os.path.isdir(path):
        entries = []
        for root, dirs, files in os.walk(path):
            depth = root[len(path) :].count(os.sep)
            dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if depth < 1 else []
            for name in sorted(files):
                if not name.startswith("."):
                    entries.append(os.path.relpath(os.path.join(root, name), path))
        listing = "\n".join(entries)
        return _view_result(listing, "text", 1, _count_lines(listing))
    if not os.path.isfile(path):
        return _error("file_not_found", f"The path {path} does not exist.")
    kind = _IMAGES.get(os.path.splitext(path)[1].lower()) or (
        "pdf" if path.lower().endswith(".pdf") else "text"
    )
    with open(path, "rb") as fh:
        data = fh.read()
    if kind != "text":
        encoded = base64.b64encode(data).decode()
        return _view_result(encoded, kind, 1, 1)
    text = data.decode("utf-8", errors="replace")
    total = _count_lines(text)
    start = 1
    if view_range:
        if (
            not isinstance(view_range, list)
            or len(view_range) != 2
            or not all(isinstance(v, int) for v in view_range)
        ):
            return _error("invalid_tool_input", "view_range must be [first_line, last_line]")
        first, last = view_range
        lines = text.splitlines(keepends=True)
        last = len(lines) if last == -1 else last
        if first < 1 or last < first or first > max(len(lines), 1):
            return _error("invalid_tool_input", f"view_range {view_range} is outside 1..{total}")
        text, start = "".join(lines[first - 1 : last]), first
    return _view_result(text[:_MAX_VIEW], "text", start, total)


def _view_result(content: str, file_type: str, start: int, total: int) -> dict[str, Any]:
    return {
        "type": "text_editor_code_execution_view_result",
        "file_type": file_type,
        "content": content,
        "num_lines": _count_lines(content) if file_type == "text" else 1,
        "start_line": start,
        "total_lines": total,
    }


def _create(path: str, file_text: Any) -> dict[str, Any]:
    if not isinstance(file_text, str):
        return _error("invalid_tool_input", "create needs file_text (a string)")
    existed = os.path.exists(path)
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(file_text)
    return {"type": "text_editor_code_execution_create_result", "is_file_update": existed}


def _str_replace(path: str, old: Any, new: Any) -> dict[str, Any]:
    if not isinstance(old, str) or not old or not isinstance(new, str):
        return _error("invalid_tool_input", "str_replace needs old_str (non-empty) and new_str")
    if not os.path.isfile(path):
        return _error("file_not_found", f"The path {path} does not exist.")
    with open(path, encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    count = text.count(old)
    if count == 0:
        return _error("invalid_tool_input", f"old_str was not found in {path}.")
    if count > 1:
        return _error(
            "invalid_tool_input", f"old_str occurs {count} times in {path}; make it unique."
        )
    at = text.index(old)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text[:at] + new + text[at + len(old) :])
    start = text[:at].count("\n") + 1
    old_lines, new_lines = old.split("\n"), new.split("\n")
    return {
        "type": "text_editor_code_execution_str_replace_result",
        "old_start": start,
        "old_lines": len(old_lines),
        "new_start": start,
        "new_lines": len(new_lines),
        "lines": [f"-{line}" for line in old_lines] + [f"+{line}" for line in new_lines],
    }


def handle(request: dict[str, Any]) -> dict[str, Any]:
    """One editor command -> its result content (errors are results, never exceptions)."""
    command, path = request.get("command"), request.get("path")
    if not isinstance(path, str) or not path:
        return _error("invalid_tool_input", "path is required")
    try:
        if command == "view":
            return _view(path, request.get("view_range"))
        if command == "create":
            return _create(path, request.get("file_text"))
        if command == "str_replace":
            return _str_replace(path, request.get("old_str"), request.get("new_str"))
    except IsADirectoryError:
        return _error("invalid_tool_input", f"{path} is a directory")
    except OSError as e:
        return _error("unavailable", f"{type(e).__name__}: {e.strerror or e}")
    return _error(
        "invalid_tool_input", f"unknown command {command!r}; use view, create or str_replace"
    )


def main(argv: list[str]) -> int:
    arg = argv[1] if len(argv) > 1 else ""
    if arg.startswith("@"):
        with open(arg[1:], encoding="utf-8") as fh:
            request = json.load(fh)
        os.remove(arg[1:])
    else:
        request = json.loads(base64.b64decode(arg))
    print(json.dumps({"content": handle(request)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
