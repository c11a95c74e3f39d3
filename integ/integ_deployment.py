#!/usr/bin/env python3
"""Integration test: deploy the app's stacks to a real account and check they work.

Run by ``integ-runner`` (``make integ``; integ-runner finds ``integ_*.py`` files and keeps
their snapshot in ``integ_deployment.py.snapshot/``). What it checks is in
:mod:`stacks.verify`. The stacks are the same :func:`stacks.build_app` deploys, with cdk.json's
settings, under their own names (``BcxIntegInterpreter``, ``BcxIntegAgent``,
``BcxIntegProbe``, interpreter ``bcx_integ``) so a real deployment in the account is not
touched; ``-c key=value`` overrides any setting as for ``cdk deploy``.

``make test`` synthesizes this app offline (tests/integ/test_integ_app.py).
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")

import aws_cdk as cdk
from aws_cdk import integ_tests_alpha as integ

from bedrock_code_execution.nag import add_checks
from stacks import REPO_ROOT, Settings, SettingsError, build_app
from stacks.verify import ProbeStack, add_assertions

# Names of this test's resources: apart from any deployment of the app in the same account.
INTEG_CONTEXT = {"stackPrefix": "BcxInteg", "interpreterName": "bcx_integ"}


def main() -> None:
    defaults = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    # cdk.json's settings and feature flags, then the test's names; -c values still win
    # (the CLI passes them in CDK_CONTEXT_JSON, which App reads after ``context``).
    app = cdk.App(context={**defaults, **INTEG_CONTEXT})
    try:
        settings = Settings.from_context(app.node.try_get_context)
    except SettingsError as e:
        print(f"error: invalid deployment settings: {e}", file=sys.stderr)
        raise SystemExit(2) from e
    stacks = build_app(app, settings)
    probe = ProbeStack(
        app,
        f"{settings.stack_prefix}Probe",
        settings=settings,
        agent=stacks.agent,
        description="bedrock-code-execution integ test: the probe that checks the deployment",
        analytics_reporting=False,
    )
    probe.add_dependency(stacks.agent)
    test = integ.IntegTest(
        app,
        "Deployment",
        test_cases=[stacks.code_interpreter, stacks.agent, probe],
        # The stacks keep their bucket and table on delete (RETAIN): integ-runner's
        # destroy leaves them, as `cdk destroy` does.
        stack_update_workflow=False,
        diff_assets=False,
    )
    add_assertions(test, settings=settings, agent=stacks.agent, probe=probe)
    for stack in (stacks.code_interpreter, stacks.agent, probe):
        add_checks(stack)  # integ-runner's own assertion stack is the framework's, not ours
    app.synth()


if __name__ == "__main__":
    main()
