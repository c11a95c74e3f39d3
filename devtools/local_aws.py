"""Local stand-ins for the stack's storage: a moto server, and the table and bucket the
stack would create (same key schema and TTL attribute)."""

from __future__ import annotations

from typing import Any

from emulators.code_interpreter.spawn import free_port

__all__ = ["BUCKET", "TABLE", "create_resources", "start_moto"]

TABLE = "code-exec-local"
BUCKET = "code-exec-local-files"


def start_moto() -> tuple[Any, str]:
    """A threaded moto server on a free loopback port, and its URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server, f"http://127.0.0.1:{port}"


def create_resources(table: str = TABLE, bucket: str = BUCKET, region: str | None = None) -> None:
    """The table and bucket the stack would create (same key schema and TTL attribute).

    Also the tests' stand-in for the stack's storage.
    """
    import boto3

    ddb = boto3.client("dynamodb", region_name=region)
    ddb.create_table(
        TableName=table,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
    boto3.client("s3", region_name=region).create_bucket(Bucket=bucket)
