"""Where ``sandbox_assets/`` lives, what of it a session gets, and the deployment's tools.

``sandbox_assets/`` is what is sent into the sandbox: the PTC runtime, tool modules,
installers and examples. In the repository it sits at the root; in the Lambda bundle it
must be copied next to the ``code_exec`` package (``<asset root>/sandbox_assets``).
Inside a session the runtime files go to ``.bcx/`` and preloaded tool modules to
``.bcx/tools/`` (:func:`runtime_files`).

A deployment adds its own tool modules without editing ``sandbox_assets/``: the construct
copies them into the bundle (``tool_modules/``) and names each, with its placement, in
``PTC_TOOL_MODULES`` (:func:`deployment_tool_modules`).
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import json
import os
import sys
import types
from collections.abc import Mapping
from pathlib import Path

from code_exec.config import ENV, ConfigError
from code_exec.ptc.registry import PLACEMENTS, Placement, ToolRegistry
from code_exec.sandbox.types import SandboxFile

__all__ = [
    "BRIDGE_DIR",
    "RUNTIME_DIR",
    "RUNTIME_FILES",
    "TOOLS_DIR",
    "asset_path",
    "assets_dir",
    "default_registry",
    "deployment_tool_modules",
    "load_asset_module",
    "load_tool_module",
    "runtime_files",
    "tool_module_names",
]

RUNTIME_DIR = ".bcx"  # in the session's working directory
TOOLS_DIR = f"{RUNTIME_DIR}/tools"
BRIDGE_DIR = f"{RUNTIME_DIR}/bridge"
# sandbox_assets/ files every PTC session gets, next to the cell runner
RUNTIME_FILES = ("ptc_runtime.py", "ptc_relay.py", "ptc_bridge.py")
_CELL_RUNNER = Path(__file__).with_name("cell_runner.py")  # sandbox-side source, never imported

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


def deployment_tool_modules(
    env: Mapping[str, str] | None = None,
) -> list[tuple[Path, Placement]]:
    """The deployment's own tool modules: (module file or package directory, placement).

    Read from ``PTC_TOOL_MODULES`` (a JSON list of ``{"path", "placement"}``); a relative
    path is relative to the bundle root (the directory holding ``code_exec/``).

    Raises:
        ConfigError: naming the variable, when it is not such a list.
    """
    raw = (os.environ if env is None else env).get(ENV.PTC_TOOL_MODULES) or "[]"
    try:
        entries = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{ENV.PTC_TOOL_MODULES} must be a JSON list, got {raw[:80]!r}") from e
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("path"), str) and e.get("placement") in PLACEMENTS
        for e in entries
    ):
        raise ConfigError(
            f"{ENV.PTC_TOOL_MODULES} must list objects with a path and a placement "
            f"({' or '.join(PLACEMENTS)}), got {raw[:200]!r}"
        )
    return [(_PACKAGE_PARENT / e["path"], e["placement"]) for e in entries]


def load_tool_module(path: Path) -> types.ModuleType:
    """Import a deployment tool module (a ``.py`` file or a package directory) as
    ``tool_modules.<name>``."""
    name = path.stem if path.suffix == ".py" else path.name
    qualified = f"tool_modules.{name}"
    if qualified in sys.modules:
        return sys.modules[qualified]
    if path.is_dir():
        spec = importlib.util.spec_from_file_location(
            qualified, path / "__init__.py", submodule_search_locations=[str(path)]
        )
    else:
        spec = importlib.util.spec_from_file_location(qualified, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{ENV.PTC_TOOL_MODULES}: cannot load the tool module {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[qualified] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[qualified]
        raise
    return module


@functools.cache
def default_registry() -> ToolRegistry:
    """Every tool the deployment offers: each tool module in ``sandbox_assets/``, then each
    of the deployment's own (:func:`deployment_tool_modules`).

    A ``sandbox_assets/`` module lists its tool functions in ``TOOLS`` and may set
    ``PLACEMENT`` to ``"preloaded"`` (the default: the tools run inside the sandbox) or
    ``"bridged"`` (they run in the orchestrator, with its IAM role); a deployment's module
    gets the placement the deployment gave it. Two modules offering the same tool name is a
    deployment error, reported with both module names.
    """
    registry = ToolRegistry()
    owner: dict[str, str] = {}
    modules: list[tuple[str, types.ModuleType, Placement]] = []
    for name in tool_module_names():
        module = load_asset_module(name)
        placement: Placement = getattr(module, "PLACEMENT", "preloaded")
        if placement not in ("preloaded", "bridged"):
            raise ValueError(
                f"sandbox_assets/{name}.py: PLACEMENT must be 'preloaded' or 'bridged', "
                f"got {placement!r}"
            )
        modules.append((f"sandbox_assets/{name}.py", module, placement))
    for path, placement in deployment_tool_modules():
        modules.append((f"tool module {path.name}", load_tool_module(path), placement))
    for label, module, placement in modules:
        for tool in ToolRegistry.from_module(module, placement=placement):
            if tool.name in owner:
                raise ValueError(
                    f"tool {tool.name!r} is defined in both {owner[tool.name]} and {label}"
                )
            owner[tool.name] = label
            registry.add(tool)
    return registry


def runtime_files(registry: ToolRegistry) -> list[SandboxFile]:
    """The sandbox runtime, the cell runner, and every preloaded tool's module (+ data)."""
    files = [SandboxFile(f"{RUNTIME_DIR}/{n}", asset_path(n).read_bytes()) for n in RUNTIME_FILES]
    files.append(SandboxFile(f"{RUNTIME_DIR}/ptc_cell_runner.py", _CELL_RUNNER.read_bytes()))
    seen: set[str] = set()
    for tool in registry:
        if tool.placement != "preloaded" or tool.module_file in seen:
            continue
        seen.add(tool.module_file)
        src = Path(tool.module_file)
        if not src.is_file():
            raise ValueError(f"preloaded tool {tool.name!r} must be defined in a module file")
        files.append(SandboxFile(f"{TOOLS_DIR}/{src.name}", src.read_bytes()))
        module = sys.modules.get(tool.fn.__module__) or importlib.import_module(tool.fn.__module__)
        for extra in getattr(module, "SANDBOX_FILES", ()):  # data files next to the module
            files.append(SandboxFile(f"{TOOLS_DIR}/{extra}", (src.parent / extra).read_bytes()))
    return files
