"""The app's synthesized templates as one deployment, with the names a test gives its resources.

:func:`synth_app` runs the real :func:`stacks.build_app` (both stacks, their cross-stack
references, the ``cdk.json`` settings) with inline Lambda code instead of the bundled asset, so
it takes seconds. :class:`Deployment` resolves what the templates say to the concrete names and
ARNs CloudFormation would produce in one account and region, where every resource without a
fixed name is named after its logical id (buckets in lower case). It resolves ``Ref``,
``Fn::GetAtt``, ``Fn::Join``, ``Fn::Select``, ``Fn::Split``, ``Fn::Sub`` and ``Fn::ImportValue``
(across the stacks); any other intrinsic, resource type or attribute fails loudly, naming it,
so a template change can never resolve to a silently wrong value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Deployment", "Resource", "synth_app"]

REPO = Path(__file__).resolve().parents[1]

# type -> (property that fixes the name, ARN template, what Ref returns: "name" | "arn")
_TYPES: dict[str, tuple[str, str, str]] = {
    "AWS::DynamoDB::Table": ("TableName", "arn:aws:dynamodb:{r}:{a}:table/{n}", "name"),
    "AWS::S3::Bucket": ("BucketName", "arn:aws:s3:::{n}", "name"),
    "AWS::Lambda::Function": ("FunctionName", "arn:aws:lambda:{r}:{a}:function:{n}", "name"),
    "AWS::IAM::Role": ("RoleName", "arn:aws:iam::{a}:role/{n}", "name"),
    "AWS::IAM::Policy": ("PolicyName", "", "name"),
    "AWS::IAM::ManagedPolicy": ("ManagedPolicyName", "arn:aws:iam::{a}:policy/{n}", "arn"),
    "AWS::StepFunctions::StateMachine": (
        "StateMachineName",
        "arn:aws:states:{r}:{a}:stateMachine:{n}",
        "arn",
    ),
    "AWS::Logs::LogGroup": ("LogGroupName", "arn:aws:logs:{r}:{a}:log-group:{n}:*", "name"),
    "AWS::SNS::Topic": ("TopicName", "arn:aws:sns:{r}:{a}:{n}", "arn"),
    "AWS::BedrockAgentCore::CodeInterpreterCustom": (
        "Name",
        "arn:aws:bedrock-agentcore:{r}:{a}:code-interpreter-custom/{n}",
        "arn",
    ),
}
_INTERPRETER_SUFFIX = "-Ab12Cd34Ef"  # AgentCore appends a generated suffix to the name
_SUB = re.compile(r"\$\{([^}!][^}]*)\}")
_PSEUDO = ("AWS::Partition", "AWS::Region", "AWS::AccountId", "AWS::URLSuffix")


def synth_app(context: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Stack name -> template of the app as ``cdk synth`` builds it (``cdk.json`` context,
    overridden by ``context``), with inline Lambda code in place of the bundled asset."""
    import aws_cdk as cdk
    from aws_cdk import aws_lambda as lambda_

    from stacks import Settings, build_app

    settings_context = json.loads((REPO / "cdk.json").read_text())["context"]
    app = cdk.App(context={**settings_context, **(context or {})})
    settings = Settings.from_context(app.node.try_get_context)
    code = lambda_.Code.from_inline("def handler(event, context):\n    return None\n")
    stacks = build_app(app, settings, code=code)
    assembly = app.synth()
    return {
        stack.stack_name: assembly.get_stack_by_name(stack.stack_name).template
        for stack in (stacks.code_interpreter, stacks.agent)
    }


@dataclass(frozen=True)
class Resource:
    """One resource of one stack."""

    stack: str
    logical_id: str
    type: str
    props: dict[str, Any]


