"""``make local`` with every tool of the deployment run in one placement (``LOCAL_TOOL_PLACEMENT``).

Each tool module in ``sandbox_assets/`` declares where its tools run (``PLACEMENT``,
default preloaded). Locally it is handy to run the same tools the other way, e.g. the
expense-audit tools *bridged* to load the relay; that is a deployment choice, so it is made
where the deployment is put together: the functions' :class:`~code_exec.services.Services`
get the re-placed registry (``services.override(registry=...)``, as the tests do), and the
runtime's code path stays the deployed one.

``LOCAL_TOOL_PLACEMENT`` unset or empty keeps each module's own placement. The functions'
worker processes load :data:`API_HANDLER` and :data:`STREAM_HANDLER` (this module's
``api_handler`` and ``stream_handler``), which apply the same setting in their process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, cast

from code_exec.ptc import ToolRegistry
from code_exec.ptc.assets import load_asset_module, tool_module_names
from code_exec.ptc.registry import PLACEMENTS, Placement

__all__ = [
    "API_HANDLER",
    "ENV",
    "STREAM_HANDLER",
    "apply_placement",
    "placed_registry",
    "placement_from_env",
]

ENV = "LOCAL_TOOL_PLACEMENT"
API_HANDLER = "devtools.local_placement.api_handler"
STREAM_HANDLER = "devtools.local_placement.stream_handler"


def placement_from_env(env: Mapping[str, str] | None = None) -> Placement | None:
    """The placement ``LOCAL_TOOL_PLACEMENT`` asks for; None when unset.

    Raises:
        ValueError: any other value than the placements, naming the variable.
    """
    raw = (os.environ if env is None else env).get(ENV, "").strip()
    if not raw:
        return None
    if raw not in PLACEMENTS:
        raise ValueError(f"{ENV} must be one of {', '.join(PLACEMENTS)}, got {raw!r}")
    return cast(Placement, raw)


def placed_registry(placement: Placement) -> ToolRegistry:
    """Every tool the deployment offers (each module of ``sandbox_assets/``), in ``placement``."""
    registry = ToolRegistry()
    for name in tool_module_names():
        for tool in ToolRegistry.from_module(load_asset_module(name), placement=placement):
            registry.add(tool)
    return registry


def apply_placement(services: Any, env: Mapping[str, str] | None = None) -> Placement | None:
    """Give ``services`` the re-placed registry when ``LOCAL_TOOL_PLACEMENT`` is set."""
    placement = placement_from_env(env)
    if placement is not None:
        services.override(registry=placed_registry(placement))
    return placement


def __getattr__(name: str) -> Any:
    """``api_handler`` / ``stream_handler``: the function's handler, its services re-placed
    (looked up by the worker that runs it; nothing is applied until then)."""
    if name == "api_handler":
        from code_exec.api import handler

        apply_placement(handler.services)
        return handler.api_handler
    if name == "stream_handler":
        from code_exec.api import streamed

        apply_placement(streamed.services)
        return streamed.stream_handler
    raise AttributeError(name)
