"""Agent loops: one per Bedrock API (``messages``, ``converse``, ``strands``), and Claude Code.

Every loop takes a :class:`~code_exec.loops.common.LoopInput` and returns a
:class:`~code_exec.loops.common.LoopOutput`; ``code_exec.agent`` picks one per request.
"""
