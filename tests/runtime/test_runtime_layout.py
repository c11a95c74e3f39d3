"""The runtime's shape: no import cycle, nothing imported from outside the bundle, small modules.

Each module is imported alone in a fresh interpreter, so a cycle that only works in one
import order fails here. The static import graph (every ``import`` statement, function-level
ones included) must be acyclic too, so a cycle hidden behind a lazy import fails as well.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import code_exec
import pytest

ROOT = Path(code_exec.__file__).resolve().parent
# Sent into the sandbox as source text, never imported by the runtime.
SANDBOX_SIDE = {"code_exec.ptc.cell_runner"}
FOREIGN = ("aws_cdk", "constructs", "cdk_nag", "tests", "bench", "emulators", "devtools", "scripts")
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(_module_name(p) for p in ROOT.rglob("*.py"))

_PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(sys.modules)))
"""


def _import_alone(module: str) -> tuple[str, int, str, list[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, module], capture_output=True, text=True, check=False
    )
    loaded = json.loads(proc.stdout) if proc.returncode == 0 else []
    return module, proc.returncode, proc.stderr[-2000:], loaded


@pytest.fixture(scope="module")
def imported_alone() -> dict[str, tuple[int, str, list[str]]]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(_import_alone, MODULES))
    return {m: (rc, err, loaded) for m, rc, err, loaded in results}


def test_every_runtime_module_imports_alone_in_a_fresh_interpreter(imported_alone) -> None:
    failed = {m: err for m, (rc, err, _) in imported_alone.items() if rc != 0}
    assert not failed, failed


def test_the_runtime_never_imports_cdk_tests_bench_or_dev_packages(imported_alone) -> None:
    leaks = {
        m: sorted({name for name in loaded if name.split(".")[0] in FOREIGN})
        for m, (_, _, loaded) in imported_alone.items()
    }
    assert not {m: names for m, names in leaks.items() if names}


def _imports(module: str) -> set[str]:
    """Every ``code_exec`` module ``module`` imports, at any depth of its source."""
    path = ROOT.parent / Path(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            base = node.module
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in MODULES else base)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in MODULES and m != module}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def _package_edges_removed(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """A package's ``__init__`` re-exports its modules; a module importing its own package's
    public name is not a cycle of meaning, so package -> own submodule edges are dropped."""
    return {m: {d for d in deps if not d.startswith(m + ".")} for m, deps in graph.items()}


def test_the_static_import_graph_has_no_cycle() -> None:
    graph = _package_edges_removed({m: _imports(m) for m in MODULES})
    assert _cycles(graph) == []


def test_the_graph_check_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]


def test_sandbox_side_files_import_nothing_from_the_runtime() -> None:
    for module in SANDBOX_SIDE:
        assert _imports(module) == set(), module


def test_runtime_modules_stay_small() -> None:
    """House limit: modules with one job, under ~400 lines."""
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in ROOT.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}
