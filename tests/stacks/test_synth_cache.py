"""The default app's synthesis is shared by the xdist workers of a run (tests/stacks/conftest.py)
under a key of everything it reads: a test never reads templates built from other sources or
another context, and the workers take turns."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.stacks.conftest import REPO, cdk_json_context
from tests.stacks.synth_cache import SOURCES, cache_key, file_lock, shared_root

pytestmark = pytest.mark.cdk

CONTEXT = {"networkMode": "PUBLIC", "@aws-cdk/core:newStyleStackSynthesis": True}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A checkout in miniature: one file in each source directory, and the fixture's code."""
    for source in SOURCES:
        (tmp_path / source / "pkg").mkdir(parents=True)
        (tmp_path / source / "pkg" / "mod.py").write_text(f"NAME = {source!r}\n")
    (tmp_path / "conftest.py").write_text("def synth(): ...\n")
    return tmp_path


def _key(tree: Path, context: dict[str, object] = CONTEXT) -> str:
    return cache_key(tree, context, tree / "conftest.py")


def test_the_same_inputs_give_the_same_key(tree: Path) -> None:
    assert _key(tree) == _key(tree) == _key(tree, dict(reversed(CONTEXT.items())))


@pytest.mark.parametrize("source", SOURCES)
def test_a_change_in_any_source_directory_changes_the_key(tree: Path, source: str) -> None:
    before = _key(tree)
    module = tree / source / "pkg" / "mod.py"
    module.write_text(module.read_text() + "X = 1\n")
    edited = _key(tree)
    (tree / source / "pkg" / "new.py").write_text("")
    added = _key(tree)
    (tree / source / "pkg" / "mod.py").rename(tree / source / "pkg" / "moved.py")
    assert len({before, edited, added, _key(tree)}) == 4


def test_context_environment_and_the_fixture_code_change_the_key(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _key(tree)
    assert _key(tree, {**CONTEXT, "networkMode": "SANDBOX"}) != before
    assert _key(tree, {**CONTEXT, "requireApiKey": True}) != before
    (tree / "conftest.py").write_text("def synth(): return 1\n")
    fixture_changed = _key(tree)
    assert fixture_changed != before
    monkeypatch.setenv("CDK_VALIDATION", "false")
    assert _key(tree) != fixture_changed


def test_bytecode_and_tool_caches_do_not_change_the_key(tree: Path) -> None:
    before = _key(tree)
    cache = tree / "stacks" / "pkg" / "__pycache__"
    cache.mkdir()
    (cache / "mod.cpython-311.pyc").write_bytes(b"\0")
    (tree / "lambda" / "pkg" / "mod.pyc").write_bytes(b"\0")
    assert _key(tree) == before


def test_the_key_reads_every_source_the_default_synthesis_reads() -> None:
    """The Python packages that build the app, and each input of its Lambda asset, are under
    a directory the key hashes (the deps cache, ``.build/``, is keyed by the requirements)."""
    import bedrock_code_execution
    import stacks
    from bedrock_code_execution.bundling import lambda_asset

    settings = stacks.Settings.from_context(cdk_json_context().get)
    asset = lambda_asset(settings)
    read = [
        Path(bedrock_code_execution.__file__).parent,
        Path(stacks.__file__).parent,
        asset.requirements,
        *asset.packages,
        *(source for source, _ in asset.extras),
    ]
    hashed = [REPO / source for source in SOURCES]
    assert [p for p in read if not any(p.is_relative_to(h) for h in hashed)] == []


def test_xdist_workers_share_the_runs_base_directory(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    assert shared_root(tmp_path_factory) == base.parent
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    assert shared_root(tmp_path_factory) == base


def test_the_lock_keeps_other_processes_out_while_held(tmp_path: Path) -> None:
    lock = tmp_path / "synth.lock"
    probe = (
        "import fcntl, sys\n"
        "with open(sys.argv[1], 'a') as f:\n"
        "    try:\n"
        "        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "    except BlockingIOError:\n"
        "        sys.exit(3)\n"
    )

    def other_process_gets_it() -> bool:
        proc = subprocess.run([sys.executable, "-c", probe, str(lock)], check=False)
        assert proc.returncode in (0, 3)
        return proc.returncode == 0

    with file_lock(lock):
        assert not other_process_gets_it()
    assert other_process_gets_it()
