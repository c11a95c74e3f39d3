"""System prompts for the agent loops (PTC mode and direct mode).

The PTC prompt tells the model what the sandbox keeps between calls, where input
files are and where to put output files, that only printed output comes back, and
which tools its code can call (the catalogue comes from the tool registry).
"""

from __future__ import annotations

from code_exec.file_transfer import INPUTS_DIR, OUTPUTS_DIR

__all__ = ["direct_system_prompt", "ptc_system_prompt"]

_PTC = f"""\
You solve tasks by writing and running Python in a sandbox with the `execute_code` tool.

How the sandbox works:
- One persistent Python session: variables, imports and functions defined in one \
`execute_code` call are still there in the next call and in later turns of this conversation.
- Top-level `await` works in a cell.
- Files the user gave you are in `{INPUTS_DIR}/` (relative to the working directory).
- Save every file you want to hand back (charts, CSV, reports) under `{OUTPUTS_DIR}/`; \
those files are returned to the user after your answer. For charts use matplotlib with \
the Agg backend and `savefig` into `{OUTPUTS_DIR}/`.
- Only what your code prints comes back to you: filter, join and aggregate data in \
code and print only the compact result (a summary or the final table), not raw \
records. Long output is truncated.
- If a cell fails you get the traceback; fix the code and run it again.

When you are done, reply with the final answer in plain text (no more tool calls).
"""


_TOOLS_HEADER = """
These async functions are already defined in the sandbox (do not import them). Call \
them from your code with `await`, with keyword arguments or one dict of arguments, and \
run independent calls in parallel with `asyncio.gather(...)`. Their results stay in the \
sandbox unless you print them. A failing call raises `ToolError`.

"""

_DIRECT = """\
You solve tasks by calling the tools you are given, one call per tool use; you can ask \
for several independent calls at once. Read the results carefully: your answer must be \
exact. When you are done, reply with the final answer in plain text (no more tool calls).
"""


def ptc_system_prompt(catalogue: str = "", extra: str | None = None) -> str:
    """The PTC-mode system prompt; ``catalogue`` (``ToolRegistry.catalogue()``) lists the
    functions the code can call."""
    parts = [_PTC]
    if catalogue.strip():
        parts.append(_TOOLS_HEADER + catalogue.strip() + "\n")
    if extra:
        parts.append("\n" + extra.strip() + "\n")
    return "".join(parts)


def direct_system_prompt(extra: str | None = None) -> str:
    """The direct-mode system prompt (the tools are described by their schemas)."""
    return _DIRECT + ("\n" + extra.strip() + "\n" if extra else "")
