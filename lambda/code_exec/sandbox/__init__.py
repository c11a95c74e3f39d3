"""The code interpreter data plane: one client (boto3 ``bedrock-agentcore``), its event-stream
parsing, its error translation, and the value types it returns.

The names below are imported from their module when first asked for (PEP 562), so a module
that needs only the value types (:mod:`.types`) does not load the client and botocore's
configuration with them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from code_exec.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from code_exec.sandbox.client import SandboxClient, make_client
    from code_exec.sandbox.invoke_events import FileEntry
    from code_exec.sandbox.types import ExecutionResult, SandboxFile, TaskStatus

# name -> the module that defines it
_WHERE = {
    "ExecutionResult": "types",
    "FileEntry": "invoke_events",
    "SandboxClient": "client",
    "SandboxFile": "types",
    "TaskStatus": "types",
    "make_client": "client",
}

__all__ = [
    "ExecutionResult",
    "FileEntry",
    "SandboxClient",
    "SandboxFile",
    "TaskStatus",
    "make_client",
]


__getattr__ = lazy_exports(__name__, _WHERE)
