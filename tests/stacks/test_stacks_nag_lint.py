"""cdk-nag AwsSolutions (zero unacknowledged findings) and cfn-lint (zero errors)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.stacks.cfn import Synth
from tests.stacks.conftest import cdk_json_context

pytestmark = pytest.mark.cdk


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
    from cfnlint.api import lint

    name = synth.interpreter_stack if stack == "Interpreter" else synth.agent_stack
    matches = lint(json.dumps(synth.templates[name]), regions=["us-east-1"])
    errors = [m for m in matches if m.rule.id.startswith("E")]
    assert not errors, "\n".join(str(m) for m in errors)


def test_every_acknowledgment_answers_a_finding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No stale acknowledgment: synthesized with none applied, cdk-nag reports a finding for
    each one, on its construct or below it. (A stale one would silently hide a future
    finding of the same rule there, e.g. a sandbox/ grant coming back on a function role.)"""
    import aws_cdk as cdk

    import bedrock_code_execution.nag as nag
    from stacks import Settings, build_app

    acknowledged: list[tuple[str, str]] = []

    class _Recording:
        @staticmethod
        def of(construct: Any) -> Any:
            class _Record:
                def acknowledge(self, ack: cdk.Acknowledgment) -> None:
                    acknowledged.append((construct.node.path, ack.id.split("::", 1)[1]))

            return _Record()

    # without CDK's built-in CloudFormation validation: it can only add findings of its own
    # rules, and this test looks for the acknowledged AwsSolutions ones
    app = cdk.App(
        outdir=str(tmp_path), context=cdk_json_context(), builtin_cloud_formation_validation=False
    )
    with monkeypatch.context() as patched:
        patched.setattr(nag, "Validations", _Recording)
        build_app(app, Settings.from_context(app.node.try_get_context))
    nag.add_checks(app)
    # every acknowledged finding is now a violation, and synth stops on them
    with pytest.raises(RuntimeError, match=r"ValidationFailed: ERROR .*\(AwsSolutions\)"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    findings = {
        (c["constructPath"], v["ruleName"])
        for plugin in report["pluginReports"]
        for v in plugin["violations"]
        for c in v["violatingConstructs"]
    }
    assert acknowledged
    stale = [
        (path, rule)
        for path, rule in acknowledged
        if not any(r == rule and (p == path or p.startswith(path + "/")) for p, r in findings)
    ]
    assert stale == [], f"acknowledged, but cdk-nag finds nothing there: {stale}"
