"""The custom AgentCore Code Interpreter (PUBLIC network by default) and its execution role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_bedrockagentcore as agentcore
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

from bedrock_code_execution.nag import acknowledge
from bedrock_code_execution.policies import model_invoke_statements, profile_read_statements
from bedrock_code_execution.props import CodeExecutionProps

__all__ = [
    "AGENTCORE_PRINCIPAL",
    "InterpreterIds",
    "InterpreterLike",
    "SandboxInterpreter",
    "execution_role",
]

AGENTCORE_PRINCIPAL = "bedrock-agentcore.amazonaws.com"


class InterpreterLike(Protocol):
    """What the construct reads of the code interpreter it drives (an
    ``aws_bedrockagentcore.ICodeInterpreterCustom`` has both)."""

    @property
    def code_interpreter_id(self) -> str: ...

    @property
    def code_interpreter_arn(self) -> str: ...


@dataclass(frozen=True)
class InterpreterIds:
    """A code interpreter known by its id and ARN (tokens or literals)."""

    code_interpreter_id: str
    code_interpreter_arn: str


def execution_role(scope: Construct, construct_id: str) -> iam.Role:
    """The sandbox's execution role, trusted exactly as AgentCore documents it.

    AgentCore's developer guide gives this trust policy for a code interpreter's execution role
    ("Resource and session management", IAM permissions:
    https://docs.aws.amazon.com/bedrock-agentcore/latest/devguide/code-interpreter-resource-session-management.html):
    principal ``bedrock-agentcore.amazonaws.com``, ``StringEquals aws:SourceAccount`` = the
    account and ``ArnLike aws:SourceArn`` = ``arn:aws:bedrock-agentcore:REGION:ACCOUNT:*``.
    The L2's default role narrows ``aws:SourceArn`` to ``code-interpreter-custom/<name>*``, an
    ARN the guide never says the service presents when it assumes the role; a wrong guess
    there fails only on AWS, when the sandbox's first model call cannot get credentials. The
    documented form still limits the role to AgentCore acting for this account in this Region.
    """
    stack = Stack.of(scope)
    return iam.Role(
        scope,
        construct_id,
        description="Execution role of the bedrock-code-execution code interpreter sandbox",
        assumed_by=iam.ServicePrincipal(
            AGENTCORE_PRINCIPAL,
            conditions={
                "StringEquals": {"aws:SourceAccount": stack.account},
                "ArnLike": {
                    "aws:SourceArn": stack.format_arn(
                        service="bedrock-agentcore",
                        resource="*",
                        arn_format=ArnFormat.NO_RESOURCE_NAME,
                    )
                },
            },
        ),
    )


class SandboxInterpreter(Construct):
    """One ``AWS::BedrockAgentCore::CodeInterpreterCustom`` and its execution role.

    The role's trust policy is AgentCore's documented one (:func:`execution_role`). The role
    may invoke the configured sandbox
    models (Claude Code inside the sandbox) and read inference profiles, nothing else: files
    reach the sandbox through the functions, never from the bucket directly.

    Attributes:
        interpreter: the code interpreter.
        execution_role: the role the sandbox runs with.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: CodeExecutionProps
    ) -> None:
        super().__init__(scope, construct_id)
        self.execution_role: iam.IRole = execution_role(self, "ExecutionRole")
        self.interpreter = agentcore.CodeInterpreterCustom(
            self,
            "CodeInterpreter",
            code_interpreter_custom_name=settings.interpreter_name,
            description="Code execution sandbox for bedrock-code-execution",
            network_configuration=self._network(settings),
            execution_role=self.execution_role,
        )
        targets = [settings.model_target(m) for m in settings.sandbox_model_ids]
        policy = iam.Policy(
            self,
            "SandboxModelAccess",
            statements=[
                # Claude Code streams its model calls.
                *model_invoke_statements(Stack.of(self), targets, streaming=True),
                *profile_read_statements(Stack.of(self), targets),
            ],
        )
        policy.attach_to_role(self.execution_role)
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            "bedrock:ListInferenceProfiles has no resource-level permission; Claude Code in the "
            "sandbox lists profiles to resolve its model id.",
        )
        if any(settings.model_target(m).is_profile for m in settings.sandbox_model_ids):
            acknowledge_region_wildcards(policy, settings, settings.sandbox_model_ids)

    def _network(
        self, settings: CodeExecutionProps
    ) -> agentcore.CodeInterpreterNetworkConfiguration:
        net = agentcore.CodeInterpreterNetworkConfiguration
        if settings.network_mode == "PUBLIC":
            return net.using_public_network()
        if settings.network_mode == "SANDBOX":
            return net.using_sandbox_network()
        vpc = ec2.Vpc.from_vpc_attributes(
            self,
            "Vpc",
            vpc_id=settings.vpc_id,
            availability_zones=Stack.of(self).availability_zones,
        )
        return net.using_vpc(
            self,
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(
                subnets=[
                    ec2.Subnet.from_subnet_id(self, f"Subnet{i}", subnet_id)
                    for i, subnet_id in enumerate(settings.subnet_ids)
                ]
            ),
            security_groups=[
                ec2.SecurityGroup.from_security_group_id(self, f"SecurityGroup{i}", sg_id)
                for i, sg_id in enumerate(settings.security_group_ids)
            ],
        )


def acknowledge_region_wildcards(
    policy: Construct, settings: CodeExecutionProps, model_ids: tuple[str, ...]
) -> None:
    """Acknowledge the ``bedrock:*::foundation-model/...`` ARNs of global profiles (if any)."""
    for model_id in model_ids:
        target = settings.model_target(model_id)
        if "*" in target.profile_regions:
            acknowledge(
                policy,
                f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:bedrock:*::foundation-model/"
                f"{target.foundation_model}]",
                f"Global inference profile {model_id} routes to any commercial region; the "
                "statement only applies through that profile (bedrock:InferenceProfileArn).",
            )
