"""The custom AgentCore Code Interpreter (PUBLIC network by default) and its execution role."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_bedrockagentcore as agentcore
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.nag import acknowledge
from stacks.policies import model_invoke_statements, profile_read_statements
from stacks.settings import Settings

__all__ = ["CodeInterpreterStack"]


class CodeInterpreterStack(Stack):
    """One ``AWS::BedrockAgentCore::CodeInterpreterCustom`` and its execution role.

    The L2 creates the role with a trust policy limited to this account and this interpreter
    (``aws:SourceAccount`` and ``aws:SourceArn``). The role may invoke the configured sandbox
    models (Claude Code inside the sandbox) and read inference profiles, nothing else: files
    reach the sandbox through the functions, never from the bucket directly.

    Attributes:
        interpreter: the code interpreter.
        execution_role: the role the sandbox runs with.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.interpreter = agentcore.CodeInterpreterCustom(
            self,
            "CodeInterpreter",
            code_interpreter_custom_name=settings.interpreter_name,
            description="Code execution sandbox for bedrock-code-execution",
            network_configuration=self._network(settings),
        )
        self.execution_role: iam.IRole = self.interpreter.execution_role
        targets = [settings.model_target(m) for m in settings.sandbox_model_ids]
        policy = iam.Policy(
            self,
            "SandboxModelAccess",
            statements=[
                # Claude Code streams its model calls.
                *model_invoke_statements(self, targets, streaming=True),
                *profile_read_statements(self, targets),
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

        CfnOutput(self, "CodeInterpreterId", value=self.interpreter.code_interpreter_id)
        CfnOutput(self, "CodeInterpreterArn", value=self.interpreter.code_interpreter_arn)
        CfnOutput(self, "ExecutionRoleArn", value=self.execution_role.role_arn)

    def _network(self, settings: Settings) -> agentcore.CodeInterpreterNetworkConfiguration:
        net = agentcore.CodeInterpreterNetworkConfiguration
        if settings.network_mode == "PUBLIC":
            return net.using_public_network()
        if settings.network_mode == "SANDBOX":
            return net.using_sandbox_network()
        vpc = ec2.Vpc.from_vpc_attributes(
            self, "Vpc", vpc_id=settings.vpc_id, availability_zones=self.availability_zones
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
    policy: Construct, settings: Settings, model_ids: tuple[str, ...]
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
