"""Programmatic tool calling: tools called from the model's code in the sandbox.

Layered one way: :mod:`.registry` (tools and their schemas) -> :mod:`.assets` (the
``sandbox_assets/`` directory and the deployment's tools) -> :mod:`.bridge` (sending
tools into a session and relaying bridged calls). :mod:`.cell_runner` is not imported
here: it is the source text sent into the sandbox to run model cells.
"""

from __future__ import annotations

from code_exec.ptc.assets import asset_path, assets_dir, default_registry
from code_exec.ptc.bridge import BridgedRunner, PtcExecutor, kernel_executor, open_executor, preload
from code_exec.ptc.registry import PLACEMENTS, Placement, Tool, ToolRegistry, tool_schema

__all__ = [
    "PLACEMENTS",
    "BridgedRunner",
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
