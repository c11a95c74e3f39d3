"""Docker-free bundling of the Lambda code asset.

One asset holds the runtime package (``lambda/code_exec``), the files it sends into the sandbox
(``sandbox_assets/``) and the dependencies from ``lambda/requirements.txt``, installed with
``pip install --target --platform manylinux2014_<arch> --python-version <v> --implementation cp
--only-binary=:all:`` so the result matches the Lambda runtime whatever machine synthesizes it.

The installer is uv when the synthesizing environment has it (next to its Python, or on
``PATH``: ``uv pip install --target --python-platform <arch>-manylinux2014``, the same wheels in
~4 s where pip takes ~14), pip otherwise.

Two caches keep a warm ``cdk synth`` fast:

* the installed dependencies live under ``.build/deps/<key>/``, keyed by a hash of the
  requirements file, the platform and the Python version, so pip runs only when one changes;
* the asset hash is computed here (requirements + code + sandbox assets + arch + Python version),
  so CDK skips bundling entirely when ``cdk.out/asset.<hash>`` already exists.

Files listed in ``executables`` (the streaming function's exec wrapper) get mode 0755 in the
asset whatever the checkout gave them: the CDK CLI zips the staged directory with each file's
own mode, and Lambda cannot start a wrapper that is not executable.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from bedrock_code_execution.props import CodeExecutionProps
from bedrock_code_execution.runtime_env import STREAM_BOOTSTRAP

__all__ = [
    "REPO_ROOT",
    "BundlingError",
    "LambdaAsset",
    "find_uv",
    "lambda_asset",
    "lambda_code_asset",
]

# The checkout this package is installed from (editable): lambda/ and sandbox_assets/ live here.
REPO_ROOT = Path(__file__).resolve().parent.parent

# Bump when the layout of the bundle changes, so every cached asset is rebuilt.
_BUNDLE_FORMAT = "1"
_PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}
_UV_PLATFORMS = {"x86_64": "x86_64-manylinux2014", "arm64": "aarch64-manylinux2014"}
_INSTALLER_FILES = {".lock"}  # what uv leaves in a --target directory besides the packages
_IGNORED_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
_IGNORED_SUFFIXES = (".pyc", ".pyo")


class BundlingError(RuntimeError):
    """pip could not build the Lambda dependencies."""


@dataclass(frozen=True)
class LambdaAsset:
    """Where the pieces of the Lambda asset come from.

    Attributes:
        code_root: the Lambda code root (``lambda/``) holding ``requirements.txt``.
        packages: directories copied into the asset root under their own names.
        build_dir: cache directory for installed dependencies (``.build/``).
        architecture: ``x86_64`` or ``arm64``.
        python_version: Lambda runtime Python version, e.g. ``3.14``.
        executables: paths inside the asset that must be executable (mode 0755).
        extras: (file or directory, its path in the asset): the deployment's tool modules.
    """

    code_root: Path
    packages: tuple[Path, ...]
    build_dir: Path
    architecture: str
    python_version: str
    executables: tuple[str, ...] = ()
    extras: tuple[tuple[Path, str], ...] = ()

    @property
    def requirements(self) -> Path:
        return self.code_root / "requirements.txt"

    @property
    def platform(self) -> str:
        return _PLATFORMS[self.architecture]

    def deps_key(self) -> str:
        """Cache key of the installed dependencies."""
        h = hashlib.sha256()
        h.update(f"{_BUNDLE_FORMAT}|{self.platform}|{self.python_version}|".encode())
        h.update(self.requirements.read_bytes())
        return h.hexdigest()[:32]

    def asset_hash(self) -> str:
        """Hash of everything that ends up in the asset; equal inputs -> no re-bundling."""
        h = hashlib.sha256()
        h.update(f"{_BUNDLE_FORMAT}|{self.deps_key()}|{','.join(self.executables)}|".encode())
        for package in self.packages:
            for path in _files(package):
                h.update(str(path.relative_to(package.parent)).encode())
                h.update(b"\0")
                h.update(path.read_bytes())
                h.update(b"\0")
        for source, dest in self.extras:
            for path in _files(source) if source.is_dir() else [source]:
                rel = f"{dest}/{path.relative_to(source)}" if source.is_dir() else dest
                h.update(rel.encode())
                h.update(b"\0")
                h.update(path.read_bytes())
                h.update(b"\0")
        return h.hexdigest()

    def install_command(self, target: Path, *, uv: str | None) -> list[str]:
        """The command installing the requirements' wheels for the Lambda platform into
        ``target``: with ``uv`` (its path) when given, else with this Python's pip."""
        if uv:
            return [
                uv, "pip", "install",
                "--quiet", "--no-compile",
                "--python", sys.executable,
                "--target", str(target),
                "--python-platform", _UV_PLATFORMS[self.architecture],
                "--python-version", self.python_version,
                "--only-binary", ":all:",
                "-r", str(self.requirements),
            ]  # fmt: skip
        return [
            sys.executable, "-m", "pip", "install",
            "--quiet", "--disable-pip-version-check", "--no-compile",
            "--target", str(target),
            "--platform", self.platform,
            "--python-version", self.python_version,
            "--implementation", "cp",
            "--only-binary=:all:",
            "-r", str(self.requirements),
        ]  # fmt: skip

    def install_deps(self) -> Path:
        """Install requirements for the Lambda platform into the cache (once per key)."""
        target = self.build_dir / "deps" / self.deps_key()
        if (target / ".complete").exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f"{target.name}.", dir=target.parent))
        uv = find_uv()
        cmd = self.install_command(staging, uv=uv)
        installer = "uv" if uv else "pip"
        print(
            f"bundling: {installer} install for {self.platform} / Python {self.python_version}",
            file=sys.stderr,
        )
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise BundlingError(
                f"{installer} could not install {self.requirements} for {self.platform} / Python "
                f"{self.python_version} (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            )
        for name in _INSTALLER_FILES:
            (staging / name).unlink(missing_ok=True)
        (staging / ".complete").write_text(" ".join(cmd) + "\n")
        try:
            staging.rename(target)
        except OSError:  # another synth finished first: keep its copy
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def bundle_into(self, output_dir: Path) -> None:
        """Write the complete asset (deps + packages) into ``output_dir``."""
        deps = self.install_deps()
        _link_tree(deps, output_dir, skip={".complete", "bin"})
        for package in self.packages:
            dest = output_dir / package.name
            if dest.exists():
                shutil.rmtree(dest)
            for path in _files(package):
                out = dest / path.relative_to(package)
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, out)
        for source, dest in self.extras:
            if source.is_dir():
                for path in _files(source):
                    out = output_dir / dest / path.relative_to(source)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, out)
            else:
                (output_dir / dest).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, output_dir / dest)
        for name in self.executables:
            target = output_dir / name
            if not target.is_file():
                raise BundlingError(f"{name} should be executable in the asset but is not in it")
            target.chmod(0o755)


