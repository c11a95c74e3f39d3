"""Least privilege, checked both ways: what was called against what a role grants.

**Needs.** A recorded call (:class:`devtools.call_recorder.Call`) becomes one or more *needs*:
an IAM action on one concrete resource ARN, with the request context IAM evaluates conditions
against. :data:`IAM_ACTIONS` maps each botocore operation to its action (a call without an
entry fails, asking for one). A model call needs the model, or the inference profile and, with
``bedrock:InferenceProfileArn`` set, the foundation model in every region the profile routes to
(Bedrock authorizes both; a global profile routes to any region, ``*``, and also needs the
region-less foundation-model ARN).

**Narrowest pattern.** For each need, the narrowest resource pattern a policy written before
deployment can name: the ARN with only the parts named at run time replaced by ``*``:

* an S3 object: the key below its first segment. ``arn:aws:s3:::B/files/sessions/s/r/a.csv``
  -> ``arn:aws:s3:::B/files/*``: the code fixes the prefix; callers, session, run and job ids
  name the rest (a key without a ``/`` is named exactly);
* a Step Functions execution: its name (one per job, named by the job id).
  ``...:execution:M:<job id>`` -> ``...:execution:M:*``;
* anything else: the ARN itself. A table, a state machine, a Lambda function, a code
  interpreter, an inference profile, a foundation model in one region all exist at deploy time;
  ``*`` only for an action without resource-level permission, whose need is ``*``.

**Findings**, per role, from its Allow statements (``NotAction``/``NotResource``/``Deny`` are
refused, not guessed at):

* *missing* — a need that no statement grants (action, resource and conditions);
* *unused* — a granted (action, resource), or one value of a condition, that grants none of the
  role's needs;
* *too broad* — a granted resource contained in none of the narrowest patterns of the role's
  needs of that action, *contained* meaning that every ARN the grant matches, the pattern
  matches too (``table/*``, ``B/*``, ``arn:aws:s3:::*``, ``foundation-model/*`` are contained
  in none); a ``*Like`` condition value wider than the context the calls carried; a wildcard
  action.

``logs:`` and ``xray:`` actions are the platform's (log delivery, tracing), not calls the code
makes; they are not checked here (``tests/stacks`` checks where they may use ``*``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from devtools.call_recorder import Call
from devtools.deployment import Deployment, Resource

__all__ = [
    "IAM_ACTIONS",
    "PLATFORM_PREFIXES",
    "Need",
    "RoleFindings",
    "allows",
    "check_role",
    "claude_code_needs",
    "model_needs",
    "narrowest",
    "needs",
    "role_statements",
]

_AC = "bedrock-agentcore"
# (service id as botocore names it in events, operation) -> IAM action
IAM_ACTIONS: dict[tuple[str, str], str] = {
    ("dynamodb", "GetItem"): "dynamodb:GetItem",
    ("dynamodb", "PutItem"): "dynamodb:PutItem",
    ("dynamodb", "UpdateItem"): "dynamodb:UpdateItem",
    ("dynamodb", "DeleteItem"): "dynamodb:DeleteItem",
    ("dynamodb", "Query"): "dynamodb:Query",
    ("s3", "GetObject"): "s3:GetObject",  # also presigned GET URLs
    ("s3", "HeadObject"): "s3:GetObject",  # HEAD needs read permission on the object
    ("s3", "PutObject"): "s3:PutObject",
    ("s3", "DeleteObject"): "s3:DeleteObject",
    ("sfn", "StartExecution"): "states:StartExecution",
    ("sfn", "DescribeExecution"): "states:DescribeExecution",
    ("lambda", "Invoke"): "lambda:InvokeFunction",
    ("bedrock-runtime", "Converse"): "bedrock:InvokeModel",
    ("bedrock-runtime", "InvokeModel"): "bedrock:InvokeModel",
    ("bedrock-runtime", "ConverseStream"): "bedrock:InvokeModelWithResponseStream",
    ("bedrock-runtime", "InvokeModelWithResponseStream"): "bedrock:InvokeModelWithResponseStream",
    ("bedrock-runtime", "CountTokens"): "bedrock:CountTokens",
    (_AC, "StartCodeInterpreterSession"): f"{_AC}:StartCodeInterpreterSession",
    (_AC, "InvokeCodeInterpreter"): f"{_AC}:InvokeCodeInterpreter",
    (_AC, "StopCodeInterpreterSession"): f"{_AC}:StopCodeInterpreterSession",
    (_AC, "GetCodeInterpreterSession"): f"{_AC}:GetCodeInterpreterSession",
    (_AC, "ListCodeInterpreterSessions"): f"{_AC}:ListCodeInterpreterSessions",
    (_AC, "InvokeWebSearch"): f"{_AC}:InvokeWebSearch",
}
PLATFORM_PREFIXES = ("logs:", "xray:")
_OPERATORS = {
    "StringEquals": False,
    "ArnEquals": False,
    "StringLike": True,
    "ArnLike": True,
    # a DynamoDB call names one partition key, so "for all values" is that one value
    "ForAllValues:StringLike": True,
}
# Claude Code's model settings (environment variables), main model first.
_CLAUDE_CODE_MODELS = (
    "ANTHROPIC_MODEL",
    "ANTHROPIC_SMALL_FAST_MODEL",
    "ANTHROPIC_DEFAULT_HAIKU_MODEL",
    "ANTHROPIC_DEFAULT_SONNET_MODEL",
    "ANTHROPIC_DEFAULT_OPUS_MODEL",
)


@dataclass(frozen=True)
class Need:
    """One action on one resource, in a request context (condition key, value pairs)."""

    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()
    why: str = field(default="", compare=False)  # who needed it, for messages


# --- needs ------------------------------------------------------------------------------------


def needs(call: Call, *, account: str, profile_regions: Mapping[str, Sequence[str]]) -> list[Need]:
    """What IAM must allow for one recorded call."""
    key = (call.service, call.operation)
    if key not in IAM_ACTIONS:
        raise KeyError(f"no IAM action known for {call}: add it to IAM_ACTIONS")
    action, p, region, why = IAM_ACTIONS[key], call.params, call.region, f"{call.actor} {call}"
    if call.service == "dynamodb":
        table = str(p["TableName"])
        arn = _arn(table, f"arn:aws:dynamodb:{region}:{account}:table/")
        return [Need(action, arn, (("dynamodb:LeadingKeys", _partition_key(p)),), why=why)]
    if call.service == "s3":
        path = f"{p['Bucket']}/{p['Key']}" if "Key" in p else str(p["Bucket"])
        return [Need(action, f"arn:aws:s3:::{path}", why=why)]
    if call.service == "sfn":
        return [Need(action, str(p.get("stateMachineArn") or p["executionArn"]), why=why)]
    if call.service == "lambda":
        arn = _arn(str(p["FunctionName"]), f"arn:aws:lambda:{region}:{account}:function:")
        return [Need(action, arn, why=why)]
    if call.service == _AC and call.operation == "InvokeWebSearch":
        # an AWS-owned tool: account "aws" (the operation's documentation names the ARN)
        return [Need(action, f"arn:aws:{_AC}:{region}:aws:tool/{p['webSearchId']}", why=why)]
    if call.service == _AC:
        ident = str(p["codeInterpreterIdentifier"])
        arn = _arn(ident, f"arn:aws:{_AC}:{region}:{account}:code-interpreter-custom/")
        return [Need(action, arn, why=why)]
    return model_needs(action, str(p["modelId"]), region, account, profile_regions, why=why)


def _partition_key(params: Mapping[str, Any]) -> str:
    """The partition key a DynamoDB call reads or writes (what ``dynamodb:LeadingKeys`` is)."""
    for source in (params.get("Key"), params.get("Item")):
        if source and "pk" in source:
            return str(source["pk"]["S"])
    return str((params.get("ExpressionAttributeValues") or {})[":pk"]["S"])  # Query on pk


def _arn(name_or_arn: str, prefix: str) -> str:
    """APIs take a name or an ARN; IAM sees the ARN."""
    return name_or_arn if name_or_arn.startswith("arn:") else prefix + name_or_arn


def model_needs(
    action: str,
    model_id: str,
    region: str,
    account: str,
    profile_regions: Mapping[str, Sequence[str]],
    *,
    why: str = "",
) -> list[Need]:
    """What invoking ``model_id`` from ``region`` needs (see the module docstring)."""
    prefix, _, model = model_id.partition(".")
    if not model or prefix not in profile_regions:
        return [Need(action, f"arn:aws:bedrock:{region}::foundation-model/{model_id}", why=why)]
    profile = f"arn:aws:bedrock:{region}:{account}:inference-profile/{model_id}"
    via = (("bedrock:InferenceProfileArn", profile),)
    routed = [
        Need(action, f"arn:aws:bedrock:{r}::foundation-model/{model}", via, why)
        for r in profile_regions[prefix]
    ]
    if "*" in profile_regions[prefix]:
        routed.append(Need(action, f"arn:aws:bedrock:::foundation-model/{model}", via, why))
    return [Need(action, profile, why=why), *routed]


def claude_code_needs(
    config: Mapping[str, str],
    *,
    account: str,
    profile_regions: Mapping[str, Sequence[str]],
    why: str,
) -> list[Need]:
    """What Claude Code calls on Bedrock when it runs with the environment ``config``.

    Claude Code's documentation for Amazon Bedrock ("IAM configuration") lists what it needs:
    it calls its models through the Invoke API (``InvokeModel``,
    ``InvokeModelWithResponseStream``; never Converse), lists inference profiles
    (``ListInferenceProfiles``, no resource-level permission) and reads the profile of a model it
    uses (``GetInferenceProfile``). Its models are the ones its environment names; an
    environment that is not Bedrock mode, or names no main model (Claude Code would pick its
    own default), is refused. Not derived: the model Claude Code uses for background work when
    the environment names no small/fast model (``ANTHROPIC_DEFAULT_HAIKU_MODEL``), which is
    Claude Code's own default and so no model a deployment can name.
    """
    if config.get("CLAUDE_CODE_USE_BEDROCK") != "1" or not config.get("ANTHROPIC_MODEL"):
        raise ValueError(f"Claude Code was not configured for Bedrock with a model: {config}")
    region = config["AWS_REGION"]
    found = [Need("bedrock:ListInferenceProfiles", "*", why=why)]
    for model_id in dict.fromkeys(config[v] for v in _CLAUDE_CODE_MODELS if config.get(v)):
        for action in ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"):
            found += model_needs(action, model_id, region, account, profile_regions, why=why)
        if model_id.partition(".")[0] in profile_regions:
            profile = f"arn:aws:bedrock:{region}:{account}:inference-profile/{model_id}"
            found.append(Need("bedrock:GetInferenceProfile", profile, why=why))
    return found


def narrowest(resource: str) -> str:
    """The narrowest pattern a policy can name for ``resource`` (see the module docstring)."""
    if resource.startswith("arn:aws:s3:::") and "/" in resource:
        bucket, key = resource.removeprefix("arn:aws:s3:::").split("/", 1)
        return f"arn:aws:s3:::{bucket}/{key.split('/', 1)[0]}/*" if "/" in key else resource
    if resource.startswith("arn:aws:states:") and ":execution:" in resource:
        return resource.rsplit(":", 1)[0] + ":*"
    return resource


def _narrowest_context(key: str, value: str) -> str:
    if key == "s3:prefix":  # a listing prefix: fixed first segment, the rest named at run time
        return value.split("/", 1)[0] + "/*" if "/" in value else value
    if key == "dynamodb:LeadingKeys":  # KIND#<id>: the kind is the code's, the id a caller's
        return value.split("#", 1)[0] + "#*" if "#" in value else value
    return value


# --- statements ---------------------------------------------------------------------------


def role_statements(deployment: Deployment, role: Resource) -> list[dict[str, Any]]:
    """Every identity-policy statement of ``role`` in any stack, intrinsics resolved."""
    if role.props.get("ManagedPolicyArns"):
        raise ValueError(f"{role.logical_id}: managed policies are not evaluated here")
    statements = [
        s
        for policy in role.props.get("Policies", [])
        for s in _listed(deployment.resolve(policy["PolicyDocument"], role.stack))
    ]
    name = deployment.name(role)
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for policy in deployment.resources(kind):
            if name in deployment.resolve(policy.props.get("Roles", []), policy.stack):
                document = deployment.resolve(policy.props["PolicyDocument"], policy.stack)
                statements += _listed(document)
    for s in statements:
        refused = {"NotAction", "NotResource", "NotPrincipal"} & set(s)
        if refused or s.get("Effect") != "Allow":
            raise ValueError(f"{role.logical_id}: only Allow + Action/Resource is evaluated: {s}")
    return statements


def _listed(document: dict[str, Any]) -> list[dict[str, Any]]:
    return _list(document["Statement"])


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _pattern(glob: str) -> str:
    """An IAM wildcard pattern for ``fnmatchcase`` (IAM has ``*`` and ``?``, no ``[...]``)."""
    return glob.replace("[", "[[]")


def _conditions_hold(conditions: Mapping[str, Any] | None, context: Mapping[str, str]) -> bool:
    for operator, tests in (conditions or {}).items():
        if operator not in _OPERATORS:
            return False  # never assume an unknown operator allows
        for key, wanted in tests.items():
            have = context.get(key)
            if have is None:
                return False
            like = _OPERATORS[operator]
            values = _list(wanted)
            if not any(fnmatchcase(have, _pattern(w)) if like else have == w for w in values):
                return False
    return True


def allows(statement: Mapping[str, Any], need: Need) -> bool:
    """Does this Allow statement grant ``need`` (action, resource, conditions)?"""
    action = need.action.lower()
    return (
        any(fnmatchcase(action, _pattern(a.lower())) for a in _list(statement["Action"]))
        and any(fnmatchcase(need.resource, _pattern(r)) for r in _list(statement["Resource"]))
        and _conditions_hold(statement.get("Condition"), dict(need.context))
    )


# --- findings -----------------------------------------------------------------------------


@dataclass
class RoleFindings:
    """What is wrong with one role, and how much was checked."""

    role: str
    missing: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    too_broad: list[str] = field(default_factory=list)
    grants: int = 0  # (action, resource) pairs checked

    @property
    def problems(self) -> list[str]:
        return [*self.missing, *self.unused, *self.too_broad]


def check_role(role: str, statements: list[dict[str, Any]], role_needs: list[Need]) -> RoleFindings:
    """Compare one role's statements with everything done with it."""
    out = RoleFindings(role)
    for need in dict.fromkeys(role_needs):
        if not any(allows(s, need) for s in statements):
            context = "".join(f" when {k}={v}" for k, v in need.context)
            out.missing.append(
                f"{role}: {need.action} on {need.resource}{context} is not granted "
                f"(needed by {need.why})"
            )
    for s, action, resource in _grants(statements):
        out.grants += 1
        if "*" in action or "?" in action:
            out.too_broad.append(f"{role}: {action} names no single action")
            continue
        wanted = [n for n in role_needs if fnmatchcase(n.action.lower(), action.lower())]
        one = {**s, "Action": action, "Resource": resource}
        if not any(allows(one, n) for n in wanted):
            out.unused.append(f"{role}: {action} on {resource} is granted but no call needs it")
            continue
        patterns = sorted({narrowest(n.resource) for n in wanted})
        if not any(fnmatchcase(resource, _pattern(p)) for p in patterns):
            out.too_broad.append(
                f"{role}: {action} on {resource} is broader than the calls need "
                f"({', '.join(patterns)})"
            )
        out.unused += _unused_condition_values(role, one, wanted)
        out.too_broad += _wide_condition_values(role, one, wanted)
    return out


