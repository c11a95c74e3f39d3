"""Bundling: cache key and asset hash change exactly when their inputs change."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from bedrock_code_execution.bundling import LambdaAsset

pytestmark = pytest.mark.cdk


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "lambda" / "code_exec").mkdir(parents=True)
    (tmp_path / "lambda" / "requirements.txt").write_text("pydantic==2.14.3\n")
    (tmp_path / "lambda" / "code_exec" / "handler.py").write_text("x = 1\n")
    return tmp_path


def _asset(root: Path, arch: str = "x86_64", py: str = "3.14") -> LambdaAsset:
    from bedrock_code_execution.bundling import LambdaAsset

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


def _with_cached_deps(asset: LambdaAsset) -> None:
    """A dependency cache entry, so bundling needs no pip run."""
    deps = asset.build_dir / "deps" / asset.deps_key()
    deps.mkdir(parents=True)
    (deps / "somedep.py").write_text("")
    (deps / ".complete").write_text("cached\n")


def test_executables_get_mode_755_in_the_asset_whatever_the_checkout_gave(tree: Path) -> None:
    from bedrock_code_execution.bundling import LambdaAsset

    script = tree / "lambda" / "code_exec" / "bootstrap"
    script.write_text("#!/bin/sh\nexec true\n")
    script.chmod(0o644)  # e.g. a checkout that lost the bit
    asset = _asset(tree)
    asset = LambdaAsset(**{**asset.__dict__, "executables": ("code_exec/bootstrap",)})
    _with_cached_deps(asset)
    out = tree / "out"
    out.mkdir()
    asset.bundle_into(out)
    assert (out / "code_exec" / "bootstrap").stat().st_mode & 0o777 == 0o755
    assert (out / "code_exec" / "handler.py").stat().st_mode & 0o111 == 0
    assert (out / "somedep.py").exists()


def test_a_missing_executable_fails_bundling_naming_it(tree: Path) -> None:
    from bedrock_code_execution.bundling import BundlingError, LambdaAsset

    asset = LambdaAsset(**{**_asset(tree).__dict__, "executables": ("code_exec/nope",)})
    _with_cached_deps(asset)
    out = tree / "out"
    out.mkdir()
    with pytest.raises(BundlingError, match="code_exec/nope"):
        asset.bundle_into(out)


def test_tool_modules_land_under_their_asset_paths_and_change_the_hash(tree: Path) -> None:
    """The deployment's tool modules (a file and a package) are copied to ``tool_modules/``;
    editing one changes the asset hash, so a changed tool is redeployed."""
    from bedrock_code_execution.bundling import LambdaAsset

    module = tree / "mine" / "orders.py"
    package = tree / "mine" / "billing"
    (package / "sub").mkdir(parents=True)
    module.write_text("TOOLS = []\n")
    (package / "__init__.py").write_text("TOOLS = []\n")
    (package / "sub" / "rates.py").write_text("RATE = 1\n")
    extras = ((module, "tool_modules/orders.py"), (package, "tool_modules/billing"))
    asset = LambdaAsset(**{**_asset(tree).__dict__, "extras": extras})
    before = asset.asset_hash()
    assert before != _asset(tree).asset_hash()
    _with_cached_deps(asset)
    out = tree / "out"
    out.mkdir()
    asset.bundle_into(out)
    assert (out / "tool_modules" / "orders.py").read_text() == "TOOLS = []\n"
    assert (out / "tool_modules" / "billing" / "sub" / "rates.py").read_text() == "RATE = 1\n"
    (package / "sub" / "rates.py").write_text("RATE = 2\n")
    assert asset.asset_hash() != before


def _fake_uv(path: Path, *, fails: bool = False) -> str:
    """An executable standing in for uv: records its arguments, then installs one module (and
    uv's ``.lock``) into the ``--target`` directory, or fails like a resolution error."""
    path.write_text(
        "#!/bin/sh\n"
        f'echo "$@" > "{path}.args"\n'
        + ('echo "No solution found" >&2; exit 1\n' if fails else "")
        + 'while [ "$1" != --target ]; do shift; done\n'
        + 'touch "$2/somedep.py" "$2/.lock"\n'
    )
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize(
    ("arch", "platform"), [("x86_64", "x86_64-manylinux2014"), ("arm64", "aarch64-manylinux2014")]
)
def test_uv_installs_the_lambda_platforms_wheels_into_the_cache(
    tree: Path, monkeypatch: pytest.MonkeyPatch, arch: str, platform: str
) -> None:
    from bedrock_code_execution import bundling

    uv = _fake_uv(tree / "uv")
    monkeypatch.setattr(bundling, "find_uv", lambda: uv)
    asset = _asset(tree, arch=arch, py="3.13")

    deps = asset.install_deps()

    assert deps == asset.build_dir / "deps" / asset.deps_key()
    assert sorted(p.name for p in deps.iterdir()) == [".complete", "somedep.py"]  # no .lock
    args = Path(uv + ".args").read_text().split()
    assert args[:2] == ["pip", "install"]
    for flag, value in [
        ("--python-platform", platform),
        ("--python-version", "3.13"),
        ("--only-binary", ":all:"),
        ("-r", str(asset.requirements)),
    ]:
        assert args[args.index(flag) + 1] == value
    assert "--no-compile" in args
    assert asset.install_deps() == deps  # cached: uv does not run again
    assert Path(uv + ".args").read_text().split() == args


def test_a_failed_install_names_the_installer_and_leaves_no_cache_entry(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bedrock_code_execution import bundling

    uv = _fake_uv(tree / "uv", fails=True)
    monkeypatch.setattr(bundling, "find_uv", lambda: uv)
    asset = _asset(tree)

    with pytest.raises(bundling.BundlingError, match=r"(?s)uv could not .*No solution"):
        asset.install_deps()
    assert list((asset.build_dir / "deps").iterdir()) == []


def test_without_uv_pip_installs_for_the_lambda_platform(tree: Path) -> None:
    import sys

    asset = _asset(tree, arch="arm64", py="3.13")
    cmd = asset.install_command(tree / "t", uv=None)
    assert cmd[:4] == [sys.executable, "-m", "pip", "install"]
    for flag, value in [
        ("--platform", "manylinux2014_aarch64"),
        ("--python-version", "3.13"),
        ("--implementation", "cp"),
        ("--target", str(tree / "t")),
    ]:
        assert cmd[cmd.index(flag) + 1] == value
    assert "--only-binary=:all:" in cmd
