"""The expense-audit demo as tests and benches use it: its tools as a registry, the
model-style cell that answers it, and what that cell prints."""

from __future__ import annotations

from code_exec.ptc import ToolRegistry, asset_path
from code_exec.ptc.assets import load_asset_module
from code_exec.ptc.registry import Placement

__all__ = ["EXPECTED_EXPENSE_AUDIT_OUTPUT", "expense_audit_code", "expense_registry"]

EXPECTED_EXPENSE_AUDIT_OUTPUT = (
    "Alice Chen: $9,876.54 (budget $5,000.00, over by +$4,876.54)\n"
    "Emma Johnson: $5,266.02 (budget $5,000.00, over by +$266.02)\n"
    "Grace Taylor: $6,474.46 (budget $5,000.00, over by +$1,474.46)\n"
)


def expense_registry(placement: Placement = "bridged") -> ToolRegistry:
    """The expense-audit tools (get_team_members, get_expenses, get_custom_budget)."""
    return ToolRegistry.from_module(load_asset_module("expense_tools"), placement=placement)


def expense_audit_code() -> str:
    """The model-style PTC cell that answers the audit (``sandbox_assets/examples``)."""
    return asset_path("examples/expense_audit.py").read_text()
