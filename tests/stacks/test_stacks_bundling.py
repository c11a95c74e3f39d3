"""Bundling: cache key and asset hash change exactly when their inputs change."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacks.bundling import LambdaAsset


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "lambda" / "code_exec").mkdir(parents=True)
    (tmp_path / "lambda" / "requirements.txt").write_text("pydantic==2.14.3\n")
    (tmp_path / "lambda" / "code_exec" / "handler.py").write_text("x = 1\n")
    return tmp_path


def _asset(root: Path, arch: str = "x86_64", py: str = "3.14") -> LambdaAsset:
    return LambdaAsset(
        code_root=root / "lambda",
        packages=(root / "lambda" / "code_exec",),
        build_dir=root / ".build",
        architecture=arch,
        python_version=py,
    )


def test_hash_is_stable_and_ignores_bytecode(tree: Path) -> None:
    before = _asset(tree).asset_hash()
    cache = tree / "lambda" / "code_exec" / "__pycache__"
    cache.mkdir()
    (cache / "handler.cpython-311.pyc").write_bytes(b"\0")
    assert _asset(tree).asset_hash() == before


def test_code_change_changes_asset_hash_but_not_deps_key(tree: Path) -> None:
    asset = _asset(tree)
    before, deps = asset.asset_hash(), asset.deps_key()
    (tree / "lambda" / "code_exec" / "handler.py").write_text("x = 2\n")
    assert asset.asset_hash() != before
    assert asset.deps_key() == deps


def test_requirements_arch_and_python_change_both(tree: Path) -> None:
    base = _asset(tree)
    keys = {(base.asset_hash(), base.deps_key())}
    keys.add((_asset(tree, arch="arm64").asset_hash(), _asset(tree, arch="arm64").deps_key()))
    keys.add((_asset(tree, py="3.13").asset_hash(), _asset(tree, py="3.13").deps_key()))
    (tree / "lambda" / "requirements.txt").write_text("pydantic==2.14.2\n")
    keys.add((base.asset_hash(), base.deps_key()))
    assert len({k[0] for k in keys}) == 4 and len({k[1] for k in keys}) == 4
    assert _asset(tree, arch="arm64").platform == "manylinux2014_aarch64"
