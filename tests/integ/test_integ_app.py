"""The integ test app (integ/integ_deployment.py) synthesizes offline, passes cdk-nag, and its
assertions and probe are snapshotted (asset hashes normalized).

``make integ`` deploys it to a real account; here it is only synthesized, as integ-runner
would before deploying: the same command line (``python integ_deployment.py`` in integ/).
Review the diff of ``__snapshots__/`` in pull requests; update with
``.venv/bin/python -m pytest tests/integ --snapshot-update``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from tests.stacks.cfn import normalize
from tests.stacks.conftest import REPO

pytestmark = pytest.mark.cdk

INTEG = REPO / "integ"


@pytest.fixture(scope="module")
def integ_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("integ.out")
    # CDK_VALIDATION=false: CDK's built-in CloudFormation validation only warns (cdk.json does
    # not make its findings errors), so it cannot fail this synth, and no test here reads its
    # report; the stack tests check it finds nothing in the same stacks (the default app).
    env = {**os.environ, "CDK_OUTDIR": str(outdir), "CDK_VALIDATION": "false"}
    env.pop("CDK_CONTEXT_JSON", None)
    proc = subprocess.run(
        [sys.executable, "integ_deployment.py"],
        cwd=INTEG,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]  # a cdk-nag finding fails the synth
    return outdir


@pytest.fixture
def json_snapshot(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


def _template(outdir: Path, name: str) -> dict[str, Any]:
    return json.loads((outdir / f"{name}.template.json").read_text())


def test_integ_runner_finds_the_test_by_its_conventions() -> None:
    """integ-runner's Python preset: files ``^integ_.*\\.py$`` under the directory given
    (``make integ`` passes ``--directory integ``), snapshot in ``<file>.snapshot``."""
    found = [p.name for p in INTEG.iterdir() if re.match(r"^integ_.*\.py$", p.name)]
    assert found == ["integ_deployment.py"]
    makefile = (REPO / "Makefile").read_text()
    assert "integ-runner" in makefile and "--directory integ" in makefile
    package = json.loads((REPO / "package.json").read_text())
    assert re.fullmatch(r"\d+\.\d+\.\d+", package["devDependencies"]["@aws-cdk/integ-runner"])


def test_the_test_case_deploys_the_apps_stacks_and_the_probe(integ_out: Path) -> None:
    manifest = json.loads((integ_out / "integ.json").read_text())
    [(name, case)] = manifest["testCases"].items()
    assert name == "Deployment/DefaultTest"
    assert case["stacks"] == ["BcxIntegInterpreter", "BcxIntegAgent", "BcxIntegProbe"]
    assert case["stackUpdateWorkflow"] is False
    agent = _template(integ_out, "BcxIntegAgent")
    assert any(r["Type"] == "AWS::ApiGateway::RestApi" for r in agent["Resources"].values())
    interpreter = _template(integ_out, "BcxIntegInterpreter")
    [ci] = [
        r
        for r in interpreter["Resources"].values()
        if r["Type"] == "AWS::BedrockAgentCore::CodeInterpreterCustom"
    ]
    assert ci["Properties"]["Name"] == "bcx_integ"  # apart from a real deployment's


def test_the_assertions_cover_models_probe_checks_and_the_sweep(integ_out: Path) -> None:
    from stacks.verify import PROBE_CHECKS

    manifest = json.loads((integ_out / "integ.json").read_text())
    assertions = _template(
        integ_out, manifest["testCases"]["Deployment/DefaultTest"]["assertionStackName"]
    )
    calls = [
        r["Properties"]
        for r in assertions["Resources"].values()
        if r["Type"].startswith("Custom::DeployAssert@SdkCall")
    ]
    profiles = sorted(
        json.loads(c["parameters"]["inferenceProfileIdentifier"])
        for c in calls
        if c["api"] == "getInferenceProfile"
    )
    cdk_context = json.loads((REPO / "cdk.json").read_text())["context"]
    configured = {*cdk_context["allowedModelIds"], *cdk_context["sandboxModelIds"]}
    assert profiles == sorted(configured)
    invokes = [json.loads(c["expected"]) for c in calls if c["api"] == "invoke"]
    probe_checks = [e["$ObjectLike"]["Payload"]["$SerializedJson"].get("check") for e in invokes]
    assert probe_checks == [*PROBE_CHECKS, None]  # then the sweeper's report
    sweep = invokes[-1]["$ObjectLike"]["Payload"]["$SerializedJson"]["$ObjectLike"]
    assert sweep == {"stopped": [], "failed": []}


def _unsalted(template: dict[str, Any]) -> dict[str, Any]:
    """integ-tests stamps each assertion with ``salt`` = the synth time (so it reruns on every
    deployment); the snapshot keeps the key, not the time."""
    for resource in template["Resources"].values():
        if "salt" in resource.get("Properties", {}):
            resource["Properties"]["salt"] = "<synth-time>"
    return template


@pytest.mark.parametrize("stack", ["BcxIntegProbe", "DeploymentDefaultTestDeployAssertFEE892F6"])
def test_integ_template_snapshot(integ_out: Path, json_snapshot, stack: str) -> None:
    assert normalize(_unsalted(_template(integ_out, stack))) == json_snapshot
