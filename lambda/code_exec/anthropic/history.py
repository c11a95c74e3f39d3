"""The client's conversation, as the model on Bedrock must see it.

Anthropic's wire puts a server tool's use and its result in the same assistant message; the
model on Bedrock knows them as a client ``tool_use`` answered by a ``tool_result`` in the next
user message. So an assistant message is split at each result:

    assistant [text, server_tool_use A, bash result A, text]
    -> assistant [text, tool_use A]   user [tool_result A]   assistant [text]

Calls made from code (``tool_use`` with a ``code_execution_*`` caller) and the client's
``tool_result`` for them are dropped: they were never the model's, and their results must
not reach it (only what the code printed does, in the code execution result). So are web
tool calls made from code (``server_tool_use`` with such a caller, dynamic filtering) and
their ``web_*_tool_result`` blocks. Messages left
empty are dropped and neighbours of one role merged, so roles alternate as Bedrock requires.

A server tool use with no result yet (a turn paused by ``pause_turn``, or one that ended on a
client tool call) is reported in :attr:`History.unanswered`: the turn runs it before it calls
the model again, and :meth:`History.answer` puts the results where Bedrock expects them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from code_exec.anthropic import tool_search, wire
from code_exec.anthropic.ids import bedrock_tool_id, server_tool_id
from code_exec.anthropic.results import model_result
from code_exec.anthropic.tools import SERVER_TOOL_NAMES
from code_exec.anthropic.web_direct import model_result as web_model_result
from code_exec.anthropic.web_tools import WEB_NAMES, bedrock_citation
from code_exec.exceptions import RequestValidationError

__all__ = ["History", "ServerUse", "convert"]


@dataclass(frozen=True)
class ServerUse:
    """A server tool use from the client's history (or from a model reply)."""

    id: str  # srvtoolu_...
    name: str
    input: dict[str, Any]


@dataclass
class History:
    """The conversation for Bedrock, and what the last turn left open."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    unanswered: list[ServerUse] = field(default_factory=list)  # in the last assistant turn
    programmatic_results: dict[str, wire.ToolResultBlock] = field(default_factory=dict)
    other_last_content: bool = False  # the last user message has more than tool results
    uploads: list[str] = field(default_factory=list)  # container_upload file ids, in order
    # the text block standing for each container_upload block, by file id
    _upload_blocks: list[tuple[str, dict[str, Any]]] = field(default_factory=list, repr=False)

    @staticmethod
    def open_in(messages: list[dict[str, Any]], index: int) -> set[str]:
        """Server tool use ids (``srvtoolu_``) in Bedrock message ``index``."""
        if index < 0:
            return set()
        return {
            server_tool_id(b["id"])
            for b in messages[index]["content"]
            if b.get("type") == "tool_use" and b.get("name") in SERVER_TOOL_NAMES | WEB_NAMES
        }

    def describe_uploads(self, text: Callable[[str], str]) -> None:
        """Say what the model reads for each ``container_upload`` block (``text`` of its file
        id): known only once the files are in the container, after the history is checked."""
        for file_id, block in self._upload_blocks:
            block["text"] = text(file_id)

    def answer(self, results: list[dict[str, Any]]) -> None:
        """Add ``tool_result`` blocks for the last assistant turn's open tool uses."""
        if not results:
            return
        last = self.messages[-1] if self.messages else None
        if last is not None and last["role"] == "user":
            last["content"] = [*results, *last["content"]]  # results come first
        else:
            self.messages.append({"role": "user", "content": list(results)})


def _dump(block: Any) -> dict[str, Any]:
    return dict(block.model_dump(exclude_none=True))


def _text(block: wire.TextBlock, where: str = "messages") -> dict[str, Any]:
    out = _dump(block)
    if not out.get("citations"):
        out.pop("citations", None)
    else:  # web search citations back in the shape the model wrote them
        out["citations"] = [
            bedrock_citation(c, f"{where}.citations.{i}") for i, c in enumerate(out["citations"])
        ]
    return out


def _tool_result(block: wire.ToolResultBlock) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "tool_result", "tool_use_id": block.tool_use_id}
    if isinstance(block.content, list):  # a client's own tool search: references as text
        out["content"] = [
            tool_search.tool_reference_text(b) if b.get("type") == "tool_reference" else b
            for b in block.content
        ]
    elif block.content is not None:
        out["content"] = block.content
    if block.is_error:
        out["is_error"] = True
    if block.cache_control is not None:
        out["cache_control"] = block.cache_control.model_dump(exclude_none=True)
    return out


def _forwarded(block: Any, where: str) -> dict[str, Any]:
    out = _dump(block)
    source = out.get("source")
    if isinstance(source, dict) and source.get("type") == "file":
        raise RequestValidationError(
            "file sources are not supported on this deployment; send the file as base64, "
            "or give it to code execution with a container_upload block",
            field=f"{where}.source",
        )
    return out