class Deployment:
    """The templates of one app, deployed (on paper) into ``account`` and ``region``."""

    def __init__(
        self,
        templates: Mapping[str, dict[str, Any]],
        *,
        region: str = "us-east-1",
        account: str = "123456789012",
    ) -> None:
        self.templates = dict(templates)
        self.region, self.account = region, account
        self._exports: dict[str, tuple[str, Any]] = {}
        for stack, template in self.templates.items():
            for output in template.get("Outputs", {}).values():
                if "Export" in output:
                    name = self.resolve(output["Export"]["Name"], stack)
                    self._exports[name] = (stack, output["Value"])

    # --- resources ---------------------------------------------------------------------------

    def resources(self, rtype: str | None = None) -> Iterator[Resource]:
        for stack, template in self.templates.items():
            for logical_id, res in template["Resources"].items():
                if rtype is None or res["Type"] == rtype:
                    yield Resource(stack, logical_id, res["Type"], res.get("Properties", {}))

    def get(self, stack: str, logical_id: str) -> Resource:
        res = self.templates[stack]["Resources"].get(logical_id)
        if res is None:
            raise KeyError(f"{stack} has no resource {logical_id}")
        return Resource(stack, logical_id, res["Type"], res.get("Properties", {}))

    def find(self, logical_id: str) -> Resource:
        """The resource with this logical id, in whichever stack holds it (exactly one)."""
        found = [r for r in self.resources() if r.logical_id == logical_id]
        if len(found) != 1:
            raise KeyError(f"{len(found)} resources are named {logical_id}")
        return found[0]

    def name(self, res: Resource) -> str:
        """The physical name (fixed by the template, or the logical id)."""
        name_prop, _, _ = self._type(res)
        if name_prop in res.props:
            name = str(self.resolve(res.props[name_prop], res.stack))
        else:
            name = res.logical_id.lower() if res.type == "AWS::S3::Bucket" else res.logical_id
        if res.type == "AWS::BedrockAgentCore::CodeInterpreterCustom":
            name += _INTERPRETER_SUFFIX
        return name

    def arn(self, res: Resource) -> str:
        _, template, _ = self._type(res)
        if not template:
            raise ValueError(f"{res.type} ({res.logical_id}) has no ARN")
        return template.format(r=self.region, a=self.account, n=self.name(res))

    def role_of(self, res: Resource) -> Resource | None:
        """The role a function, state machine or code interpreter acts with (same stack)."""
        for prop in ("Role", "RoleArn", "ExecutionRoleArn"):
            ref = res.props.get(prop)
            if isinstance(ref, dict) and "Fn::GetAtt" in ref:
                return self.get(res.stack, ref["Fn::GetAtt"][0])
        return None

    def _type(self, res: Resource) -> tuple[str, str, str]:
        if res.type not in _TYPES:
            raise ValueError(f"no test naming for {res.type} ({res.logical_id}): add it to _TYPES")
        return _TYPES[res.type]

    # --- intrinsics --------------------------------------------------------------------------

    def resolve(self, value: Any, stack: str) -> Any:
        """``value`` with every intrinsic resolved, as ``stack`` would see it."""
        if isinstance(value, list):
            return [self.resolve(v, stack) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1 or not next(iter(value)).startswith(("Fn::", "Ref")):
            return {k: self.resolve(v, stack) for k, v in value.items()}
        [(fn, arg)] = value.items()
        if fn == "Ref":
            return self._ref(arg, stack)
        if fn == "Fn::GetAtt":
            logical_id, attr = arg if isinstance(arg, list) else arg.split(".", 1)
            return self._get_att(self.get(stack, logical_id), attr)
        if fn == "Fn::Join":
            sep, parts = arg
            return sep.join(str(p) for p in self.resolve(parts, stack))
        if fn == "Fn::Select":
            index, items = self.resolve(arg, stack)
            return items[int(index)]
        if fn == "Fn::Split":
            sep, text = self.resolve(arg, stack)
            return str(text).split(sep)
        if fn == "Fn::ImportValue":
            name = self.resolve(arg, stack)
            if name not in self._exports:
                raise KeyError(f"no stack exports {name!r}")
            other, exported = self._exports[name]
            return self.resolve(exported, other)
        if fn == "Fn::Sub":
            return self._sub(arg, stack)
        raise ValueError(f"intrinsic {fn} is not resolved here: {json.dumps(value)[:200]}")

    def _ref(self, ref: str, stack: str) -> str:
        pseudo = {
            "AWS::Partition": "aws",
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::URLSuffix": "amazonaws.com",
        }
        if ref in pseudo:
            return pseudo[ref]
        res = self.get(stack, ref)
        return self.arn(res) if self._type(res)[2] == "arn" else self.name(res)

    def _get_att(self, res: Resource, attr: str) -> str:
        if attr in ("Arn", "CodeInterpreterArn"):
            return self.arn(res)
        if attr == "CodeInterpreterId" and res.type.endswith("::CodeInterpreterCustom"):
            return self.name(res)
        raise ValueError(f"attribute {attr} of {res.type} ({res.logical_id}) is not resolved here")

    def _sub(self, arg: Any, stack: str) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else arg

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(variables[name], stack))
            if name in _PSEUDO or "." not in name:
                return str(self._ref(name, stack))
            logical_id, attr = name.split(".", 1)
            return self._get_att(self.get(stack, logical_id), attr)

        return _SUB.sub(one, text)
