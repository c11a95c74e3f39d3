"""Programmatic tool calling: tools called from the model's code in the sandbox.

Layered one way: :mod:`.registry` (tools and their schemas) -> :mod:`.assets` (the
``sandbox_assets/`` directory, what a session gets, the deployment's tools) ->
:mod:`.relay` (one long-poll step of the bridge) -> :mod:`.bridge` (the bridged runner)
-> :mod:`.executor` (preloading tools, picking the kernel or the bridge).
:mod:`.cell_runner` is not imported here: it is the source text sent into the sandbox to
run model cells.
"""

from __future__ import annotations

from code_exec.ptc.assets import asset_path, assets_dir, default_registry
from code_exec.ptc.bridge import BridgedRunner
from code_exec.ptc.executor import PtcExecutor, kernel_executor, open_executor, preload
from code_exec.ptc.registry import PLACEMENTS, Placement, Tool, ToolRegistry, tool_schema
from code_exec.ptc.relay import CellState, PendingCall

__all__ = [
    "PLACEMENTS",
    "BridgedRunner",
    "CellState",
    "PendingCall",
    "Placement",
    "PtcExecutor",
    "Tool",
    "ToolRegistry",
    "asset_path",
    "assets_dir",
    "default_registry",
    "kernel_executor",
    "open_executor",
    "preload",
    "tool_schema",
]
