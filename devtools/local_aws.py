"""Local stand-ins for the stack's storage: a moto server, and the table and bucket the
stack would create (same key schema and TTL attribute)."""

from __future__ import annotations

import functools
import threading
from typing import Any

from emulators.code_interpreter.spawn import free_port

__all__ = ["BUCKET", "TABLE", "create_resources", "one_dynamodb_request_at_a_time", "start_moto"]

TABLE = "code-exec-local"
BUCKET = "code-exec-local-files"


def start_moto() -> tuple[Any, str]:
    """A threaded moto server on a free loopback port, and its URL."""
    from moto.server import ThreadedMotoServer

    one_dynamodb_request_at_a_time()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server, f"http://127.0.0.1:{port}"


def create_resources(table: str = TABLE, bucket: str = BUCKET, region: str | None = None) -> None:
    """The table and bucket the stack would create (same key schema and TTL attribute).

    Also the tests' stand-in for the stack's storage.
    """
    import boto3

    one_dynamodb_request_at_a_time()
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


@functools.cache
def one_dynamodb_request_at_a_time() -> None:
    """Make moto's DynamoDB answer one request at a time in this process, as its items are
    read and written atomically in DynamoDB.

    moto's backend is not thread-safe: a ``GetItem`` that serializes an item while another
    thread's ``UpdateItem`` adds an attribute to it fails with ``RuntimeError: dictionary
    changed size during iteration`` (seen as a 500 from ``GET /jobs/{id}`` polled while the
    job's Lambda, in moto's Step Functions thread, updated the job). A DynamoDB request never
    calls out, so one lock cannot deadlock; other services (Step Functions invoking Lambda,
    which calls DynamoDB) stay concurrent. Idempotent, for the whole process.
    """
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.Lock()
    call_action = DynamoHandler.call_action

    @functools.wraps(call_action)
    def one_at_a_time(self: Any) -> Any:
        with lock:
            return call_action(self)

    DynamoHandler.call_action = one_at_a_time  # type: ignore[method-assign]
