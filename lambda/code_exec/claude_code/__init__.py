"""Claude Code inside the sandbox: install and run it (:mod:`.runner`), and the ``claude_code``
agent loop over it (:mod:`.loop`)."""

from __future__ import annotations

from code_exec.claude_code.runner import ClaudeCodeResult, ClaudeCodeRunner

__all__ = ["ClaudeCodeResult", "ClaudeCodeRunner"]
