"""The runtime's shape where import-linter cannot see it: each module imports alone, the
sandbox-side source imports nothing of ours, modules stay small.

The package direction, the absence of cycles and the forbidden imports (CDK, tests, dev
code) are import-linter contracts in ``pyproject.toml`` (``make lint``;
``tests/runtime/test_import_contracts.py`` proves they catch a violation). What they cannot
express is checked here: a module that only imports in one order (a cycle broken at run
time) fails when it is imported alone in a fresh interpreter.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import code_exec

ROOT = Path(code_exec.__file__).resolve().parent
# Sent into the sandbox as source text, never imported by the runtime.
SANDBOX_SIDE = {"code_exec.ptc.cell_runner"}
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(_module_name(p) for p in ROOT.rglob("*.py"))


def _import_alone(module: str) -> tuple[str, int, str]:
    proc = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, check=False
    )
    return module, proc.returncode, proc.stderr[-2000:]


def test_every_runtime_module_imports_alone_in_a_fresh_interpreter() -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(_import_alone, MODULES))
    assert {m: err for m, rc, err in results if rc != 0} == {}


def _imports(module: str) -> set[str]:
    """Every ``code_exec`` module or package ``module`` names in an import, at any depth."""
    path = ROOT.parent / Path(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m.split(".")[0] == "code_exec"}


def test_sandbox_side_files_import_nothing_from_the_runtime() -> None:
    for module in SANDBOX_SIDE:
        assert _imports(module) == set(), module


def test_the_import_reader_sees_function_level_imports() -> None:
    assert "code_exec.agent" in _imports("code_exec.services")  # imported on first use


def test_runtime_modules_stay_small() -> None:
    """House limit: modules with one job, under ~400 lines."""
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in ROOT.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def _documented_parallel_names() -> set[str]:
    """The file names ``docs/architecture.md`` ("Names") lists as parallel roles."""
    text = (ROOT.parents[1] / "docs" / "architecture.md").read_text()
    section = text.split("### Names", 1)[1].split("\n#", 1)[0]
    return {
        line.split("`")[1]
        for line in section.splitlines()
        if line.startswith("| `") and line.split("`")[1].endswith(".py")
    }


def test_no_two_runtime_modules_share_a_name_but_the_documented_parallel_roles() -> None:
    by_name: dict[str, list[str]] = {}
    for path in ROOT.rglob("*.py"):
        if path.name != "__init__.py":
            by_name.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    repeated = {name for name, paths in by_name.items() if len(paths) > 1}
    assert repeated == _documented_parallel_names(), {n: by_name.get(n) for n in repeated}
