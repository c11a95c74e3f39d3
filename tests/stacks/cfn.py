"""Helpers to read synthesized CloudFormation templates in tests."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Synth", "as_list", "normalize", "policy_statements", "resources"]

_ASSET_HASH = re.compile(r"[0-9a-f]{64}")


def resources(template: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    """Logical id -> resource for every resource of ``rtype``."""
    return {k: v for k, v in template["Resources"].items() if v["Type"] == rtype}


def policy_statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(policy logical id, statement) for every identity-policy statement in the template.

    Covers AWS::IAM::Policy / ManagedPolicy resources and inline ``Policies`` of roles; this is
    also how a least-privilege test can read what a role may do from the synthesized template.
    """
    found: list[tuple[str, dict[str, Any]]] = []
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        docs = []
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            docs.append(props["PolicyDocument"])
        if resource["Type"] == "AWS::IAM::Role":
            docs.extend(p["PolicyDocument"] for p in props.get("Policies", []))
        for doc in docs:
            statements = doc["Statement"]
            for statement in statements if isinstance(statements, list) else [statements]:
                found.append((logical_id, statement))
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def normalize(value: Any) -> Any:
    """Template with asset hashes (and the S3 keys made of them) replaced by a placeholder."""
    text = json.dumps(value, sort_keys=True)
    return json.loads(_ASSET_HASH.sub("<asset-hash>", text))


@dataclass
class Synth:
    """One synthesized app."""

    outdir: Path
    templates: dict[str, dict[str, Any]]  # stack name -> template
    validation_error: str | None  # set when cdk-nag (policy validation) failed the synth
    interpreter_stack: str
    agent_stack: str

    def validation_report(self) -> dict[str, Any]:
        path = self.outdir / "validation-report.json"
        return json.loads(path.read_text()) if path.exists() else {"pluginReports": []}

    def lambda_asset_dir(self) -> Path:
        manifest = json.loads((self.outdir / f"{self.agent_stack}.assets.json").read_text())
        dirs = [
            self.outdir / f["source"]["path"]
            for f in manifest["files"].values()
            if f["source"].get("packaging") == "zip"
        ]
        assert len(dirs) == 1, f"expected one Lambda code asset, found {dirs}"
        return dirs[0]
