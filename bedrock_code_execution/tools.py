"""The deployment's own PTC tool modules: where they come from and how they reach the runtime.

A tool module is a Python module file (``orders.py``) or package directory (``orders/`` with an
``__init__.py``) in the user's own repository that lists its tool functions in a module-level
``TOOLS`` (see ``sandbox_assets/README.md``, "Writing a tool"). The construct copies each into
the Lambda asset under ``tool_modules/`` and names them, with their placement, in the
``PTC_TOOL_MODULES`` environment variable; the runtime's registry
(``code_exec.ptc.assets.default_registry``) loads them next to ``sandbox_assets/``.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from bedrock_code_execution.checks import PropsError

__all__ = [
    "TOOL_MODULES_DIR",
    "TOOL_MODULES_ENV",
    "ToolModule",
    "check_tool_modules",
    "tool_modules_environment",
]

TOOL_MODULES_DIR = "tool_modules"  # in the Lambda asset, next to code_exec/
TOOL_MODULES_ENV = "PTC_TOOL_MODULES"  # code_exec.config.ENV.PTC_TOOL_MODULES
PLACEMENTS = ("preloaded", "bridged")
_MODULE_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,63}$")
_ENV_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]{0,127}$")
# Modules the sandbox or the runtime already has under these names.
_RESERVED = frozenset({"code_exec", "sandbox_assets", TOOL_MODULES_DIR, "ptc_runtime",
                       "ptc_relay", "ptc_bridge", "expense_tools", "text_editor"})  # fmt: skip


@dataclass(frozen=True)
class ToolModule:
    """One PTC tool module of the deployment, and where its tools run.

    Attributes:
        path: the module file (``tools/orders.py``) or package directory (``tools/orders/``,
            with ``__init__.py``); it lists its tool functions in a module-level ``TOOLS``.
        placement: ``bridged`` (default): the orchestrator runs the tools with the functions'
            IAM roles, plus what the construct's ``tools_grantable`` is granted; or
            ``preloaded``: the module file is written into the sandbox and its tools run there
            (stdlib only, a single module file, no AWS credentials).
        environment: environment variables the bridged tools read (for example a table name);
            set on the functions that run bridged tools.
    """

    path: Path | str
    placement: Literal["preloaded", "bridged"] = "bridged"
    environment: Mapping[str, str] = field(default_factory=dict)

    @property
    def source(self) -> Path:
        """The module file or package directory, resolved."""
        return Path(self.path).resolve()

    @property
    def module_name(self) -> str:
        """The name the module is imported under (its file's stem or directory's name)."""
        source = self.source
        return source.stem if source.suffix == ".py" else source.name

    @property
    def asset_path(self) -> str:
        """Where the module lands in the Lambda asset."""
        return f"{TOOL_MODULES_DIR}/{self.source.name}"

    def check(self, label: str, error: type[PropsError]) -> None:
        """Raise ``error`` (naming ``label``) unless this is a loadable tool module."""
        source = self.source
        if self.placement not in PLACEMENTS:
            raise error(
                f"{label}.placement: {self.placement!r} is not allowed; allowed values: "
                f"{', '.join(PLACEMENTS)}"
            )
        if source.is_dir():
            init = source / "__init__.py"
            if not init.is_file():
                raise error(f"{label}.path: {source} is a directory without __init__.py")
            if self.placement == "preloaded":
                raise error(
                    f"{label}.path: a preloaded tool module is one .py file (it is written "
                    f"into the sandbox), not the package {source}"
                )
        elif not (source.is_file() and source.suffix == ".py"):
            raise error(f"{label}.path: {source} is neither a .py file nor a package directory")
        else:
            init = source
        if not _MODULE_NAME.match(self.module_name) or self.module_name in _RESERVED:
            raise error(
                f"{label}.path: {self.module_name!r} cannot be a tool module's name (a Python "
                f"identifier, not one of {', '.join(sorted(_RESERVED))})"
            )
        if not _declares_tools(init):
            raise error(f"{label}.path: {init} declares no module-level TOOLS list")
        for name, value in self.environment.items():
            if not (isinstance(name, str) and _ENV_NAME.match(name) and isinstance(value, str)):
                raise error(
                    f"{label}.environment: {name!r} -> {value!r} is not an environment "
                    "variable (a name of letters, digits and '_', and a string value)"
                )


def _declares_tools(path: Path) -> bool:
    """True when the module assigns ``TOOLS`` at module level (parsed, never imported)."""
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except SyntaxError:
        return False
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == "TOOLS" for t in targets):
            return True
    return False


def check_tool_modules(
    modules: tuple[ToolModule, ...], label: str, error: type[PropsError]
) -> None:
    """Each module loadable, no two with one name, no variable set twice.

    Raises:
        error: naming ``label[i]`` and what is wrong.
    """
    if not isinstance(modules, tuple) or not all(isinstance(m, ToolModule) for m in modules):
        raise error(f"{label} must be a list of ToolModule, got {modules!r}")
    names: dict[str, int] = {}
    variables: dict[str, int] = {}
    for i, module in enumerate(modules):
        module.check(f"{label}[{i}]", error)
        if module.module_name in names:
            raise error(
                f"{label}[{i}]: a tool module named {module.module_name!r} is already "
                f"{label}[{names[module.module_name]}]"
            )
        names[module.module_name] = i
        for name, value in module.environment.items():
            other = variables.get(name)
            if other is not None and modules[other].environment[name] != value:
                raise error(
                    f"{label}[{i}].environment: {name!r} is also set, to another value, by "
                    f"{label}[{other}]"
                )
            variables[name] = i


def tool_modules_environment(modules: tuple[ToolModule, ...]) -> str:
    """The ``PTC_TOOL_MODULES`` value: each module's asset path and placement, as JSON."""
    return json.dumps(
        [{"path": m.asset_path, "placement": m.placement} for m in modules],
        separators=(",", ":"),
    )
