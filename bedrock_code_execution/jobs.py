"""Standard Step Functions state machine for asynchronous jobs.

::

    RunJob --ok------------------------> Cleanup -> Failed? --no--> Done
       \\--Catch States.ALL ($.error)--/               \\--yes--> JobFailed

``Cleanup`` always runs: after success, after any error, and after ``RunJob``'s task timeout
(``States.Timeout``, caught like every other error). The machine's own timeout is longer than
both tasks with their retries, so it never cuts ``Cleanup`` off.

Input: whatever ``POST /jobs`` starts the execution with (e.g. ``{"job_id": ...}``).
``RunJob`` gets that input; its return value is discarded (the job handler stores the result in
the table, so keep it small). On error ``$.error`` holds ``{"Error": ..., "Cause": ...}``.
``Cleanup`` gets the whole state: the input, plus ``error`` when the job failed or timed out.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from bedrock_code_execution.nag import acknowledge

__all__ = ["CLEANUP_TIMEOUT", "LOG_GROUP_PREFIX", "JobStateMachine"]

CLEANUP_TIMEOUT = Duration.seconds(60)
LOG_GROUP_PREFIX = "/aws/vendedlogs/states/"
_CLEANUP_ATTEMPTS = 3
# What Step Functions needs to deliver execution logs to CloudWatch Logs and traces to X-Ray
# (the same lists CDK grants for ``logs`` and ``tracing_enabled``).
_LOG_DELIVERY_ACTIONS = (
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
)
_TRACING_ACTIONS = (
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
)


class JobStateMachine(Construct):
    """Run one job, then always stop its sandbox session.

    Attributes:
        state_machine: the STANDARD state machine (X-Ray tracing, ALL-level logging).
        log_group: its execution log group.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine_name: str,
        job_function: lambda_.IFunction,
        job_timeout: Duration,
        cleanup_function: lambda_.IFunction,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        # The task waits a little longer than the Lambda's own timeout, so a Lambda timeout
        # surfaces as Lambda's error rather than States.Timeout; both are caught below.
        task_timeout = Duration.seconds(job_timeout.to_seconds() + 30)
        run_job = tasks.LambdaInvoke(
            self,
            "RunJob",
            lambda_function=job_function,
            payload_response_only=True,
            # The job handler stores its result in the table; keeping it out of the state
            # leaves Cleanup's input small and the execution history free of job data.
            result_path=sfn.JsonPath.DISCARD,
            task_timeout=sfn.Timeout.duration(task_timeout),
            retry_on_service_exceptions=False,
        )
        # Retry only a refused invocation (throttled: the job never started). Not
        # Lambda.ServiceException: the function may already have run cells and model calls,
        # and a second run would repeat them (in the caller's session, when one is named).
        run_job.add_retry(
            errors=["Lambda.TooManyRequestsException"],
            interval=Duration.seconds(2),
            max_attempts=2,
            backoff_rate=2,
        )
        cleanup = tasks.LambdaInvoke(
            self,
            "Cleanup",
            lambda_function=cleanup_function,
            payload_response_only=True,
            result_path="$.cleanup",
            task_timeout=sfn.Timeout.duration(CLEANUP_TIMEOUT),
            retry_on_service_exceptions=False,
        )
        cleanup.add_retry(
            errors=["States.ALL"],
            interval=Duration.seconds(2),
            max_attempts=_CLEANUP_ATTEMPTS,
            backoff_rate=2,
        )
        run_job.add_catch(cleanup, errors=["States.ALL"], result_path="$.error")
        outcome = (
            sfn.Choice(self, "Failed?")
            .when(
                sfn.Condition.is_present("$.error"),
                sfn.Fail(self, "JobFailed", error_path="$.error.Error", cause_path="$.error.Cause"),
            )
            .otherwise(sfn.Succeed(self, "Done"))
        )
        definition = run_job.next(cleanup).next(outcome)

        # Under /aws/vendedlogs/: Step Functions adds each log group it delivers to to the
        # account's CloudWatch Logs resource policy, limited to 5,120 characters; log groups
        # under this prefix do not count against it (Step Functions developer guide, "Avoiding
        # Amazon CloudWatch Logs resource policy size restrictions", bp-cwl.html).
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"{LOG_GROUP_PREFIX}{state_machine_name}",
            retention=log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # Worst case: RunJob (with retries) then Cleanup with all its retries, plus slack.
        worst = task_timeout.to_seconds() * 3 + CLEANUP_TIMEOUT.to_seconds() * (
            _CLEANUP_ATTEMPTS + 1
        )
        self.role = self._role(state_machine_name)
        # The machine gets its role WITHOUT the grants CDK would add: LambdaInvoke grants each
        # function and all its versions and aliases (ARN:*), while the definition invokes the
        # unqualified ARNs only. ``_grant`` adds exactly what the machine uses.
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=state_machine_name,
            role=self.role.without_policy_updates(),
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            timeout=Duration.seconds(worst + 300),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=False
            ),
        )
        self.state_machine.node.add_dependency(self.role)  # its policy exists before it runs
        self._grant(job_function, cleanup_function)
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray trace writes and CloudWatch Logs delivery management (logs:CreateLogDelivery "
            "and friends) have no resource-level permission.",
        )

    def _grant(self, *functions: lambda_.IFunction) -> None:
        """Invoke exactly the functions the tasks name (unqualified), deliver logs, trace."""
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"], resources=[f.function_arn for f in functions]
            )
        )
        for actions in (_LOG_DELIVERY_ACTIONS, _TRACING_ACTIONS):
            self.role.add_to_policy(iam.PolicyStatement(actions=list(actions), resources=["*"]))

    def _role(self, state_machine_name: str) -> iam.Role:
        """The machine's role, assumable by Step Functions for THIS machine only.

        CDK's default trusts any state machine of the account (``stateMachine:*``); the
        name is fixed, so the confused-deputy condition can name the one ARN.
        """
        stack = Stack.of(self)
        arn = stack.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=state_machine_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        return iam.Role(
            self,
            "StateMachineRole",
            assumed_by=iam.ServicePrincipal(
                "states.amazonaws.com",
                conditions={
                    "ArnEquals": {"aws:SourceArn": arn},
                    "StringEquals": {"aws:SourceAccount": stack.account},
                },
            ),
        )
