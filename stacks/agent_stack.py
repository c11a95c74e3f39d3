"""Agent stack: Lambda functions, job state machine, storage and the REST API, wired together.

The stack does all the wiring (grants, environment, outputs); the constructs beside it take
their dependencies as keyword arguments.
"""

from __future__ import annotations

from typing import Any, cast

from aws_cdk import ArnFormat, CfnElement, CfnOutput, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.api import AgentApi
from stacks.code_interpreter_stack import acknowledge_region_wildcards
from stacks.functions import FunctionSpec, ServiceFunction, retention
from stacks.housekeeping import Housekeeping
from stacks.jobs import CLEANUP_TIMEOUT, JobStateMachine
from stacks.monitoring import Monitoring
from stacks.nag import acknowledge
from stacks.policies import (
    INTERPRETER_ACTIONS,
    LIST_SESSIONS_ACTION,
    interpreter_statement,
    model_invoke_statements,
)
from stacks.runtime_env import RuntimeWiring, runtime_environment, streaming_environment
from stacks.settings import Settings
from stacks.storage import LAMBDA_PREFIXES, STATE_PREFIX, Storage

__all__ = [
    "API_HANDLER",
    "AUTHORIZER_HANDLER",
    "CLEANUP_HANDLER",
    "JOB_HANDLER",
    "STREAM_HANDLER",
    "SWEEPER_HANDLER",
    "AgentStack",
]

API_HANDLER = "code_exec.api.handler.api_handler"
STREAM_HANDLER = "code_exec.api.streamed.stream_handler"
JOB_HANDLER = "code_exec.api.handler.job_handler"
CLEANUP_HANDLER = "code_exec.api.handler.cleanup_handler"
AUTHORIZER_HANDLER = "code_exec.anthropic.authorizer.handler"
SWEEPER_HANDLER = "code_exec.api.handler.sweeper_handler"
# Streamed turns run up to API Gateway's 15-minute stream limit; the function's timeout
# matches (the turn itself ends shortly before it, see code_exec.api.streamed).
STREAM_TIMEOUT = Duration.minutes(15)
# Single-item reads and updates (leases, history, job status) for every function; only the
# API creates jobs (POST /jobs) and deletes sessions (DELETE /sessions/{id}). A streamed turn
# only leases, saves and releases its session or container (conditional updates), never reads
# a job; /v1/messages also creates containers and file records (_grant_stream).
_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:UpdateItem")
_API_TABLE_ACTIONS = ("dynamodb:PutItem", "dynamodb:DeleteItem")
_STREAM_TABLE_ACTIONS = ("dynamodb:UpdateItem",)
_OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject")


