"""The security review of a pull request: what changed in ``docs/iam.md`` and in the
security-relevant parts of the synthesized templates, as one Markdown comment.

``.github/workflows/iam-review.yml`` synthesizes the base and the head of the pull request
and posts (or updates) one comment with this output:

    python -m scripts.security_diff BASE_CDK_OUT HEAD_CDK_OUT \\
        --iam-base base-iam.md --iam-head docs/iam.md > comment.md

Security-relevant means: IAM roles, policies and their documents; security groups and their
rules; resource policies (S3, SQS, SNS, Lambda permissions, API Gateway, logs, KMS); KMS keys;
public access (S3 public access blocks, API methods' authorization, function URLs); the
code interpreter's network mode and role. Resources are matched by stack and logical id;
everything else in the templates (memory sizes, alarms, asset hashes) is left out.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["MARKER", "SECURITY_PROPERTIES", "comment", "security_changes", "templates"]

MARKER = "<!-- iam-review: one comment, updated on every push -->"
MAX_CHARS = 60_000  # GitHub refuses comments over 65,536 characters

# Resource type -> the properties that grant, expose or protect (None: all of them).
SECURITY_PROPERTIES: dict[str, tuple[str, ...] | None] = {
    "AWS::IAM::Role": (
        "AssumeRolePolicyDocument",
        "ManagedPolicyArns",
        "Policies",
        "PermissionsBoundary",
    ),
    "AWS::IAM::Policy": ("PolicyDocument", "Roles", "Users", "Groups"),
    "AWS::IAM::ManagedPolicy": ("PolicyDocument", "Roles", "Users", "Groups"),
    "AWS::IAM::User": None,
    "AWS::IAM::AccessKey": None,
    "AWS::EC2::SecurityGroup": ("SecurityGroupIngress", "SecurityGroupEgress", "VpcId"),
    "AWS::EC2::SecurityGroupIngress": None,
    "AWS::EC2::SecurityGroupEgress": None,
    "AWS::KMS::Key": ("KeyPolicy", "EnableKeyRotation", "KeySpec", "KeyUsage"),
    "AWS::KMS::Alias": None,
    "AWS::S3::Bucket": (
        "PublicAccessBlockConfiguration",
        "BucketEncryption",
        "OwnershipControls",
        "AccessControl",
        "WebsiteConfiguration",
        "CorsConfiguration",
    ),
    "AWS::S3::BucketPolicy": ("PolicyDocument",),
    "AWS::SQS::QueuePolicy": ("PolicyDocument",),
    "AWS::SNS::TopicPolicy": ("PolicyDocument",),
    "AWS::SNS::Topic": ("KmsMasterKeyId",),
    "AWS::SQS::Queue": ("KmsMasterKeyId", "SqsManagedSseEnabled"),
    "AWS::DynamoDB::Table": ("SSESpecification", "ResourcePolicy"),
    "AWS::Lambda::Permission": None,
    "AWS::Lambda::Url": None,
    "AWS::Lambda::Function": ("Role", "VpcConfig", "KmsKeyArn"),
    "AWS::ApiGateway::RestApi": ("Policy", "EndpointConfiguration", "DisableExecuteApiEndpoint"),
    "AWS::ApiGateway::Method": ("AuthorizationType", "AuthorizerId", "ApiKeyRequired"),
    "AWS::ApiGateway::Authorizer": None,
    "AWS::Logs::ResourcePolicy": None,
    "AWS::Events::EventBusPolicy": None,
    "AWS::SecretsManager::ResourcePolicy": None,
    "AWS::BedrockAgentCore::CodeInterpreterCustom": ("NetworkConfiguration", "ExecutionRoleArn"),
}


def templates(cdk_out: Path) -> dict[str, dict[str, Any]]:
    """Stack name -> template, from a ``cdk.out`` directory (nested assemblies included)."""
    found = {}
    for path in sorted(cdk_out.rglob("*.template.json")):
        found[path.name.removesuffix(".template.json")] = json.loads(path.read_text())
    return found


def _security_view(resource: dict[str, Any]) -> dict[str, Any] | None:
    """The security-relevant properties of one resource, or None for another kind."""
    rtype = resource.get("Type", "")
    if rtype not in SECURITY_PROPERTIES:
        return None
    props = resource.get("Properties") or {}
    wanted = SECURITY_PROPERTIES[rtype]
    kept = props if wanted is None else {k: props[k] for k in wanted if k in props}
    return {"Type": rtype, "Properties": kept}


def security_changes(
    base: dict[str, dict[str, Any]], head: dict[str, dict[str, Any]]
) -> list[tuple[str, str, str, str]]:
    """(stack, logical id, type, unified diff) for each security-relevant resource that was
    added, removed or changed between the two sets of templates."""
    changes = []
    for stack in sorted(set(base) | set(head)):
        before = (base.get(stack) or {}).get("Resources") or {}
        after = (head.get(stack) or {}).get("Resources") or {}
        for logical_id in sorted(set(before) | set(after)):
            old = _security_view(before[logical_id]) if logical_id in before else None
            new = _security_view(after[logical_id]) if logical_id in after else None
            if old == new:
                continue
            rtype = (new or old or {}).get("Type", "")
            diff = "\n".join(
                difflib.unified_diff(
                    _lines(old),
                    _lines(new),
                    f"base/{stack}/{logical_id}",
                    f"head/{stack}/{logical_id}",
                    lineterm="",
                )
            )
            changes.append((stack, logical_id, rtype, diff))
    return changes


def _lines(view: dict[str, Any] | None) -> list[str]:
    return [] if view is None else json.dumps(view, indent=2, sort_keys=True).splitlines()


def _iam_diff(base: str, head: str) -> str:
    return "\n".join(
        difflib.unified_diff(
            base.splitlines(),
            head.splitlines(),
            "base/docs/iam.md",
            "head/docs/iam.md",
            lineterm="",
        )
    )


def comment(changes: Iterable[tuple[str, str, str, str]], *, iam_base: str, iam_head: str) -> str:
    """The pull request comment (Markdown), starting with :data:`MARKER`."""
    changes = list(changes)
    iam = _iam_diff(iam_base, iam_head)
    parts = [MARKER, "## IAM and security review", ""]
    if not changes and not iam:
        parts.append("No change to `docs/iam.md` or to the security-relevant template resources.")
        return "\n".join(parts) + "\n"
    parts.append("### `docs/iam.md` (regenerated from the head's templates)")
    parts += ["", "```diff", iam, "```"] if iam else ["", "No change."]
    parts += ["", f"### Security-relevant template changes ({len(changes)})", ""]
    if not changes:
        parts.append("None.")
    for stack, logical_id, rtype, diff in changes:
        parts += [f"<details><summary><code>{stack}</code> {logical_id} ({rtype})</summary>", ""]
        parts += ["```diff", diff, "```", "", "</details>"]
    text = "\n".join(parts) + "\n"
    if len(text) > MAX_CHARS:
        cut = "\n\n*(cut: the full diff is in the workflow run's summary)*\n"
        text = text[: MAX_CHARS - len(cut)] + cut
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("base", type=Path, help="cdk.out of the pull request's base")
    parser.add_argument("head", type=Path, help="cdk.out of the pull request's head")
    parser.add_argument("--iam-base", type=Path, required=True, help="base's docs/iam.md")
    parser.add_argument("--iam-head", type=Path, required=True, help="head's regenerated one")
    args = parser.parse_args(argv)
    changes = security_changes(templates(args.base), templates(args.head))
    sys.stdout.write(
        comment(changes, iam_base=args.iam_base.read_text(), iam_head=args.iam_head.read_text())
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
