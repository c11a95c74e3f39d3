"""cdk-nag AwsSolutions (zero unacknowledged findings) and cfn-lint (zero errors)."""

from __future__ import annotations

import json

import pytest
from cfnlint.api import lint

from tests.stacks.cfn import Synth


def test_cdk_nag_has_no_unacknowledged_findings(synth: Synth) -> None:
    report = synth.validation_report()
    findings = [
        f"{v['ruleName']} at {c['constructPath']}: {v['description'][:120]}"
        for plugin in report.get("pluginReports", [])
        for v in plugin.get("violations", [])
        for c in v.get("violatingConstructs", [])
    ]
    assert not findings, "cdk-nag findings (fix or acknowledge with a reason):\n" + "\n".join(
        findings
    )
    assert synth.validation_error is None, synth.validation_error


@pytest.mark.parametrize("stack", ["Interpreter", "Agent"])
def test_cfn_lint_has_no_errors(synth: Synth, stack: str) -> None:
    name = synth.interpreter_stack if stack == "Interpreter" else synth.agent_stack
    matches = lint(json.dumps(synth.templates[name]), regions=["us-east-1"])
    errors = [m for m in matches if m.rule.id.startswith("E")]
    assert not errors, "\n".join(str(m) for m in errors)
