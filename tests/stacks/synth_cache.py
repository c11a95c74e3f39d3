"""One synthesis of the default app per test run, shared by every xdist worker.

Each xdist worker that runs a stack test file has its own session, so a plain session fixture
would synthesize (and bundle, and cdk-nag check) the same app once per worker. ``make test``
runs every stack module in one worker (``--dist loadgroup``, tests/plugin_schedule.py); a run
that spreads them (``--dist load`` or ``loadfile``) still synthesizes once: the first worker
to need it synthesizes into a directory every worker of the run shares; the others wait on a
file lock and read what it wrote.

The directory is named by :func:`cache_key`: a hash of everything the synthesis reads (the
context, the sources of the construct library, the stacks, the Lambda code and its
requirements, the sandbox assets, the code that drives the synthesis, the versions of the CDK
packages and Python, and the ``CDK_*``/``JSII_*`` environment), so a test never reads templates
built from other sources or context. The shared directory also lives only as long as the run
(pytest's base temporary directory of this session).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

__all__ = ["PACKAGES", "SOURCES", "cache_key", "file_lock", "shared_root"]

# What the default app's synthesis reads, relative to the repository root.
SOURCES = ("bedrock_code_execution", "stacks", "lambda", "sandbox_assets")
PACKAGES = ("aws-cdk-lib", "cdk-nag", "constructs", "jsii")
_IGNORED_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
_IGNORED_SUFFIXES = (".pyc", ".pyo")


def cache_key(root: Path, context: dict[str, Any], *drivers: Path) -> str:
    """Hash of every input of a synthesis of the app under ``root`` with ``context``.

    Args:
        root: the repository root (``SOURCES`` are read under it).
        context: the CDK context the app is given.
        drivers: files holding the code that runs the synthesis (the fixture).
    """
    h = hashlib.sha256()
    h.update(json.dumps(context, sort_keys=True).encode())
    h.update(b"\0" + sys.version.encode() + b"\0")
    for name in PACKAGES:
        h.update(f"{name}=={metadata.version(name)}\0".encode())
    for name in sorted(os.environ):
        if name.startswith(("CDK_", "JSII_")):
            h.update(f"{name}={os.environ[name]}\0".encode())
    for source in SOURCES:
        for path in _files(root / source):
            _add_file(h, str(path.relative_to(root)), path)
    for path in drivers:
        _add_file(h, path.name, path)
    return h.hexdigest()[:32]


def _add_file(h: Any, name: str, path: Path) -> None:
    h.update(name.encode() + b"\0")
    h.update(hashlib.sha256(path.read_bytes()).digest())


def _files(root: Path) -> list[Path]:
    """Regular files under ``root`` in a stable order, bytecode and tool caches left out."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _IGNORED_DIRS)
        kept = (name for name in sorted(filenames) if not name.endswith(_IGNORED_SUFFIXES))
        found.extend(Path(dirpath) / name for name in kept)
    return found


def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory this whole test run shares: the session's base temporary directory, or,
    in an xdist worker (whose base is ``<run's base>/popen-gwN``), the run's base."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) across processes."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
