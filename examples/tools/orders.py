"""Order look-ups for PTC: a bridged tool that reads the deployment's own DynamoDB table.

It runs in the orchestrator (the construct's API, stream and job functions), with what the
app granted ``code_execution.tools_grantable``; the table's name comes from the environment
the app gave this module (``ToolModule(..., environment={"ORDERS_TABLE": ...})``).
"""

from __future__ import annotations

import json
import os
from decimal import Decimal

import boto3

TOOLS = ["get_order"]


def get_order(order_id: str) -> str:
    """One order from the orders table.

    Args:
        order_id: The order's id, e.g. "o-1001".

    Returns:
        JSON object of the order (order_id, customer, total, status), or {"error": ...}.
    """
    table = boto3.resource("dynamodb").Table(os.environ["ORDERS_TABLE"])
    item = table.get_item(Key={"order_id": order_id}).get("Item")
    if item is None:
        return json.dumps({"error": f"no order {order_id}"})
    return json.dumps(item, default=lambda v: float(v) if isinstance(v, Decimal) else str(v))
