"""The examples/ app's bridged tool, end to end: the construct's environment variable names
``examples/tools/orders.py``; the REAL API handler's default registry loads it; a model turn
(recorded in Bedrock's Converse shape) writes a cell that awaits ``get_order`` in the emulator
sandbox; the call comes back through the real relay; the orchestrator runs the tool, which
reads the user's own DynamoDB table (moto) with boto3."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from devtools.bedrock_replay import BedrockReplay, load_fixture
from tests.runtime.conftest import REGION, ApiClient, replay_bedrock_client

pytestmark = [pytest.mark.sandbox, pytest.mark.cdk]

REPO = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "converse_example_orders.json"
ORDERS_TABLE = "orders-example"


@pytest.fixture
def orders_api(sandbox_api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiClient]:
    """The API with the example's tool module deployed as the construct deploys it, and the
    user's orders table (moto) holding one order."""
    from code_exec.ptc import assets

    from bedrock_code_execution.tools import TOOL_MODULES_ENV, ToolModule

    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(
        TableName=ORDERS_TABLE,
        KeySchema=[{"AttributeName": "order_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "order_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(
        TableName=ORDERS_TABLE,
        Item={
            "order_id": {"S": "o-1001"},
            "customer": {"S": "Ada Lovelace"},
            "total": {"N": "129.5"},
            "status": {"S": "shipped"},
        },
    )
    module = ToolModule(REPO / "examples" / "tools" / "orders.py", placement="bridged")
    # What the construct sets, with the module's absolute path for the asset-relative one.
    monkeypatch.setenv(
        TOOL_MODULES_ENV, json.dumps([{"path": str(module.source), "placement": "bridged"}])
    )
    monkeypatch.setenv("ORDERS_TABLE", ORDERS_TABLE)
    assets.default_registry.cache_clear()
    services = sandbox_api.handler.services
    services.reset()
    services.override(bedrock=replay_bedrock_client())
    try:
        yield sandbox_api
    finally:
        services.reset()
        assets.default_registry.cache_clear()
        dynamodb.delete_table(TableName=ORDERS_TABLE)


def test_the_bridged_tool_reads_the_users_table_from_a_sandbox_cell(orders_api: Any) -> None:
    [call] = load_fixture(FIXTURE)["calls"]
    body = {k: v for k, v in call.items() if k != "turns"}
    with BedrockReplay(FIXTURE).attach(orders_api.handler.services.bedrock) as replay:
        resp = orders_api.invoke(**body, loop="converse")
    assert resp.status == 200, resp.body
    [run] = resp.body["code_runs"]
    assert run["is_error"] is False, run
    assert run["stdout"] == "Ada Lovelace 129.5 shipped\n"
    assert "Ada Lovelace" in resp.body["text"]
    assert len(replay.exchanges) == 2


def test_the_default_registry_offers_the_deployment_tool_as_bridged(orders_api: Any) -> None:
    """Loaded from PTC_TOOL_MODULES with the placement the construct gave it; it reads the
    table for real (a missing order is its own answer)."""
    from code_exec.ptc import default_registry

    tool = default_registry().get("get_order")
    assert tool.placement == "bridged"
    assert json.loads(tool.invoke({"order_id": "o-404"})) == {"error": "no order o-404"}
    assert json.loads(tool.invoke({"order_id": "o-1001"}))["customer"] == "Ada Lovelace"
