"""Synthesize the whole app ONCE per test run (with cdk-nag), shared by every stack test."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.stacks.cfn import Synth
from tests.stacks.synth_cache import cache_key, file_lock, shared_root

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")

REPO = Path(__file__).resolve().parents[2]


def cdk_json_context() -> dict[str, Any]:
    """The context ``cdk synth`` passes to app.py (defaults + feature flags)."""
    return json.loads((REPO / "cdk.json").read_text())["context"]


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The default app (cdk.json's context, the real Lambda asset, cdk-nag), synthesized once
    for the whole run: the first xdist worker to need it writes it where the others read it
    (:mod:`tests.stacks.synth_cache`). Tests read ``outdir``; none may write there."""
    context = cdk_json_context()
    key = cache_key(REPO, context, Path(__file__), REPO / "cdk.json")
    root = shared_root(tmp_path_factory)
    entry = root / f"default-synth-{key}"
    with file_lock(root / f"default-synth-{key}.lock"):
        if not (entry / _DONE).exists():
            shutil.rmtree(entry, ignore_errors=True)  # a worker that failed half-way
            entry.mkdir()
            _synth_default_app(entry / "cdk.out", context, entry / _DONE)
    done = json.loads((entry / _DONE).read_text())
    outdir = entry / "cdk.out"
    templates = {
        name: json.loads((outdir / f"{name}.template.json").read_text())
        for name in (done["interpreter_stack"], done["agent_stack"])
    }
    return Synth(
        outdir=outdir,
        templates=templates,
        validation_error=done["validation_error"],
        interpreter_stack=done["interpreter_stack"],
        agent_stack=done["agent_stack"],
    )


_DONE = "synth.json"


def _synth_default_app(outdir: Path, context: dict[str, Any], done: Path) -> None:
    """Synthesize the app as app.py does; record what the templates alone do not say."""
    import aws_cdk as cdk

    from bedrock_code_execution.nag import add_checks
    from stacks import Settings, build_app

    app = cdk.App(outdir=str(outdir), context=context)
    settings = Settings.from_context(app.node.try_get_context)
    stacks = build_app(app, settings)
    add_checks(app)
    error = None
    try:
        app.synth()
    except RuntimeError as e:  # cdk-nag findings fail the synth; the templates are still written
        error = str(e)
    done.write_text(
        json.dumps(
            {
                "validation_error": error,
                "interpreter_stack": stacks.code_interpreter.stack_name,
                "agent_stack": stacks.agent.stack_name,
            }
        )
    )


@pytest.fixture(scope="session")
def interpreter_template(synth: Synth) -> dict[str, Any]:
    return synth.templates[synth.interpreter_stack]


@pytest.fixture(scope="session")
def agent_template(synth: Synth) -> dict[str, Any]:
    return synth.templates[synth.agent_stack]