def _grants(statements: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], str, str]]:
    for s in statements:
        for action in _list(s["Action"]):
            if action.lower().startswith(PLATFORM_PREFIXES):
                continue
            for resource in _list(s["Resource"]):
                yield s, action, resource


def _condition_values(one: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    for operator, tests in (one.get("Condition") or {}).items():
        for key, values in tests.items():
            for value in _list(values):
                yield operator, key, value


def _unused_condition_values(role: str, one: dict[str, Any], wanted: list[Need]) -> list[str]:
    found = []
    for operator, key, value in _condition_values(one):
        tests = {**one["Condition"][operator], key: value}
        narrowed = {**one, "Condition": {**one["Condition"], operator: tests}}
        if not any(allows(narrowed, n) for n in wanted):
            found.append(
                f"{role}: {one['Action']} on {one['Resource']} when {key} {operator} {value} "
                "is granted but no call needs it"
            )
    return found


def _wide_condition_values(role: str, one: dict[str, Any], wanted: list[Need]) -> list[str]:
    found = []
    for operator, key, value in _condition_values(one):
        if not _OPERATORS.get(operator):
            continue
        have = {_narrowest_context(k, v) for n in wanted for k, v in n.context if k == key}
        if not any(fnmatchcase(value, _pattern(h)) for h in have):
            found.append(
                f"{role}: {one['Action']} on {one['Resource']} when {key} {operator} {value} "
                f"is broader than the calls need ({', '.join(sorted(have)) or 'no such context'})"
            )
    return found
