"""The Lambda functions (one shared code asset), each with its own role and log group."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from bedrock_code_execution.nag import acknowledge
from bedrock_code_execution.props import LOG_RETENTION_DAYS

__all__ = ["LATEST_PYTHON", "FunctionSpec", "ServiceFunction", "retention", "runtime_for"]

LATEST_PYTHON = "3.14"
_RUNTIMES = {"3.13": lambda_.Runtime.PYTHON_3_13, "3.14": lambda_.Runtime.PYTHON_3_14}
_ARCHITECTURES = {"x86_64": lambda_.Architecture.X86_64, "arm64": lambda_.Architecture.ARM_64}


_RETENTION = dict(
    zip(LOG_RETENTION_DAYS, [r for r in logs.RetentionDays if r.name != "INFINITE"], strict=True)
)


def retention(days: int) -> logs.RetentionDays:
    """The CloudWatch Logs retention for a number of days from settings."""
    return _RETENTION[days]


def runtime_for(python_version: str) -> lambda_.Runtime:
    """The Lambda runtime for a Python version from settings."""
    return _RUNTIMES[python_version]


@dataclass(frozen=True)
class FunctionSpec:
    """How one function differs from the others."""

    handler: str
    description: str
    timeout: Duration
    memory_size: int


class ServiceFunction(Construct):
    """A Lambda function with a dedicated role that starts with only log + X-Ray writes.

    The caller adds what the function needs to ``role``.

    Attributes:
        function: the Lambda function.
        role: its execution role.
        log_group: its log group (retention from settings).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: FunctionSpec,
        code: lambda_.Code,
        python_version: str,
        architecture: str,
        environment: Mapping[str, str],
        log_retention_days: int,
        reserved_concurrency: int | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Execution role of {spec.handler}",
        )
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=retention(log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            description=spec.description,
            code=code,
            handler=spec.handler,
            runtime=runtime_for(python_version),
            architecture=_ARCHITECTURES[architecture],
            memory_size=spec.memory_size,
            timeout=spec.timeout,
            role=self.role,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            tracing=lambda_.Tracing.ACTIVE,
            environment=dict(environment),
            reserved_concurrent_executions=reserved_concurrency,
        )
        if python_version != LATEST_PYTHON:
            acknowledge(
                self.function,
                "AwsSolutions-L1",
                f"Python {python_version} is pinned on purpose with the lambdaPythonVersion "
                f"setting (latest is {LATEST_PYTHON}).",
            )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "xray:PutTraceSegments and xray:PutTelemetryRecords (active tracing) have no "
            "resource-level permission.",
        )