class AgentStack(Stack):
    """Everything that runs the agent, given the code interpreter it drives.

    Attributes:
        storage: bucket + table.
        api_function, job_function, cleanup_function, sweeper_function: the buffered API,
            the job runner, the job cleanup and the sweeper of leaked sandbox sessions.
        stream_function: the streamed API routes (its own Runtime API loop, started by an
            exec wrapper, writes response streams; see ``code_exec.streaming``).
        authorizer_function: the ``/v1/*`` API-key authorizer.
        jobs: the job state machine.
        housekeeping: the sweeper's schedule and the failed-executions rule.
        api: the REST API.
        monitoring: alarms, their SNS topic and the dashboard.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        code: lambda_.Code,
        interpreter_id: str,
        interpreter_arn: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.storage = Storage(
            self,
            "Storage",
            expiration_days=settings.files_expiration_days,
            state_expiration_days=settings.state_expiration_days,
        )
        bucket, table = self.storage.bucket, self.storage.table
        bucket_id = self.get_logical_id(cast(CfnElement, bucket.node.default_child))

        # A fixed name lets every function know the machine's ARN without a reference cycle
        # (the machine invokes the job and cleanup functions).
        machine_name = f"{self.stack_name}-jobs"
        machine_arn = self.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=machine_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        environment = runtime_environment(
            settings,
            RuntimeWiring(
                code_interpreter_id=interpreter_id,
                files_bucket=bucket.bucket_name,
                table_name=table.table_name,
                job_state_machine_arn=machine_arn,
            ),
        )
        job_timeout = Duration.seconds(settings.job_timeout_seconds)
        common: dict[str, Any] = {
            "code": code,
            "python_version": settings.lambda_python_version,
            "architecture": settings.lambda_architecture,
            "environment": environment,
            "log_retention_days": settings.log_retention_days,
            "reserved_concurrency": settings.reserved_concurrency,
        }
        self.api_function = ServiceFunction(
            self,
            "ApiFunction",
            spec=FunctionSpec(API_HANDLER, "API routes", Duration.seconds(29), 1024),
            **common,
        )
        self.stream_function = ServiceFunction(
            self,
            "StreamFunction",
            spec=FunctionSpec(
                STREAM_HANDLER, "Streamed API routes (response streaming)", STREAM_TIMEOUT, 1024
            ),
            **{**common, "environment": streaming_environment(environment)},
        )
        self.job_function = ServiceFunction(
            self,
            "JobFunction",
            spec=FunctionSpec(JOB_HANDLER, "Runs one queued job", job_timeout, 1024),
            **common,
        )
        self.cleanup_function = ServiceFunction(
            self,
            "CleanupFunction",
            spec=FunctionSpec(
                CLEANUP_HANDLER, "Stops a job's sandbox session", CLEANUP_TIMEOUT, 256
            ),
            **common,
        )

        self.authorizer_function = ServiceFunction(
            self,
            "AuthorizerFunction",
            spec=FunctionSpec(
                AUTHORIZER_HANDLER, "Checks /v1 API keys (hashed)", Duration.seconds(10), 256
            ),
            **common,
        )
        self.sweeper_function = ServiceFunction(
            self,
            "SweeperFunction",
            spec=FunctionSpec(
                SWEEPER_HANDLER, "Stops sandbox sessions nobody holds", Duration.seconds(120), 256
            ),
            **common,
        )

        self.jobs = JobStateMachine(
            self,
            "Jobs",
            state_machine_name=machine_name,
            job_function=self.job_function.function,
            job_timeout=job_timeout,
            cleanup_function=self.cleanup_function.function,
            log_retention=retention(settings.log_retention_days),
        )
        self.housekeeping = Housekeeping(
            self,
            "Housekeeping",
            sweeper_function=self.sweeper_function.function,
            cleanup_function=self.cleanup_function.function,
            state_machine_arn=self.jobs.state_machine.state_machine_arn,
            # The sweeper leaves sessions younger than sweepGraceSeconds (SWEEP_GRACE_SECONDS).
            sweep_every=Duration.minutes(settings.sweep_interval_minutes),
        )
        self.api = AgentApi(
            self,
            "Api",
            name=f"{self.stack_name}-api",
            handler=self.api_function.function,
            stream_handler=self.stream_function.function,
            stream_timeout=STREAM_TIMEOUT,
            authorizer_function=self.authorizer_function.function,
            require_api_key=settings.require_api_key,
            cloud_watch_role=settings.api_gateway_cloud_watch_role,
            throttle_rate_limit=settings.api_throttle_rate_limit,
            throttle_burst_limit=settings.api_throttle_burst_limit,
            log_retention=retention(settings.log_retention_days),
        )

        self._grant_workers(settings, interpreter_arn, bucket_id)
        self._grant_api(machine_name, machine_arn)
        self._grant_stream()
        self._grant_cleanup(interpreter_arn, bucket_id)
        self._grant_authorizer()
        self._grant_sweeper(interpreter_arn)

        self.monitoring = Monitoring(
            self,
            "Monitoring",
            stage=self.api.api.deployment_stage,
            functions={
                "Api": self.api_function.function,
                "Stream": self.stream_function.function,
                "Job": self.job_function.function,
                "Cleanup": self.cleanup_function.function,
                "Sweeper": self.sweeper_function.function,
                "Authorizer": self.authorizer_function.function,
            },
            state_machine=self.jobs.state_machine,
            alarm_email=settings.alarm_email or None,
            dashboard_name=self.stack_name,
            dead_letter_queues={"Housekeeping": self.housekeeping.dead_letters},
            topic_key_arn=settings.alarm_topic_kms_key_arn or None,
        )

        self.api.api.node.try_remove_child("Endpoint")  # replaced by ApiUrl below
        CfnOutput(self, "ApiUrl", value=self.api.api.url)
        CfnOutput(self, "FilesBucketName", value=bucket.bucket_name)
        CfnOutput(self, "TableName", value=table.table_name)
        CfnOutput(self, "JobStateMachineArn", value=self.jobs.state_machine.state_machine_arn)
        CfnOutput(self, "AlarmTopicArn", value=self.monitoring.topic.topic_arn)
        CfnOutput(self, "DashboardName", value=self.stack_name)
        if self.api.api_key is not None:
            CfnOutput(self, "ApiKeyId", value=self.api.api_key.key_id)

    def _grant_workers(self, settings: Settings, interpreter_arn: str, bucket_id: str) -> None:
        """API, stream and job functions: the interpreter, the models, the table, their S3
        prefixes."""
        bucket, table = self.storage.bucket, self.storage.table
        models = [settings.model_target(m) for m in settings.lambda_model_ids]
        object_arns = [bucket.arn_for_objects(f"{p}*") for p in LAMBDA_PREFIXES]
        for fn in (self.api_function, self.stream_function, self.job_function):
            role = fn.role
            role.add_to_policy(interpreter_statement(interpreter_arn, INTERPRETER_ACTIONS))
            # The buffered functions call InvokeModel / Converse; the streaming function only
            # InvokeModelWithResponseStream / ConverseStream.
            streams = fn is self.stream_function
            for statement in model_invoke_statements(
                self, models, streaming=streams, buffered=not streams
            ):
                role.add_to_policy(statement)
            actions = _TABLE_ACTIONS + (_API_TABLE_ACTIONS if fn is self.api_function else ())
            if fn is self.stream_function:
                actions = _STREAM_TABLE_ACTIONS
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="SessionsAndJobs", actions=list(actions), resources=[table.table_arn]
                )
            )
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="Files", actions=list(_OBJECT_ACTIONS), resources=object_arns
                )
            )
            _acknowledge_object_prefixes(role, bucket_id=bucket_id)
            acknowledge_region_wildcards(role, settings, settings.lambda_model_ids)
            # The web_search server tool and built-in (issue 17): one AWS-managed search tool.
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="WebSearch",
                    actions=["bedrock-agentcore:InvokeWebSearch"],
                    resources=[web_search_arn(self, settings.web_search_id)],
                )
            )

    def _grant_api(self, machine_name: str, machine_arn: str) -> None:
        """API function: start job executions and read their status; list a key owner's files."""
        role = self.api_function.role
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ListOwnersFiles",
                actions=["dynamodb:Query"],
                resources=[self.storage.table.table_arn],
                conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["FILES#*"]}},
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="StartJobs", actions=["states:StartExecution"], resources=[machine_arn]
            )
        )
        executions = self.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadJobExecutions",
                actions=["states:DescribeExecution"],
                resources=[executions],
            )
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:"
            f"<AWS::AccountId>:execution:{machine_name}:*]",
            "GET /jobs/{id} describes executions of this one state machine; execution names "
            "are generated per job.",
        )

    def _grant_stream(self) -> None:
        """Streaming function: ``/v1/messages`` creates containers and records the files its
        code writes (new items in those partitions only), and reads the record of a file a
        ``container_upload`` block places in a container (file items only: a failed container
        lease returns the old item, so containers are never read)."""
        self.stream_function.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadUploadedFiles",
                actions=["dynamodb:GetItem"],
                resources=[self.storage.table.table_arn],
                conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["FILES#*"]}},
            )
        )
        self.stream_function.role.add_to_policy(
            iam.PolicyStatement(
                sid="CreateContainersAndFiles",
                actions=["dynamodb:PutItem"],
                resources=[self.storage.table.table_arn],
                conditions={
                    "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["CONTAINER#*", "FILES#*"]}
                },
            )
        )

    def _grant_authorizer(self) -> None:
        """Authorizer function: read API key items, and nothing else of the table."""
        self.authorizer_function.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadApiKeys",
                actions=["dynamodb:GetItem"],
                resources=[self.storage.table.table_arn],
                conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["APIKEY#*"]}},
            )
        )

    def _grant_cleanup(self, interpreter_arn: str, bucket_id: str) -> None:
        """Cleanup function: stop/read sessions, mark jobs, read stored job state."""
        role = self.cleanup_function.role
        role.add_to_policy(
            interpreter_statement(
                interpreter_arn,
                (
                    "bedrock-agentcore:StopCodeInterpreterSession",
                    "bedrock-agentcore:GetCodeInterpreterSession",
                ),
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="MarkJobs",
                actions=list(_TABLE_ACTIONS),
                resources=[self.storage.table.table_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadJobState",
                actions=["s3:GetObject"],
                resources=[self.storage.bucket.arn_for_objects(f"{STATE_PREFIX}*")],
            )
        )
        _acknowledge_object_prefixes(role, bucket_id=bucket_id, prefixes=(STATE_PREFIX,))

    def _grant_sweeper(self, interpreter_arn: str) -> None:
        """Sweeper function: list and stop the interpreter's sessions, read their owners.

        No S3: it reads records without their conversation or result. Get is what the
        sandbox client reads when a stop is refused, to tell an already stopped session.
        """
        role = self.sweeper_function.role
        role.add_to_policy(
            interpreter_statement(
                interpreter_arn,
                (
                    LIST_SESSIONS_ACTION,
                    "bedrock-agentcore:StopCodeInterpreterSession",
                    "bedrock-agentcore:GetCodeInterpreterSession",
                ),
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadOwners",
                actions=["dynamodb:GetItem"],
                resources=[self.storage.table.table_arn],
            )
        )


def _acknowledge_object_prefixes(
    construct: Construct, *, bucket_id: str, prefixes: tuple[str, ...] = LAMBDA_PREFIXES
) -> None:
    for prefix in prefixes:
        acknowledge(
            construct,
            f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{prefix}*]",
            f"Objects under the {prefix} prefix of the files bucket are created at run time "
            "with generated keys; access stays within that prefix.",
        )


def web_search_arn(scope: Stack, web_search_id: str) -> str:
    """``arn:${Partition}:bedrock-agentcore:${Region}:aws:tool/<id>``: an AWS-owned resource
    (account ``aws``), as the InvokeWebSearch documentation names it."""
    return Stack.of(scope).format_arn(
        service="bedrock-agentcore", account="aws", resource="tool", resource_name=web_search_id
    )
