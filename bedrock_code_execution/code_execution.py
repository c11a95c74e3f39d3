"""The ``CodeExecution`` construct: Lambda functions, job state machine, storage and the REST
API, wired together, on a code interpreter it creates or is given.

The construct does all the wiring (grants, environment); the constructs beside it take their
dependencies as keyword arguments. Outputs are the app's to add (``stacks/app_stacks.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from aws_cdk import ArnFormat, CfnElement, Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from bedrock_code_execution.api import AgentApi, iam_route_arns
from bedrock_code_execution.bundling import REPO_ROOT, lambda_asset, lambda_code_asset
from bedrock_code_execution.functions import FunctionSpec, ServiceFunction, retention
from bedrock_code_execution.housekeeping import Housekeeping
from bedrock_code_execution.interpreter import (
    InterpreterLike,
    SandboxInterpreter,
    acknowledge_region_wildcards,
)
from bedrock_code_execution.jobs import CLEANUP_TIMEOUT, JobStateMachine
from bedrock_code_execution.monitoring import Monitoring
from bedrock_code_execution.nag import acknowledge
from bedrock_code_execution.policies import (
    INTERPRETER_ACTIONS,
    LIST_SESSIONS_ACTION,
    count_tokens_statement,
    interpreter_statement,
    model_invoke_statements,
)
from bedrock_code_execution.props import CodeExecutionProps, PropsError
from bedrock_code_execution.runtime_env import (
    RuntimeWiring,
    runtime_environment,
    streaming_environment,
)
from bedrock_code_execution.storage import LAMBDA_PREFIXES, SKILLS_PREFIX, STATE_PREFIX, Storage
from bedrock_code_execution.tools_access import ToolsGrantable

__all__ = [
    "API_HANDLER",
    "AUTHORIZER_HANDLER",
    "CLEANUP_HANDLER",
    "JOB_HANDLER",
    "STREAM_HANDLER",
    "SWEEPER_HANDLER",
    "CodeExecution",
]

API_HANDLER = "code_exec.api.handler.api_handler"
STREAM_HANDLER = "code_exec.api.streamed.stream_handler"
JOB_HANDLER = "code_exec.functions.job_function.job_handler"
CLEANUP_HANDLER = "code_exec.functions.cleanup_function.cleanup_handler"
AUTHORIZER_HANDLER = "code_exec.anthropic.authorizer.handler"
SWEEPER_HANDLER = "code_exec.functions.sweeper_function.sweeper_handler"
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


class CodeExecution(Construct):
    """Code execution and programmatic tool calling for Amazon Bedrock, as one construct (L3).

    Everything that runs the agent, on the code interpreter it creates (or is given).
    Settings come from ``props`` (:class:`~bedrock_code_execution.CodeExecutionProps`, validated
    when built); the user's own tool modules are ``props.tools``, and bridged tools get their
    AWS access through :attr:`tools_grantable`. Nothing is created outside this scope.

    Attributes:
        api: the REST API (``api_url`` its stage's URL; :meth:`grant_invoke` lets a principal
            call its IAM-authorized routes).
        interpreter: the AgentCore code interpreter the sandbox sessions run in.
        table, files_bucket: the DynamoDB table (sessions, jobs, API keys) and the files bucket.
        alarm_topic: the SNS topic every alarm notifies.
        state_machine: the job state machine (``POST /jobs``).
        props: the props it was built with; sandbox: the :class:`SandboxInterpreter` it
            created (None when given an interpreter).
        tools_grantable: grant to it what the bridged tools need (``table.grant_read_data(
            code_execution.tools_grantable)``); the functions that run them get it.
        storage: bucket + table.
        api_function, job_function, cleanup_function, sweeper_function: the buffered API,
            the job runner, the job cleanup and the sweeper of leaked sandbox sessions.
        stream_function: the streamed API routes (its own Runtime API loop, started by an
            exec wrapper, writes response streams; see ``code_exec.streaming``).
        authorizer_function: the ``/v1/*`` API-key authorizer.
        jobs: the job state machine.
        housekeeping: the sweeper's schedule and the failed-executions rule.
        agent_api: the REST API and its authorizer, access logs and API key.
        monitoring: alarms, their SNS topic and the dashboard.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        props: CodeExecutionProps | None = None,
        interpreter: InterpreterLike | None = None,
        code: lambda_.Code | None = None,
        source_root: Path = REPO_ROOT,
    ) -> None:
        """Build everything in ``scope``.

        Args:
            props: the settings (default: every default of :class:`CodeExecutionProps`).
            interpreter: a code interpreter to drive (an ``ICodeInterpreterCustom``, or
                :class:`InterpreterIds`); by default one is created here (``Interpreter``),
                with its execution role.
            code: replaces the bundled Lambda asset (tests that need the templates only).
            source_root: the checkout holding ``lambda/`` and ``sandbox_assets/``.
        """
        super().__init__(scope, construct_id)
        settings = props if props is not None else CodeExecutionProps()
        if not isinstance(settings, CodeExecutionProps):
            raise PropsError(
                f"CodeExecution props must be a CodeExecutionProps, got {type(settings).__name__}"
            )
        stack = Stack.of(self)
        self.props = settings
        if interpreter is None:
            self.sandbox: SandboxInterpreter | None = SandboxInterpreter(
                self, "Interpreter", settings=settings
            )
            interpreter = self.sandbox.interpreter
        else:
            self.sandbox = None
        self.interpreter: InterpreterLike = interpreter
        interpreter_id = interpreter.code_interpreter_id
        interpreter_arn = interpreter.code_interpreter_arn
        code = code or lambda_code_asset(lambda_asset(settings, source_root))
        name = settings.resource_name_prefix or stack.stack_name
        self.storage = Storage(
            self,
            "Storage",
            expiration_days=settings.files_expiration_days,
            state_expiration_days=settings.state_expiration_days,
        )
        bucket, table = self.storage.bucket, self.storage.table
        bucket_id = stack.get_logical_id(cast(CfnElement, bucket.node.default_child))

        # A fixed name lets every function know the machine's ARN without a reference cycle
        # (the machine invokes the job and cleanup functions).
        machine_name = f"{name}-jobs"
        machine_arn = stack.format_arn(
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
        self.agent_api = AgentApi(
            self,
            "Api",
            name=f"{name}-api",
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
        workers = (self.api_function, self.stream_function, self.job_function)
        # Bridged tools run in these three functions: what they need is granted to all three.
        self.tools_grantable = ToolsGrantable(
            self, "ToolsAccess", roles=[fn.role for fn in workers]
        )
        for module in settings.tools:
            for key, value in module.environment.items():
                for fn in workers:
                    fn.function.add_environment(key, value)

        self.monitoring = Monitoring(
            self,
            "Monitoring",
            stage=self.agent_api.api.deployment_stage,
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
            dashboard_name=name,
            dead_letter_queues={"Housekeeping": self.housekeeping.dead_letters},
            topic_key_arn=settings.alarm_topic_kms_key_arn or None,
        )

        self.agent_api.api.node.try_remove_child("Endpoint")  # outputs are the app's to add
        self.api: apigw.RestApi = self.agent_api.api
        self.api_url: str = self.api.url
        self.table: dynamodb.Table = self.storage.table
        self.files_bucket: s3.Bucket = self.storage.bucket
        self.alarm_topic: sns.Topic = self.monitoring.topic
        self.state_machine = self.jobs.state_machine

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` call the API's IAM-authorized (SigV4) routes: ``execute-api:Invoke``
        on each of them in the deployed stage (the ``/v1`` routes take API keys instead)."""
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=["execute-api:Invoke"], resource_arns=iam_route_arns(self.api)
        )

    def add_to_tools_policy(self, statement: iam.PolicyStatement) -> None:
        """Let the bridged tools do what ``statement`` allows (the same as granting
        :attr:`tools_grantable`)."""
        self.tools_grantable.grant_principal.add_to_principal_policy(statement)

    def _grant_workers(
        self, settings: CodeExecutionProps, interpreter_arn: str, bucket_id: str
    ) -> None:
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
                Stack.of(self), models, streaming=streams, buffered=not streams
            ):
                role.add_to_policy(statement)
            if fn is self.api_function:  # POST /v1/messages/count_tokens
                role.add_to_policy(count_tokens_statement(models))
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
            # Skills named by a turn (container.skills, /invoke skills) are read where it runs;
            # only the API (POST/DELETE /v1/skills...) writes and deletes them.
            skill_actions = ["s3:GetObject"]
            if fn is self.api_function:
                skill_actions += ["s3:PutObject", "s3:DeleteObject"]
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="Skills",
                    actions=skill_actions,
                    resources=[bucket.arn_for_objects(f"{SKILLS_PREFIX}*")],
                )
            )
            _acknowledge_object_prefixes(
                role, bucket_id=bucket_id, prefixes=(*LAMBDA_PREFIXES, SKILLS_PREFIX)
            )
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
        """API function: start job executions and read their status; list a key owner's files
        and skills."""
        role = self.api_function.role
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ListOwnersFiles",
                actions=["dynamodb:Query"],
                resources=[self.storage.table.table_arn],
                conditions={
                    "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["FILES#*", "SKILLS#*"]}
                },
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="StartJobs", actions=["states:StartExecution"], resources=[machine_arn]
            )
        )
        executions = Stack.of(self).format_arn(
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
        ``container_upload`` block places in a container and the skills a turn names (file and
        skill items only: a failed container lease returns the old item, so containers are
        never read)."""
        self.stream_function.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadUploadedFilesAndSkills",
                actions=["dynamodb:GetItem"],
                resources=[self.storage.table.table_arn],
                conditions={
                    "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["FILES#*", "SKILLS#*"]}
                },
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
