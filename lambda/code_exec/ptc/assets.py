"""Where ``sandbox_assets/`` lives, and the deployment's tools built from it.

``sandbox_assets/`` is what is sent into the sandbox: the PTC runtime, tool modules,
installers and examples. In the repository it sits at the root; in the Lambda bundle it
must be copied next to the ``code_exec`` package (``<asset root>/sandbox_assets``).
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import sys
import types
from pathlib import Path

from code_exec.ptc.registry import Placement, ToolRegistry

__all__ = [
    "asset_path",
    "assets_dir",
    "default_registry",
    "load_asset_module",
    "tool_module_names",
]

# <root>/code_exec/ptc/assets.py: the bundle root holds code_exec/ and sandbox_assets/
# side by side; in the repository, sandbox_assets/ is one level above lambda/.
_PACKAGE_PARENT = Path(__file__).resolve().parents[2]
_CANDIDATES = (_PACKAGE_PARENT / "sandbox_assets", _PACKAGE_PARENT.parent / "sandbox_assets")


def assets_dir() -> Path:
    """The ``sandbox_assets`` directory (Lambda bundle first, then the repository)."""
    for candidate in _CANDIDATES:
        if (candidate / "ptc_runtime.py").is_file():
            return candidate
    raise FileNotFoundError(
        "sandbox_assets/ not found next to code_exec/ or at the repository root: "
        "the Lambda bundle must include it"
    )


def asset_path(relative: str) -> Path:
    """A file under ``sandbox_assets/``."""
    return assets_dir() / relative


def load_asset_module(name: str) -> types.ModuleType:
    """Import ``sandbox_assets/<name>.py`` (as ``sandbox_assets.<name>``)."""
    qualified = f"sandbox_assets.{name}"
    if qualified in sys.modules:
        return sys.modules[qualified]
    path = asset_path(f"{name}.py")
    spec = importlib.util.spec_from_file_location(qualified, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a broken checkout
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[qualified] = module
    spec.loader.exec_module(module)
    return module


def tool_module_names(directory: Path | None = None) -> list[str]:
    """Modules directly under ``sandbox_assets/`` that declare a module-level ``TOOLS`` list.

    Found by parsing, not importing, so helper files next to the tools are never run.
    """
    directory = directory or assets_dir()
    names = []
    for path in sorted(directory.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        if any(
            isinstance(node, ast.Assign | ast.AnnAssign)
            and any(
                isinstance(t, ast.Name) and t.id == "TOOLS"
                for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
            )
            for node in tree.body
        ):
            names.append(path.stem)
    return names


@functools.cache
def default_registry() -> ToolRegistry:
    """Every tool the deployment offers: each tool module in ``sandbox_assets/``.

    A module lists its tool functions in ``TOOLS`` and may set ``PLACEMENT`` to
    ``"preloaded"`` (the default: the tools run inside the sandbox) or ``"bridged"`` (they
    run in the orchestrator, with its IAM role). Two modules offering the same tool name
    is a deployment error, reported with both module names.
    """
    registry = ToolRegistry()
    owner: dict[str, str] = {}
    for name in tool_module_names():
        module = load_asset_module(name)
        placement: Placement = getattr(module, "PLACEMENT", "preloaded")
        if placement not in ("preloaded", "bridged"):
            raise ValueError(
                f"sandbox_assets/{name}.py: PLACEMENT must be 'preloaded' or 'bridged', "
                f"got {placement!r}"
            )
        for tool in ToolRegistry.from_module(module, placement=placement):
            if tool.name in owner:
                raise ValueError(
                    f"tool {tool.name!r} is defined in both sandbox_assets/{owner[tool.name]}.py "
                    f"and sandbox_assets/{name}.py"
                )
            owner[tool.name] = name
            registry.add(tool)
    return registry
