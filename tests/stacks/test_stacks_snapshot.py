"""Snapshot of every synthesized template (asset hashes normalized).

Review the diff of ``__snapshots__/`` in pull requests; update with
``.venv/bin/python -m pytest tests/stacks --snapshot-update``.
"""

from __future__ import annotations

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from tests.stacks.cfn import Synth, normalize

pytestmark = pytest.mark.cdk


@pytest.fixture
def json_snapshot(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("stack", ["Interpreter", "Agent"])
def test_template_snapshot(synth: Synth, json_snapshot, stack: str) -> None:
    name = synth.interpreter_stack if stack == "Interpreter" else synth.agent_stack
    assert normalize(synth.templates[name]) == json_snapshot
