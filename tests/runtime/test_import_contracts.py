"""The import-linter contracts in ``pyproject.toml`` hold, and they catch a violation.

Each violation is injected into a temporary copy of the runtime and the stacks (never the
tree itself); ``lint-imports`` runs in the copy, where its working directory is the first
place a package is looked up, so it reads the copy. The diagram in
``docs/architecture.md`` is compared with the layers contract.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The runtime and the stacks at the top of a fresh directory, with the contracts."""
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "lambda" / "code_exec", tmp_path / "code_exec", ignore=ignore)
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks", ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _inject(path: Path, line: str) -> None:
    text = path.read_text()
    head, sep, rest = text.partition("from __future__ import annotations\n")
    assert sep, path
    path.write_text(head + sep + line + "\n" + rest)


def test_the_contracts_hold_on_the_tree() -> None:
    out = _lint(ROOT)
    assert out.returncode == 0, out.stdout[-4000:]
    assert "0 broken" in out.stdout


def test_an_upward_import_breaks_the_layers_contract_and_names_the_chain(copy: Path) -> None:
    _inject(copy / "code_exec" / "sandbox" / "types.py", "import code_exec.operations  # upward")
    out = _lint(copy)
    assert out.returncode != 0
    assert "The runtime's layers: each imports only the layers below it BROKEN" in out.stdout
    assert "code_exec.sandbox.types -> code_exec.operations" in out.stdout


def test_a_dev_import_in_the_runtime_breaks_the_bundle_contract(copy: Path) -> None:
    _inject(copy / "code_exec" / "config.py", "import devtools.local_aws  # not in the bundle")
    out = _lint(copy)
    assert out.returncode != 0
    assert re.search(r"never imports CDK.*\n?.*BROKEN", out.stdout)
    assert "code_exec.config -> devtools" in out.stdout


def test_one_entry_module_importing_another_breaks_their_independence(copy: Path) -> None:
    entry = copy / "code_exec" / "functions" / "sweeper_function.py"
    _inject(entry, "from code_exec.functions import cleanup_function  # another function's")
    out = _lint(copy)
    assert out.returncode != 0
    assert "code_exec.functions.sweeper_function -> code_exec.functions.cleanup_function" in (
        out.stdout
    )


def _contract_layers() -> list[list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    [layers] = [c for c in config["tool"]["importlinter"]["contracts"] if c["id"] == "layers"]
    return [
        [name.strip("() ").removeprefix("code_exec.") for name in layer.split("|")]
        for layer in layers["layers"]
    ]


def _diagram_layers() -> list[list[str]]:
    """The rows of the "Dependency direction" block: ``a | b`` per layer, highest first."""
    text = ARCHITECTURE.read_text()
    block = text.split("<!-- layers: begin -->", 1)[1].split("<!-- layers: end -->", 1)[0]
    rows = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    rows = [r for r in rows if r and not r.startswith("```") and set(r) != {"│"}]
    return [[part.strip("() /") for part in row.split("|")] for row in rows]


def test_the_architecture_diagram_says_what_the_layers_contract_says() -> None:
    assert _diagram_layers() == _contract_layers()
    assert any("anthropic" in layer for layer in _diagram_layers())
