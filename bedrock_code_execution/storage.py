"""Files bucket (+ its access-log bucket) and the sessions/jobs table."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

__all__ = [
    "FILES_PREFIX",
    "LAMBDA_PREFIXES",
    "SKILLS_PREFIX",
    "STATE_PREFIX",
    "TTL_ATTRIBUTE",
    "Storage",
]

# Object key prefixes, granted per role. The functions read and write caller files under
# files/ and stored JSON (history, results) under state/; the sandbox role has no S3 access.
FILES_PREFIX = "files/"
STATE_PREFIX = "state/"
LAMBDA_PREFIXES = (FILES_PREFIX, STATE_PREFIX)
# /v1/skills: one zip per skill version, per owner. No lifecycle rule covers it: a skill lives
# until its owner deletes it. The API writes and deletes; every function that runs turns reads.
SKILLS_PREFIX = "skills/"
TTL_ATTRIBUTE = "expires_at"


class Storage(Construct):
    """S3 bucket for files and a DynamoDB table (pk/sk, TTL) for sessions, jobs, tool calls.

    Each prefix expires on its own: caller files after ``expiration_days``, stored state after
    ``state_expiration_days`` (as long as a record can point to it). One rule for the whole
    bucket would expire state under sessions that still live (S3 applies the shortest
    expiration of overlapping rules), so no rule covers the whole bucket but the multipart
    cleanup.

    Attributes:
        bucket: files bucket (S3-managed encryption, TLS only, no public access, expiring).
        access_logs: bucket receiving the files bucket's server access logs.
        table: single table; keys ``pk``/``sk``, TTL attribute ``expires_at``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        expiration_days: int,
        state_expiration_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            lifecycle_rules=[s3.LifecycleRule(id="ExpireAccessLogs", expiration=Duration.days(90))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        # No AwsSolutions-S1 finding to acknowledge: cdk-nag accepts a bucket without access
        # logs when it is another bucket's access-log destination, as this one is.
        self.bucket = s3.Bucket(
            self,
            "Files",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="files-bucket/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireFiles", prefix=FILES_PREFIX, expiration=Duration.days(expiration_days)
                ),
                s3.LifecycleRule(
                    id="ExpireState",
                    prefix=STATE_PREFIX,
                    expiration=Duration.days(state_expiration_days),
                ),
                s3.LifecycleRule(
                    id="AbortIncompleteUploads",
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=RemovalPolicy.RETAIN,
        )
