"""The code interpreter data plane: one client (boto3 ``bedrock-agentcore``), its event-stream
parsing, its error translation, and the value types it returns."""

from __future__ import annotations

from code_exec.sandbox.client import SandboxClient, make_client
from code_exec.sandbox.invoke_events import FileEntry
from code_exec.sandbox.types import ExecutionResult, SandboxFile, TaskStatus

__all__ = [
    "ExecutionResult",
    "FileEntry",
    "SandboxClient",
    "SandboxFile",
    "TaskStatus",
    "make_client",
]