def lambda_asset(settings: CodeExecutionProps, root: Path = REPO_ROOT) -> LambdaAsset:
    """What goes into the Lambda code asset for these settings (their tool modules too)."""
    return LambdaAsset(
        code_root=root / "lambda",
        packages=tuple(
            p for p in (root / "lambda" / "code_exec", root / "sandbox_assets") if p.is_dir()
        ),
        build_dir=root / ".build",
        architecture=settings.lambda_architecture,
        python_version=settings.lambda_python_version,
        executables=(STREAM_BOOTSTRAP,),
        extras=tuple((m.source, m.asset_path) for m in settings.tools),
    )


@jsii.implements(ILocalBundling)
class _PipBundler:
    """Runs the bundling on this machine; never falls back to Docker."""

    def __init__(self, asset: LambdaAsset) -> None:
        self._asset = asset

    def try_bundle(self, output_dir: str, *args: Any, **kwargs: Any) -> bool:
        self._asset.bundle_into(Path(output_dir))
        return True


def lambda_code_asset(asset: LambdaAsset) -> lambda_.Code:
    """The Lambda ``Code`` for ``asset``, bundled locally with a content-derived hash."""
    runtime = f"python{asset.python_version}"
    return lambda_.Code.from_asset(
        str(asset.code_root),
        asset_hash=asset.asset_hash(),
        bundling=BundlingOptions(
            local=_PipBundler(asset),
            # Never pulled: the local bundler always succeeds or raises.
            image=DockerImage.from_registry(f"public.ecr.aws/sam/build-{runtime}"),
            command=["false"],
        ),
    )


def find_uv() -> str | None:
    """uv's path: the one installed beside this Python (a virtualenv's ``bin/``), else the one
    on ``PATH``; None without uv (pip installs then)."""
    beside = Path(sys.executable).with_name("uv")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("uv")


def _files(root: Path) -> list[Path]:
    """Regular files under ``root`` in a stable order, caches left out."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _IGNORED_DIRS)
        for name in sorted(filenames):
            if not name.endswith(_IGNORED_SUFFIXES):
                found.append(Path(dirpath) / name)
    return found


def _link_tree(src: Path, dst: Path, *, skip: set[str]) -> None:
    """Hard-link (or copy, across file systems) the tree ``src`` into ``dst``."""
    for entry in src.iterdir():
        if entry.name in skip:
            continue
        target = dst / entry.name
        if entry.is_dir():
            shutil.copytree(entry, target, copy_function=_link_or_copy, dirs_exist_ok=True)
        else:
            _link_or_copy(str(entry), str(target))


def _link_or_copy(src: str, dst: str) -> str:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
    return dst
