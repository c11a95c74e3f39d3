"""``make api-key``: a key is printed once and only its hash is stored, with its owner."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from code_exec.store import ApiKeyStore, hash_key
from moto import mock_aws

from devtools import local_aws
from scripts import api_key

REGION = "us-east-1"


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        local_aws.create_resources("keys-table", "keys-bucket", region=REGION)
        yield boto3.client("dynamodb", region_name=REGION)


def test_the_key_is_printed_once_and_stored_as_its_hash(
    table: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert api_key.main(["--name", "laptop", "--owner", "alice", "--table", "keys-table"]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("sk-bcx-") and len(key) > 40
    items = table.scan(TableName="keys-table")["Items"]
    assert key not in str(items)  # never stored
    assert [i["pk"]["S"] for i in items] == [f"APIKEY#{hash_key(key)}"]
    record = ApiKeyStore(table, "keys-table", ttl_seconds=0).api_key(key)
    assert record is not None and (record.owner, record.name) == ("alice", "laptop")


def test_the_table_comes_from_the_stack_output(
    table: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    cfn = boto3.client("cloudformation", region_name=REGION)
    cfn.create_stack(
        StackName="TestAgent",
        TemplateBody='{"Resources": {"T": {"Type": "AWS::SNS::Topic"}},'
        ' "Outputs": {"TableName": {"Value": "keys-table"}}}',
    )
    assert api_key.stack_table(cfn, "TestAgent") == "keys-table"
    assert api_key.main(["--name", "ci", "--stack", "TestAgent"]) == 0
    key = capsys.readouterr().out.strip()
    assert ApiKeyStore(table, "keys-table", ttl_seconds=0).api_key(key).owner == "ci"


def test_a_bad_name_is_refused() -> None:
    with pytest.raises(SystemExit):
        api_key.main(["--name", "two words", "--table", "t"])
