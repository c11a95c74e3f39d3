"""Operate it: alarms on what breaks, one SNS topic they notify, and one dashboard.

Alarms (each notifies the topic; missing data is not breaching):

* the API's 5xx rate (share of requests answered 5xx, per 5 minutes) above 5 %;
* each Lambda function's errors and its throttles (any, per 5 minutes);
* job failures: executions of the job machine that failed, timed out or were aborted;
* sandbox start failures and leaked sessions stopped by the sweeper (runtime metrics);
* any message in a dead-letter queue (an EventBridge event that reached no function).

The topic can be encrypted with a customer-managed KMS key (``alarmTopicKmsKeyArn``); the key
is the deployer's, so its key policy must let CloudWatch use it (see the README's settings).

The runtime's own metrics are Powertools EMF metrics: namespace :data:`METRICS_NAMESPACE`,
one dimension ``service`` = :data:`METRICS_SERVICE`; :data:`RUNTIME_METRICS` names the ones
used here (a test checks each against the runtime's ``metrics.add_metric`` calls).
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

__all__ = [
    "API_5XX_RATE_THRESHOLD",
    "METRICS_NAMESPACE",
    "METRICS_SERVICE",
    "RUNTIME_METRICS",
    "Monitoring",
]

# What code_exec/observability.py gives Powertools (the stacks never import the runtime).
METRICS_NAMESPACE = "BedrockCodeExecution"
METRICS_SERVICE = "bedrock-code-execution"
RUNTIME_METRICS = (
    "InputTokens",
    "OutputTokens",
    "CacheReadInputTokens",
    "CacheWriteInputTokens",
    "CodeRuns",
    "CodeRunErrors",
    "SandboxStartFailures",
    "LeakedSessionsStopped",
    "SandboxSessionsActive",
)
API_5XX_RATE_THRESHOLD = 0.05
_PERIOD = Duration.minutes(5)


class Monitoring(Construct):
    """Alarms, their SNS topic (with an optional email subscription) and a dashboard.

    Attributes:
        topic: the SNS topic every alarm notifies (TLS-only publishing).
        alarms: every alarm, by a short name (``Api5xxRate``, ``<Function>Errors``, ...).
        dashboard: the dashboard.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: apigw.Stage,
        functions: Mapping[str, lambda_.IFunction],
        state_machine: sfn.IStateMachine,
        alarm_email: str | None,
        dashboard_name: str,
        dead_letter_queues: Mapping[str, sqs.IQueue] | None = None,
        topic_key_arn: str | None = None,
    ) -> None:
        """Build the topic, the alarms and the dashboard.

        Args:
            dead_letter_queues: queues whose any message is an alarm (``<name>DeadLetters``).
            topic_key_arn: a customer-managed KMS key for the topic (None: no CMK). An
                imported key's policy cannot be changed from here: it must allow
                ``cloudwatch.amazonaws.com`` ``kms:Decrypt`` and ``kms:GenerateDataKey*``.
        """
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name="bedrock-code-execution alarms",
            enforce_ssl=True,
            master_key=(
                kms.Key.from_key_arn(self, "AlarmTopicKey", topic_key_arn)
                if topic_key_arn
                else None
            ),
        )
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self.alarms: dict[str, cw.Alarm] = {}
        self._add_alarms(stage, functions, state_machine)
        for name, queue in (dead_letter_queues or {}).items():
            self._alarm(
                f"{name}DeadLetters",
                queue.metric_approximate_number_of_messages_visible(
                    statistic="Maximum", period=_PERIOD
                ),
                1,
                f"The {name} dead-letter queue holds events that reached no function.",
            )
        self.dashboard = cw.Dashboard(
            self,
            "Dashboard",
            dashboard_name=dashboard_name,
            default_interval=Duration.hours(6),
            widgets=self._widgets(stage, functions, state_machine),
        )

    # --- metrics ---------------------------------------------------------------------------

    @staticmethod
    def runtime_metric(name: str, statistic: str = "Sum") -> cw.Metric:
        """One of the runtime's metrics (:data:`RUNTIME_METRICS`)."""
        if name not in RUNTIME_METRICS:
            raise ValueError(f"{name!r} is not a metric the runtime emits: {RUNTIME_METRICS}")
        return cw.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=name,
            dimensions_map={"service": METRICS_SERVICE},
            statistic=statistic,
            period=_PERIOD,
        )

    @staticmethod
    def _job_failures(state_machine: sfn.IStateMachine) -> cw.MathExpression:
        return cw.MathExpression(
            expression="failed + timedOut + aborted",
            label="Jobs failed, timed out or aborted",
            using_metrics={
                "failed": state_machine.metric_failed(statistic="Sum", period=_PERIOD),
                "timedOut": state_machine.metric_timed_out(statistic="Sum", period=_PERIOD),
                "aborted": state_machine.metric_aborted(statistic="Sum", period=_PERIOD),
            },
            period=_PERIOD,
        )

    # --- alarms ----------------------------------------------------------------------------

    def _add_alarms(
        self,
        stage: apigw.Stage,
        functions: Mapping[str, lambda_.IFunction],
        state_machine: sfn.IStateMachine,
    ) -> None:
        self._alarm(
            "Api5xxRate",
            stage.metric_server_error(statistic="Average", period=_PERIOD),
            API_5XX_RATE_THRESHOLD,
            f"More than {API_5XX_RATE_THRESHOLD:.0%} of API requests answered 5xx in 5 minutes.",
        )
        for label, fn in functions.items():
            self._alarm(
                f"{label}Errors",
                fn.metric_errors(statistic="Sum", period=_PERIOD),
                1,
                f"The {label} function failed (an unhandled error or a timeout).",
            )
            self._alarm(
                f"{label}Throttles",
                fn.metric_throttles(statistic="Sum", period=_PERIOD),
                1,
                f"Lambda throttled the {label} function (concurrency exhausted).",
            )
        self._alarm(
            "JobFailures",
            self._job_failures(state_machine),
            1,
            "A job failed, timed out or was aborted.",
        )
        self._alarm(
            "SandboxStartFailures",
            self.runtime_metric("SandboxStartFailures"),
            1,
            "A code interpreter session could not be started (quota, throttling, access).",
        )
        self._alarm(
            "LeakedSessionsStopped",
            self.runtime_metric("LeakedSessionsStopped"),
            1,
            "The sweeper stopped sandbox sessions no job or session held: something let "
            "one outlive its owner.",
        )

    def _alarm(self, name: str, metric: cw.IMetric, threshold: float, description: str) -> None:
        alarm = cw.Alarm(
            self,
            name,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        self.alarms[name] = alarm

    # --- dashboard -------------------------------------------------------------------------

    def _widgets(
        self,
        stage: apigw.Stage,
        functions: Mapping[str, lambda_.IFunction],
        state_machine: sfn.IStateMachine,
    ) -> list[list[cw.IWidget]]:
        metric = self.runtime_metric
        api = [
            cw.GraphWidget(
                title="API requests",
                left=[stage.metric_count(statistic="Sum", period=_PERIOD, label="requests")],
                right=[
                    stage.metric_client_error(statistic="Sum", period=_PERIOD, label="4xx"),
                    stage.metric_server_error(statistic="Sum", period=_PERIOD, label="5xx"),
                ],
                width=8,
            ),
            cw.GraphWidget(
                title="API latency (ms)",
                left=[
                    stage.metric_latency(statistic="p50", period=_PERIOD, label="p50"),
                    stage.metric_latency(statistic="p95", period=_PERIOD, label="p95"),
                ],
                width=8,
            ),
            cw.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms.values()), width=8),
        ]
        work = [
            cw.GraphWidget(
                title="Model tokens",
                left=[
                    metric("InputTokens"),
                    metric("OutputTokens"),
                    metric("CacheReadInputTokens"),
                    metric("CacheWriteInputTokens"),
                ],
                width=8,
            ),
            cw.GraphWidget(
                title="Code runs",
                left=[metric("CodeRuns"), metric("CodeRunErrors")],
                width=8,
            ),
            cw.GraphWidget(
                title="Sandbox sessions",
                left=[metric("SandboxSessionsActive", "Maximum")],
                right=[metric("LeakedSessionsStopped"), metric("SandboxStartFailures")],
                width=8,
            ),
        ]
        platform = [
            cw.GraphWidget(
                title="Lambda errors (left) and throttles (right)",
                left=[
                    fn.metric_errors(statistic="Sum", period=_PERIOD, label=label)
                    for label, fn in functions.items()
                ],
                right=[
                    fn.metric_throttles(statistic="Sum", period=_PERIOD, label=label)
                    for label, fn in functions.items()
                ],
                width=12,
            ),
            cw.GraphWidget(
                title="Jobs",
                left=[
                    state_machine.metric_started(statistic="Sum", period=_PERIOD),
                    state_machine.metric_succeeded(statistic="Sum", period=_PERIOD),
                    self._job_failures(state_machine),
                ],
                width=12,
            ),
        ]
        return [api, work, platform]
