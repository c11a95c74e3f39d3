"""The expense-audit demo as tests and benches use it: its tools as a registry, the
published PTC cell that answers it, and what that cell must print."""

from __future__ import annotations

import json
from typing import Any

from code_exec.ptc import ToolRegistry, asset_path
from code_exec.ptc.assets import load_asset_module
from code_exec.ptc.registry import Placement

__all__ = ["expected_audit", "expense_audit_code", "expense_registry", "read_audit_output"]

Audit = tuple[str, list[dict[str, Any]]]  # the headline, then one row per member over budget


def expense_registry(placement: Placement = "bridged") -> ToolRegistry:
    """The expense-audit tools (get_team_members, get_expenses, get_custom_budget)."""
    return ToolRegistry.from_module(load_asset_module("expense_tools"), placement=placement)


def expense_audit_code() -> str:
    """The published PTC cell that answers the audit (``sandbox_assets/examples``)."""
    return asset_path("examples/expense_audit.py").read_text()


def read_audit_output(stdout: str) -> Audit:
    """The headline and rows the cell printed, amounts in whole cents (ints)."""
    headline, _, body = stdout.partition("\n")
    rows = [
        {
            "name": row["name"],
            **{k: round(row[k] * 100) for k in ("spent", "limit", "exceeded_by")},
        }
        for row in json.loads(body)
    ]
    return headline, rows


def expected_audit() -> Audit:
    """What the cell must print, from the dataset's own figures (``expense_tools.py``)."""
    tools = load_asset_module("expense_tools")
    rows = []
    for member in json.loads(tools.get_team_members("engineering")):
        spent = tools.Q3_APPROVED_TRAVEL_CENTS[member["id"]]
        limit = tools.CUSTOM_BUDGETS.get(member["id"], (tools.STANDARD_TRAVEL_BUDGET, ""))[0]
        limit = round(limit * 100)
        if spent > limit:
            over = spent - limit
            rows.append(
                {"name": member["name"], "spent": spent, "limit": limit, "exceeded_by": over}
            )
    return f"{len(rows)} members exceeded budget:", rows
