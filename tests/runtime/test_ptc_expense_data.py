"""The expense-audit dataset proves the expected answer, exactly, with its traps in place."""

from __future__ import annotations

import contextlib
import io
import json
from decimal import Decimal

import pytest
from code_exec.ptc.assets import assets_dir, load_asset_module
from code_exec.ptc.cell_runner import make_runner

from devtools.expense import (
    expected_audit,
    expense_audit_code,
    expense_registry,
    read_audit_output,
)

tools = load_asset_module("expense_tools")
STANDARD = Decimal("5000.00")


def _q3(employee_id: str) -> list[dict]:
    return json.loads(tools.get_expenses(employee_id, "Q3"))


def _total(
    records: list[dict], *, category: str | None = "travel", status: str | None = "approved"
) -> Decimal:
    return sum(
        (
            Decimal(str(r["amount"]))
            for r in records
            if (category is None or r["category"] == category)
            and (status is None or r["status"] == status)
        ),
        Decimal("0"),
    )


def test_expected_answer_exactly() -> None:
    team = json.loads(tools.get_team_members("engineering"))
    assert len(team) == 8
    over = {}
    for m in team:
        travel = _total(_q3(m["id"]))
        limit = Decimal(str(json.loads(tools.get_custom_budget(m["id"]))["budget_limit"]))
        if travel > limit:
            over[m["name"]] = (limit, travel, travel - limit)
    assert over == {
        "Alice Chen": (STANDARD, Decimal("9876.54"), Decimal("4876.54")),
        "Emma Johnson": (STANDARD, Decimal("5266.02"), Decimal("266.02")),
        "Grace Taylor": (STANDARD, Decimal("6474.46"), Decimal("1474.46")),
    }


def test_shape_of_the_records() -> None:
    for m in json.loads(tools.get_team_members("engineering")):
        for quarter in ("Q1", "Q2", "Q3", "Q4"):
            records = json.loads(tools.get_expenses(m["id"], quarter))
            assert 20 <= len(records) <= 50
            assert all(len(r) >= 15 for r in records)
            assert len({r["expense_id"] for r in records}) == len(records)
            assert all(r["amount"] > 0 and r["currency"] == "USD" for r in records)
    fields = set(_q3("ENG001")[0])
    assert {
        "expense_id", "date", "amount", "category", "status", "currency", "merchant",
        "description", "payment_method", "receipt_url", "approver", "submitted_at",
        "project_code", "cost_center", "reimbursable",
    } <= fields  # fmt: skip
    assert tools.get_expenses("ENG001", "Q3") == tools.get_expenses("ENG001", "Q3")


def test_traps_change_the_answer_when_rules_are_broken() -> None:
    # custom budgets: over the standard budget, under their own
    for eid, limit in (("ENG002", "12000"), ("ENG004", "8000")):
        assert STANDARD < _total(_q3(eid)) < Decimal(limit)
    # counting pending travel, rejected travel, or non-travel would add someone
    assert _total(_q3("ENG008")) < STANDARD < _total(_q3("ENG008"), status=None)
    assert _total(_q3("ENG006")) < STANDARD < _total(_q3("ENG006"), status=None)
    assert _total(_q3("ENG003")) < STANDARD < _total(_q3("ENG003"), category=None)


def test_every_employee_has_a_budget_limit() -> None:
    """The published contract: an object with budget_limit for everyone, 5000.0 by default."""
    budgets = {
        m["id"]: json.loads(tools.get_custom_budget(m["id"]))
        for m in json.loads(tools.get_team_members("engineering"))
    }
    assert {
        eid: b["budget_limit"] for eid, b in budgets.items() if b["budget_limit"] != 5000.0
    } == {
        "ENG002": 12000.0,
        "ENG004": 8000.0,
    }
    assert all(
        b["currency"] == "USD" and b["reason"] and b["user_id"] == k for k, b in budgets.items()
    )
    assert budgets["ENG001"]["reason"] == "Standard quarterly travel budget"
    with pytest.raises(ValueError, match="unknown employee id"):
        tools.get_custom_budget("ENG999")


def test_the_article_cell_prints_the_answer_locally() -> None:
    """The same cell and tool module the sandbox gets, run in-process."""
    ptc_runtime = load_asset_module("ptc_runtime")  # sandbox_assets/ptc_runtime.py

    ns: dict = {}
    specs = [t.sandbox_spec() for t in expense_registry("preloaded")]
    ptc_runtime.install(ns, specs, tools_dir=str(assets_dir()))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        make_runner(ns).run(expense_audit_code())
    headline, rows = read_audit_output(out.getvalue())
    assert headline == "3 members exceeded budget:"
    assert [(r["name"], r["exceeded_by"]) for r in rows] == [
        ("Alice Chen", 487654),
        ("Emma Johnson", 26602),
        ("Grace Taylor", 147446),
    ]
    assert (headline, rows) == expected_audit()
