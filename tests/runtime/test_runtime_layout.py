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
from pathlib import Path

import code_exec
import pytest

from tests.runtime.import_alone import import_each_alone, outside_modules

pytestmark = pytest.mark.slow(seconds=15)

ROOT = Path(code_exec.__file__).resolve().parent
# Sent into the sandbox as source text, never imported by the runtime.
SANDBOX_SIDE = {"code_exec.ptc.cell_runner"}
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(_module_name(p) for p in ROOT.rglob("*.py"))


def test_every_runtime_module_imports_alone_in_a_fresh_interpreter() -> None:
    """Each module in a child forked from an interpreter holding no ``code_exec`` module."""
    preload = outside_modules(MODULES, roots={"code_exec"})
    assert "boto3" in preload  # the expensive part is shared, not re-imported per module
    assert import_each_alone(MODULES, roots={"code_exec"}, preload=preload) == {}


def test_a_module_that_imports_only_after_another_fails_alone(tmp_path: Path) -> None:
    """An import-order-only cycle: ``b`` imports alone, ``a`` only once ``b`` is loaded."""
    pkg = tmp_path / "ordered_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("import json\nfrom ordered_pkg import b\n\nA = 1\n")
    (pkg / "b.py").write_text("from ordered_pkg.a import A\n")
    # In one interpreter, ``b`` then ``a`` works: only isolation per module catches ``a``.
    assert import_each_alone(["ordered_pkg.b"], roots=set(), preload=[], path=[str(tmp_path)]) == {}
    failures = import_each_alone(
        ["ordered_pkg.b", "ordered_pkg.a", "ordered_pkg"],  # b first: it loads a, in its child
        roots={"ordered_pkg"},
        preload=outside_modules(["ordered_pkg.a"], roots={"ordered_pkg"}, path=[str(tmp_path)]),
        path=[str(tmp_path)],
    )
    assert list(failures) == ["ordered_pkg.a"]
    assert "partially initialized module 'ordered_pkg.a'" in failures["ordered_pkg.a"]


def test_the_import_server_refuses_a_preload_that_loads_the_package_under_test(
    tmp_path: Path,
) -> None:
    (tmp_path / "leaky_pkg").mkdir()
    (tmp_path / "leaky_pkg" / "__init__.py").write_text("")
    (tmp_path / "leaky_helper.py").write_text("import leaky_pkg\n")
    with pytest.raises(RuntimeError, match="preloading loaded modules under test"):
        import_each_alone(
            ["leaky_pkg"], roots={"leaky_pkg"}, preload=["leaky_helper"], path=[str(tmp_path)]
        )


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
