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


def _mint(capsys: pytest.CaptureFixture[str], name: str, owner: str) -> str:
    assert api_key.main(["--name", name, "--owner", owner, "--table", "keys-table"]) == 0
    return capsys.readouterr().out.strip()


def test_list_shows_each_keys_id_owner_name_and_status_but_never_a_key(
    table: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    laptop = _mint(capsys, "laptop", "alice")
    ci = _mint(capsys, "ci", "bob")
    assert api_key.main(["--list", "--table", "keys-table"]) == 0
    out = capsys.readouterr().out
    assert laptop not in out and ci not in out
    rows = [line.split() for line in out.strip().splitlines()]
    assert rows[0][:4] == ["ID", "STATUS", "OWNER", "NAME"]
    listed = {(r[0], r[1], r[2], r[3]) for r in rows[1:]}
    assert listed == {
        (hash_key(laptop)[:12], "ACTIVE", "alice", "laptop"),
        (hash_key(ci)[:12], "ACTIVE", "bob", "ci"),
    }


@pytest.mark.parametrize("by", ["id", "key"])
def test_revoke_by_id_or_by_the_key_itself_and_the_authorizer_refuses_it(
    table: Any, capsys: pytest.CaptureFixture[str], by: str
) -> None:
    from code_exec.anthropic.authorizer import Authorizer, Unauthorized

    store = ApiKeyStore(table, "keys-table", ttl_seconds=0)
    key = _mint(capsys, "laptop", "alice")
    kept = _mint(capsys, "ci", "alice")
    ident = hash_key(key)[:12] if by == "id" else key
    assert api_key.main(["--revoke", ident, "--table", "keys-table"]) == 0
    assert "revoked" in capsys.readouterr().err
    record = store.api_key(key)
    assert record is not None and record.status == "REVOKED" and record.revoked_at
    with pytest.raises(Unauthorized):
        Authorizer(store)({"headers": {"x-api-key": key}, "methodArn": "a/prod/POST/v1/x"})
    assert store.api_key(kept).active  # the other key of the owner still works
    # revoking again is harmless, and the list shows it
    assert api_key.main(["--revoke", ident, "--table", "keys-table"]) == 0
    capsys.readouterr()
    assert api_key.main(["--list", "--table", "keys-table"]) == 0
    statuses = {r.split()[0]: r.split()[1] for r in capsys.readouterr().out.splitlines()[1:]}
    assert statuses == {hash_key(key)[:12]: "REVOKED", hash_key(kept)[:12]: "ACTIVE"}


def test_revoke_refuses_an_unknown_an_ambiguous_or_a_too_short_id(
    table: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    store = ApiKeyStore(table, "keys-table", ttl_seconds=0)
    twins = ["deadbeef" + "0" * 56, "deadbeef" + "1" * 56]  # hashes sharing 8 hex digits
    for digest in twins:
        table.put_item(
            TableName="keys-table",
            Item={
                "pk": {"S": f"APIKEY#{digest}"},
                "sk": {"S": "APIKEY"},
                "owner": {"S": "alice"},
                "name": {"S": digest[8]},
                "created_at": {"N": "1"},
                "status": {"S": "ACTIVE"},
            },
        )
    for ident, message in (
        ("0123456789ab", "no API key"),
        ("deadbeef", "2 API keys"),
        ("deadbee", "at least 8"),
        ("not-hex!", "at least 8"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            api_key.main(["--revoke", ident, "--table", "keys-table"])
        assert exit_info.value.code not in (0, None)
        assert message in capsys.readouterr().err
    assert [r.status for r in store.list_api_keys()] == ["ACTIVE", "ACTIVE"]
    assert api_key.main(["--revoke", "deadbeef1", "--table", "keys-table"]) == 0
    assert {r.name: r.status for r in store.list_api_keys()} == {"0": "ACTIVE", "1": "REVOKED"}
