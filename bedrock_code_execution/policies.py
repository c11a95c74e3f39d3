"""IAM statements shared by the stacks, built from settings (no context reads, no lookups)."""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Aws, Stack
from aws_cdk import aws_iam as iam

from bedrock_code_execution.props import ModelTarget

__all__ = [
    "COUNT_TOKENS_ACTION",
    "INTERPRETER_ACTIONS",
    "LIST_SESSIONS_ACTION",
    "MODEL_INVOKE_ACTIONS",
    "MODEL_STREAM_ACTIONS",
    "count_tokens_statement",
    "foundation_model_arns",
    "interpreter_statement",
    "model_invoke_statements",
    "profile_arn",
    "profile_read_statements",
]

MODEL_INVOKE_ACTIONS = ("bedrock:InvokeModel",)  # InvokeModel and Converse
MODEL_STREAM_ACTIONS = ("bedrock:InvokeModelWithResponseStream",)  # and ConverseStream
# POST /v1/messages/count_tokens (the API function). CountTokens takes a bare foundation-model
# id in the caller's region (profile ids are refused by the service).
COUNT_TOKENS_ACTION = "bedrock:CountTokens"
INTERPRETER_ACTIONS = (
    "bedrock-agentcore:StartCodeInterpreterSession",
    "bedrock-agentcore:InvokeCodeInterpreter",
    "bedrock-agentcore:StopCodeInterpreterSession",
    "bedrock-agentcore:GetCodeInterpreterSession",
)
# Only the sweeper lists sessions (botocore's bedrock-agentcore model; the action is
# authorized on the code interpreter like the others).
LIST_SESSIONS_ACTION = "bedrock-agentcore:ListCodeInterpreterSessions"


def profile_arn(stack: Stack, target: ModelTarget) -> str:
    """ARN of the cross-region inference profile in the stack's own region."""
    return stack.format_arn(
        service="bedrock", resource="inference-profile", resource_name=target.model_id
    )


def foundation_model_arns(stack: Stack, target: ModelTarget) -> list[str]:
    """Foundation-model ARNs a model id may reach (each region a profile routes to)."""
    partition = Aws.PARTITION
    if not target.is_profile:
        return [f"arn:{partition}:bedrock:{Aws.REGION}::foundation-model/{target.foundation_model}"]
    arns = [
        f"arn:{partition}:bedrock:{region}::foundation-model/{target.foundation_model}"
        for region in target.profile_regions
    ]
    if "*" in target.profile_regions:
        # Global profiles also authorize against the region-less foundation-model ARN.
        arns.append(f"arn:{partition}:bedrock:::foundation-model/{target.foundation_model}")
    return arns


def model_invoke_statements(
    stack: Stack, targets: Iterable[ModelTarget], *, streaming: bool, buffered: bool = True
) -> list[iam.PolicyStatement]:
    """InvokeModel (what InvokeModel and Converse need) when ``buffered``, and
    InvokeModelWithResponseStream (InvokeModelWithResponseStream and ConverseStream) when
    ``streaming``.

    Direct foundation models and the profiles themselves are allowed as named. The foundation
    models behind a cross-region profile are allowed only when the call comes through one of
    those profiles (``bedrock:InferenceProfileArn``).
    """
    direct: list[str] = []
    profiles: list[str] = []
    routed: list[tuple[str, list[str]]] = []  # (profile ARN, the foundation models behind it)
    for target in _unique(targets):
        if target.is_profile:
            profile = profile_arn(stack, target)
            profiles.append(profile)
            routed.append((profile, foundation_model_arns(stack, target)))
        else:
            direct.extend(foundation_model_arns(stack, target))
    actions = [
        *(MODEL_INVOKE_ACTIONS if buffered else ()),
        *(MODEL_STREAM_ACTIONS if streaming else ()),
    ]
    if not actions:
        raise ValueError("a model statement needs buffered or streaming calls")
    statements = []
    if direct or profiles:
        statements.append(
            iam.PolicyStatement(
                sid="InvokeConfiguredModels",
                actions=actions,
                resources=_dedupe([*profiles, *direct]),
            )
        )
    # One statement per profile: its foundation models, only through that profile (a shared
    # condition listing every profile would also allow model A through profile B).
    for index, (profile, models) in enumerate(routed):
        statements.append(
            iam.PolicyStatement(
                sid=f"InvokeModelsBehindProfile{index}",
                actions=actions,
                resources=_dedupe(models),
                conditions={"StringEquals": {"bedrock:InferenceProfileArn": profile}},
            )
        )
    return statements


def count_tokens_statement(targets: Iterable[ModelTarget]) -> iam.PolicyStatement:
    """``bedrock:CountTokens`` on the foundation models behind ``targets``, in this region:
    the runtime counts with the foundation model a profile names
    (:func:`code_exec.anthropic.count_tokens.foundation_model_id`)."""
    models = _dedupe(
        f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}::foundation-model/{t.foundation_model}"
        for t in _unique(targets)
    )
    return iam.PolicyStatement(sid="CountTokens", actions=[COUNT_TOKENS_ACTION], resources=models)


def profile_read_statements(
    stack: Stack, targets: Iterable[ModelTarget]
) -> list[iam.PolicyStatement]:
    """What Claude Code reads about inference profiles before it calls a model."""
    profiles = _dedupe(profile_arn(stack, t) for t in _unique(targets) if t.is_profile)
    statements = [
        iam.PolicyStatement(
            sid="ListInferenceProfiles",
            actions=["bedrock:ListInferenceProfiles"],
            resources=["*"],  # ListInferenceProfiles has no resource-level permission
        )
    ]
    if profiles:
        statements.append(
            iam.PolicyStatement(
                sid="GetConfiguredInferenceProfiles",
                actions=["bedrock:GetInferenceProfile"],
                resources=profiles,
            )
        )
    return statements


def interpreter_statement(interpreter_arn: str, actions: Iterable[str]) -> iam.PolicyStatement:
    """Data-plane access to one code interpreter."""
    wanted = list(actions)
    unknown = set(wanted) - {*INTERPRETER_ACTIONS, LIST_SESSIONS_ACTION}
    if unknown:
        raise ValueError(f"not a code-interpreter data-plane action: {sorted(unknown)}")
    return iam.PolicyStatement(
        sid="UseCodeInterpreter", actions=wanted, resources=[interpreter_arn]
    )


def _unique(targets: Iterable[ModelTarget]) -> list[ModelTarget]:
    seen: dict[str, ModelTarget] = {}
    for t in targets:
        seen.setdefault(t.model_id, t)
    return list(seen.values())


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
