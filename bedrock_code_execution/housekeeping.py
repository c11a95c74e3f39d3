"""Nothing outlives its owner: the sweeper's schedule, and cleanup after failed executions.

* A schedule runs the sweeper function, which stops READY sandbox sessions that no live job
  or session record holds (a job Lambda that died between starting a session and recording
  it, a cleanup step that failed all its retries).
* A rule on the job machine's FAILED, TIMED_OUT and ABORTED status changes runs the cleanup
  function: an execution aborted, or timed out as a whole, never reaches its Cleanup step,
  and one whose Cleanup failed gets another try (the cleanup work is idempotent).

An event EventBridge could not deliver to either function (throttled, the function's
permission gone, retries or event age exhausted) goes to a dead-letter queue instead of
being dropped; an alarm on that queue notifies the alarm topic
(:mod:`bedrock_code_execution.monitoring`).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from bedrock_code_execution.nag import acknowledge

__all__ = ["ENDED_BADLY", "Housekeeping"]

ENDED_BADLY = ("FAILED", "TIMED_OUT", "ABORTED")


class Housekeeping(Construct):
    """Two EventBridge rules: the sweeper's schedule and the failed-executions rule.

    Attributes:
        dead_letters: the targets' dead-letter queue (SQS-managed encryption, TLS only,
            kept 14 days): events EventBridge could not deliver.
        sweep_schedule: runs ``sweeper_function`` every ``sweep_every``.
        failed_jobs: sends the job machine's badly ended executions to ``cleanup_function``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        sweeper_function: lambda_.IFunction,
        cleanup_function: lambda_.IFunction,
        state_machine_arn: str,
        sweep_every: Duration,
    ) -> None:
        super().__init__(scope, construct_id)
        # SQS-managed keys: EventBridge can send to the queue with no key policy to maintain
        # (a customer-managed key would have to allow events.amazonaws.com).
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(
            self.dead_letters,
            "AwsSolutions-SQS3",
            "This queue is the dead-letter queue of the EventBridge targets (cdk-nag only "
            "recognizes SQS redrive policies); nothing consumes it but an operator.",
        )
        self.sweep_schedule = events.Rule(
            self,
            "SweepSchedule",
            description="Stops sandbox sessions no live job or session holds",
            schedule=events.Schedule.rate(sweep_every),
            # The next run sweeps again; a retried sweep would only race the next one.
            targets=[
                targets.LambdaFunction(
                    sweeper_function, retry_attempts=0, dead_letter_queue=self.dead_letters
                )
            ],
        )
        self.failed_jobs = events.Rule(
            self,
            "FailedJobs",
            description="Runs the cleanup work for job executions that ended badly",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={"status": list(ENDED_BADLY), "stateMachineArn": [state_machine_arn]},
            ),
            targets=[
                targets.LambdaFunction(
                    cleanup_function,
                    retry_attempts=2,
                    max_event_age=Duration.hours(1),
                    dead_letter_queue=self.dead_letters,
                )
            ],
        )
