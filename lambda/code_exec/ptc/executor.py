"""Running model cells that call tools: in the session's kernel, or through the bridge.

Two ways:

- :func:`preload` writes the sandbox runtime and each tool's module into the session
  and binds the tools in the kernel; cells then run with ``SandboxClient.run_cell``.
  Every tool runs inside the sandbox.
- :class:`~code_exec.ptc.bridge.BridgedRunner` runs cells in a runner process of their
  own and relays *bridged* tool calls out of the sandbox, to run here.

:func:`open_executor` picks the right one for a registry.
"""

from __future__ import annotations

import json
import logging
from typing import Protocol

from code_exec.exceptions import SandboxError
from code_exec.ptc.assets import RUNTIME_DIR, TOOLS_DIR, runtime_files
from code_exec.ptc.bridge import BridgedRunner, ToolHandler
from code_exec.ptc.registry import ToolRegistry
from code_exec.sandbox import ExecutionResult, SandboxClient

__all__ = ["PtcExecutor", "kernel_executor", "open_executor", "preload"]

logger = logging.getLogger(__name__)


def preload(sandbox: SandboxClient, session_id: str, tools: ToolRegistry) -> list[str]:
    """Send the tools into the session's kernel; return the names bound there.

    Preloaded tools run in the sandbox; bridged ones are bound to a stub that explains
    they need a bridged cell (:class:`BridgedRunner`).
    """
    sandbox.write_files(session_id, runtime_files(tools))
    specs = json.dumps([t.sandbox_spec() for t in tools])
    code = (
        "import os as _o, sys as _s\n"
        f"_s.path.insert(0, _o.path.abspath({RUNTIME_DIR!r}))\n"
        "import ptc_runtime as __ptc_runtime__\n"
        f"__ptc_runtime__.install(globals(), __import__('json').loads({specs!r}), "
        f"tools_dir=_o.path.abspath({TOOLS_DIR!r}))\n"
        "del _o, _s\n"
    )
    result = sandbox.execute_code(session_id, code)
    if not result.ok:
        raise SandboxError(f"could not preload tools: {(result.stderr or result.text)[-800:]}")
    logger.info("preloaded %s tool(s) into session %s", len(tools), session_id)
    return tools.names()


class PtcExecutor(Protocol):
    """Runs model cells that may call tools."""

    def run_cell(self, code: str, *, timeout_seconds: float | None = None) -> ExecutionResult: ...

    def detach(self) -> None:
        """Let go of the executor at the end of an invocation; its state stays in the session."""

    def close(self) -> None:
        """Stop what the executor runs in the session (its state is lost)."""


class _KernelExecutor:
    def __init__(self, sandbox: SandboxClient, session_id: str) -> None:
        self.sandbox, self.session_id = sandbox, session_id

    def run_cell(self, code: str, *, timeout_seconds: float | None = None) -> ExecutionResult:
        return self.sandbox.run_cell(self.session_id, code, timeout_seconds=timeout_seconds)

    def detach(self) -> None:
        """Nothing to let go of: the kernel lives as long as the session."""

    def close(self) -> None:
        """Nothing to stop: the kernel lives as long as the session."""


def kernel_executor(sandbox: SandboxClient, session_id: str) -> PtcExecutor:
    """Cells straight in the session's kernel (no tools, or only preloaded ones)."""
    return _KernelExecutor(sandbox, session_id)


def open_executor(
    sandbox: SandboxClient,
    session_id: str,
    registry: ToolRegistry,
    *,
    handler: ToolHandler | None = None,
) -> PtcExecutor:
    """The executor for ``registry``: the kernel when every tool is preloaded, else a bridge."""
    if handler is None and all(t.placement == "preloaded" for t in registry):
        preload(sandbox, session_id, registry)
        return kernel_executor(sandbox, session_id)
    runner = BridgedRunner(sandbox, session_id, registry, handler=handler)
    runner.start()
    return runner