class _Builder:
    """Appends blocks by role, merging neighbours of one role."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def add(self, role: str, block: dict[str, Any]) -> None:
        if not self.messages or self.messages[-1]["role"] != role:
            self.messages.append({"role": role, "content": []})
        self.messages[-1]["content"].append(block)


def convert(messages: list[wire.Message]) -> History:
    """The Bedrock conversation for the client's ``messages`` (see the module docstring).

    A ``container_upload`` block becomes a text block that :meth:`History.describe_uploads`
    fills in.

    Args:
        messages: The request's messages, validated.

    Raises:
        RequestValidationError: a block that cannot be where it is (naming it).
    """
    programmatic = {
        b.id
        for m in messages
        if m.role == "assistant"
        for b in m.blocks()
        if isinstance(b, wire.ToolUseBlock | wire.ServerToolUseBlock)
        and b.caller
        and b.caller.type != "direct"
    }
    answered = {
        b.tool_use_id
        for m in messages
        for b in m.blocks()
        if isinstance(b, wire.ServerResultBlock | wire.WebResultBlock)
    }
    history = History()
    out = _Builder()
    for i, message in enumerate(messages):
        last = i == len(messages) - 1
        for j, block in enumerate(message.blocks()):
            where = f"messages.{i}.content.{j}"
            if message.role == "user":
                _user_block(block, where, out, history, programmatic, last)
            else:
                _assistant_block(block, where, out, history, programmatic, answered)
    last_assistant = max(
        (k for k, m in enumerate(out.messages) if m["role"] == "assistant"), default=-1
    )
    for use in history.unanswered:
        if use.id not in history.open_in(out.messages, last_assistant):
            raise RequestValidationError(
                f"server_tool_use {use.id!r} has no result; only the last assistant turn may "
                "end on an unanswered server tool use",
                field="messages",
            )
    history.messages = out.messages
    return history


def _user_block(
    block: Any,
    where: str,
    out: _Builder,
    history: History,
    programmatic: set[str],
    last: bool,
) -> None:
    if isinstance(block, wire.ToolResultBlock):
        if block.tool_use_id in programmatic:
            if last:
                history.programmatic_results[block.tool_use_id] = block
            return
        out.add("user", _tool_result(block))
        return
    if last:
        history.other_last_content = True
    if isinstance(block, wire.TextBlock):
        out.add("user", _text(block))
    elif isinstance(block, wire.ImageBlock | wire.DocumentBlock | wire.SearchResultBlock):
        out.add("user", _forwarded(block, where))
    elif isinstance(block, wire.ContainerUploadBlock):
        history.uploads.append(block.file_id)
        text = {"type": "text", "text": f"[file {block.file_id}]"}
        history._upload_blocks.append((block.file_id, text))
        out.add("user", text)
    else:
        raise RequestValidationError(
            f"a {block.type} block cannot be in a user message", field=f"{where}.type"
        )


def _assistant_block(
    block: Any,
    where: str,
    out: _Builder,
    history: History,
    programmatic: set[str],
    answered: set[str],
) -> None:
    if isinstance(block, wire.TextBlock):
        out.add("assistant", _text(block, where))
    elif isinstance(block, wire.ThinkingBlock | wire.RedactedThinkingBlock):
        out.add("assistant", _dump(block))
    elif isinstance(block, wire.ToolUseBlock):
        if block.id in programmatic:
            return
        use = {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
        if block.cache_control is not None:
            use["cache_control"] = block.cache_control.model_dump(exclude_none=True)
        out.add("assistant", use)
    elif isinstance(block, wire.ServerToolUseBlock | wire.WebResultBlock) and (
        getattr(block, "id", None) in programmatic
        or getattr(block, "tool_use_id", None) in programmatic
    ):
        return  # a web tool called from code (dynamic filtering): only its printout counts
    elif isinstance(block, wire.ServerToolUseBlock):
        if block.name not in SERVER_TOOL_NAMES | WEB_NAMES:
            raise RequestValidationError(
                f"server tool {block.name!r} is not available on this deployment",
                field=f"{where}.name",
            )
        use = {
            "type": "tool_use",
            "id": bedrock_tool_id(block.id),
            "name": block.name,
            "input": block.input,
        }
        out.add("assistant", use)
        if block.id not in answered:
            history.unanswered.append(ServerUse(block.id, block.name, block.input))
    elif isinstance(block, wire.ServerResultBlock):
        out.add("user", model_result(_dump(block)))
    elif isinstance(block, wire.WebResultBlock):
        out.add("user", web_model_result(_dump(block), where))
    elif isinstance(block, wire.ContainerUploadBlock):
        return  # an echo of an upload: the file is already in the container
    else:
        raise RequestValidationError(
            f"a {block.type} block cannot be in an assistant message", field=f"{where}.type"
        )
