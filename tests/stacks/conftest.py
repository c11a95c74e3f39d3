"""Synthesize the whole app (and the variant apps) ONCE per test run (with cdk-nag), shared by
every stack test."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.stacks import variant_apps
from tests.stacks.cfn import Synth
from tests.stacks.synth_cache import cache_key, file_lock, shared_root

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")

REPO = Path(__file__).resolve().parents[2]


def cdk_json_context() -> dict[str, Any]:
    """The context ``cdk synth`` passes to app.py (defaults + feature flags)."""
    return json.loads((REPO / "cdk.json").read_text())["context"]


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default app (cdk.json's context, the real Lambda asset, cdk-nag) and the
    :data:`~tests.stacks.variant_apps.VARIANTS`, synthesized once for the whole run, in one
    process: the first xdist worker to need them writes them where the others read them
    (:mod:`tests.stacks.synth_cache`). Tests read what is there; none may write there."""
    context = cdk_json_context()
    drivers = (Path(__file__), REPO / "cdk.json", Path(variant_apps.__file__))
    key = cache_key(REPO, context, *drivers)
    root = shared_root(tmp_path_factory)
    entry = root / f"stack-synths-{key}"
    with file_lock(root / f"stack-synths-{key}.lock"):
        if not (entry / _DONE).exists():
            shutil.rmtree(entry, ignore_errors=True)  # a worker that failed half-way
            entry.mkdir()
            done = _synth_default_app(entry / "cdk.out", context)
            for name, (prefix, overrides) in variant_apps.VARIANTS.items():
                variant_apps.synth_variant(entry / name, prefix, {**context, **overrides})
            (entry / _DONE).write_text(json.dumps(done))  # last: the others read from here
    return entry


@pytest.fixture(scope="session")
def synth(synthesized: Path) -> Synth:
    """The default app's synthesis."""
    done = json.loads((synthesized / _DONE).read_text())
    outdir = synthesized / "cdk.out"
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


def variant_synth(synthesized: Path, name: str) -> dict[str, Any]:
    """What :func:`tests.stacks.variant_apps.read_variant` reads for the variant ``name``."""
    prefix, _ = variant_apps.VARIANTS[name]
    return variant_apps.read_variant(synthesized / name, prefix)


_DONE = "synth.json"


def _synth_default_app(outdir: Path, context: dict[str, Any]) -> dict[str, Any]:
    """Synthesize the app as app.py does; return what the templates alone do not say."""
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
    return {
        "validation_error": error,
        "interpreter_stack": stacks.code_interpreter.stack_name,
        "agent_stack": stacks.agent.stack_name,
    }


@pytest.fixture(scope="session")
def interpreter_template(synth: Synth) -> dict[str, Any]:
    return synth.templates[synth.interpreter_stack]


@pytest.fixture(scope="session")
def agent_template(synth: Synth) -> dict[str, Any]:
    return synth.templates[synth.agent_stack]
