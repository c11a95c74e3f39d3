"""Synthesize the whole app ONCE per test session (with cdk-nag), shared by every stack test."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.stacks.cfn import Synth

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")

REPO = Path(__file__).resolve().parents[2]


def cdk_json_context() -> dict[str, Any]:
    """The context ``cdk synth`` passes to app.py (defaults + feature flags)."""
    return json.loads((REPO / "cdk.json").read_text())["context"]


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    import aws_cdk as cdk

    from bedrock_code_execution.nag import add_checks
    from stacks import Settings, build_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    context = cdk_json_context()
    app = cdk.App(outdir=str(outdir), context=context)
    settings = Settings.from_context(app.node.try_get_context)
    stacks = build_app(app, settings)
    add_checks(app)
    error = None
    try:
        app.synth()
    except RuntimeError as e:  # cdk-nag findings fail the synth; the templates are still written
        error = str(e)
    templates = {
        name: json.loads((outdir / f"{name}.template.json").read_text())
        for name in (stacks.code_interpreter.stack_name, stacks.agent.stack_name)
    }
    return Synth(
        outdir=outdir,
        templates=templates,
        validation_error=error,
        interpreter_stack=stacks.code_interpreter.stack_name,
        agent_stack=stacks.agent.stack_name,
    )


@pytest.fixture(scope="session")
def interpreter_template(synth: Synth) -> dict[str, Any]:
    return synth.templates[synth.interpreter_stack]


@pytest.fixture(scope="session")
def agent_template(synth: Synth) -> dict[str, Any]:
    return synth.templates[synth.agent_stack]
