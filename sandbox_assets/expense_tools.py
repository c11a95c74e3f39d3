"""Expense-audit demo tools (the PTC benchmark task). Standalone: stdlib only.

The same module serves both placements: ``code_exec.ptc`` writes it into the sandbox
for *preloaded* tools, and imports it in the orchestrator for *bridged* tools.

The dataset is generated deterministically (seeded ``random.Random`` with string seeds,
integer cents) so every run and every Python version sees the same records. For Q3 the
approved travel of each member is fixed to the cent: records are drawn at random, then
the last approved travel record is set to the remainder. The expected answer (standard
quarterly travel budget $5,000; custom limits respected; only approved travel counts):

    Alice Chen    $9,876.54  (+$4,876.54)
    Emma Johnson  $5,266.02  (+$266.02)
    Grace Taylor  $6,474.46  (+$1,474.46)

Traps that change the answer when the rules are not followed: Bob Martinez and David
Kim are over $5,000 but have custom budgets; Henry Wilson has pending travel, Frank Lee
rejected travel and Carol White approved non-travel that would put them over if counted.

``get_custom_budget`` answers for every employee with ``budget_limit`` (5000.0 on the
standard budget), so code that reads ``budget["budget_limit"]`` for anyone works as the
published PTC example expects.
"""

from __future__ import annotations

import json
import random
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

__all__ = [
    "CUSTOM_BUDGETS",
    "Q3_APPROVED_TRAVEL_CENTS",
    "STANDARD_TRAVEL_BUDGET",
    "TOOLS",
    "get_custom_budget",
    "get_expenses",
    "get_team_members",
]

TOOLS = ["get_team_members", "get_expenses", "get_custom_budget"]
STANDARD_TRAVEL_BUDGET = 5000.00

_TEAM = [
    # id, name, role, level, location, hire date
    ("ENG001", "Alice Chen", "Staff Software Engineer", "L6", "San Francisco", "2018-03-12"),
    ("ENG002", "Bob Martinez", "Engineering Manager", "M2", "New York", "2016-07-01"),
    ("ENG003", "Carol White", "Senior Software Engineer", "L5", "Seattle", "2019-11-04"),
    ("ENG004", "David Kim", "Principal Engineer", "L7", "Austin", "2015-01-20"),
    ("ENG005", "Emma Johnson", "Senior Software Engineer", "L5", "Boston", "2020-05-18"),
    ("ENG006", "Frank Lee", "Software Engineer", "L4", "Denver", "2021-09-07"),
    ("ENG007", "Grace Taylor", "Solutions Architect", "L6", "Chicago", "2017-10-30"),
    ("ENG008", "Henry Wilson", "Software Engineer", "L4", "Portland", "2022-02-14"),
]
_MANAGER = "ENG002"

# Approved Q3 travel per member, in cents (the audit's ground truth).
Q3_APPROVED_TRAVEL_CENTS = {
    "ENG001": 987654,
    "ENG002": 748210,
    "ENG003": 412075,
    "ENG004": 621990,
    "ENG005": 526602,
    "ENG006": 389050,
    "ENG007": 647446,
    "ENG008": 455025,
}
# Traps: (member, category, status, cents) added to Q3.
_Q3_TRAPS = [
    ("ENG008", "travel", "pending", 120000),
    ("ENG006", "travel", "rejected", 215000),
    ("ENG003", "equipment", "approved", 149900),
]
CUSTOM_BUDGETS = {  # employee -> (quarterly travel limit in USD, reason)
    "ENG002": (12000.00, "Manages the New York and London offices; quarterly on-site visits"),
    "ENG004": (8000.00, "Principal engineer covering customer escalations"),
}
_QUARTERS = {"Q1": (1, 3), "Q2": (4, 6), "Q3": (7, 9), "Q4": (10, 12)}
_YEAR = 2025
_CATEGORIES = ["meals", "software", "equipment", "training", "office_supplies", "conference"]
_TRAVEL_MERCHANTS = [
    ("United Airlines", "Flight"),
    ("Delta Air Lines", "Flight"),
    ("Marriott", "Hotel"),
    ("Hilton", "Hotel"),
    ("Hyatt", "Hotel"),
    ("Uber", "Ground transport"),
    ("Hertz", "Car rental"),
    ("Amtrak", "Train"),
]
_OTHER_MERCHANTS = {
    "meals": ["Blue Bottle Coffee", "Sweetgreen", "Chipotle", "Local Bistro"],
    "software": ["JetBrains", "GitHub", "Figma", "Atlassian"],
    "equipment": ["Apple Store", "Best Buy", "B&H Photo", "Dell"],
    "training": ["O'Reilly", "Coursera", "Udemy", "A Cloud Guru"],
    "office_supplies": ["Staples", "Office Depot", "Amazon"],
    "conference": ["re:Invent", "KubeCon", "PyCon US", "QCon"],
}
_PAYMENT = ["corporate_card", "personal_card", "bank_transfer"]
_PROJECTS = ["PRJ-ATLAS", "PRJ-HELIOS", "PRJ-NOVA", "PRJ-ORBIT"]


def _quarter_dates(quarter: str) -> tuple[date, date]:
    first, last = _QUARTERS[quarter]
    start = date(_YEAR, first, 1)
    end = date(_YEAR + (last == 12), (last % 12) + 1, 1) - timedelta(days=1)
    return start, end


def _record(
    rng: random.Random,
    employee_id: str,
    quarter: str,
    seq: int,
    category: str,
    status: str,
    cents: int,
) -> dict[str, Any]:
    start, end = _quarter_dates(quarter)
    day = start + timedelta(days=rng.randrange((end - start).days + 1))
    submitted = datetime(day.year, day.month, day.day, rng.randrange(8, 19), rng.randrange(60))
    submitted += timedelta(days=rng.randrange(1, 6))
    if category == "travel":
        merchant, kind = rng.choice(_TRAVEL_MERCHANTS)
        description = (
            f"{kind} - {rng.choice(['customer visit', 'offsite', 'conference', 'team summit'])}"
        )
    else:
        merchant = rng.choice(_OTHER_MERCHANTS[category])
        description = f"{category.replace('_', ' ').title()} - {merchant}"
    expense_id = f"EXP-{employee_id[3:]}-{quarter}-{seq:03d}"
    decided = status != "pending"
    return {
        "expense_id": expense_id,
        "employee_id": employee_id,
        "date": day.isoformat(),
        "amount": cents / 100,
        "currency": "USD",
        "category": category,
        "status": status,
        "merchant": merchant,
        "description": description,
        "payment_method": rng.choice(_PAYMENT),
        "receipt_url": f"https://receipts.example.com/{expense_id.lower()}.pdf",
        "approver": _MANAGER if employee_id != _MANAGER else "ENG004",
        "submitted_at": submitted.isoformat() + "Z",
        "decided_at": (submitted + timedelta(days=rng.randrange(1, 4))).isoformat() + "Z"
        if decided
        else None,
        "project_code": rng.choice(_PROJECTS),
        "cost_center": "CC-ENG-100",
        "reimbursable": rng.random() < 0.8,
        "fiscal_quarter": f"{_YEAR}-{quarter}",
        "tags": [category, status],
    }


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    """``total`` cents in ``parts`` plausible pieces; the last one takes the remainder."""
    weights = [rng.uniform(0.6, 1.4) for _ in range(parts)]
    scale = total / sum(weights)
    pieces = [int(w * scale) for w in weights[:-1]]
    return [*pieces, total - sum(pieces)]


@lru_cache(maxsize=64)
def _expenses(employee_id: str, quarter: str) -> tuple[dict[str, Any], ...]:
    rng = random.Random(f"expenses/{employee_id}/{quarter}/{_YEAR}")
    count = rng.randint(20, 50)
    rows: list[tuple[str, str, int]] = []  # (category, status, cents)
    target = Q3_APPROVED_TRAVEL_CENTS.get(employee_id) if quarter == "Q3" else None
    if target is None:
        target = rng.randrange(150000, 520000)
    travel = _split(rng, target, rng.randint(4, 8))
    approved_travel = [("travel", "approved", c) for c in travel]
    if quarter == "Q3":
        rows += [(cat, st, c) for emp, cat, st, c in _Q3_TRAPS if emp == employee_id]
    while len(rows) + len(approved_travel) < count:
        if rng.random() < 0.25:  # travel that is not approved
            rows.append(("travel", rng.choice(["pending", "rejected"]), rng.randrange(8000, 90000)))
        else:
            status = rng.choices(["approved", "pending", "rejected"], [0.75, 0.15, 0.10])[0]
            rows.append((rng.choice(_CATEGORIES), status, rng.randrange(1200, 60000)))
    rng.shuffle(rows)
    rows += approved_travel  # interleave by date below; the last approved travel is the remainder
    records = [
        _record(rng, employee_id, quarter, i + 1, cat, st, c) for i, (cat, st, c) in enumerate(rows)
    ]
    records.sort(key=lambda r: (r["date"], r["expense_id"]))
    return tuple(records)


def get_team_members(department: str) -> str:
    """List the members of a department.

    Args:
        department: Department name, e.g. "engineering".

    Returns:
        JSON list of members, each with id, name, email, role, level, department,
        manager_id, location and hire_date.
    """
    if department.strip().lower() != "engineering":
        return json.dumps([])
    members = [
        {
            "id": eid,
            "name": name,
            "email": name.lower().replace(" ", ".") + "@example.com",
            "role": role,
            "level": level,
            "department": "engineering",
            "manager_id": _MANAGER if eid != _MANAGER else None,
            "location": location,
            "hire_date": hired,
        }
        for eid, name, role, level, location, hired in _TEAM
    ]
    return json.dumps(members)


def get_expenses(employee_id: str, quarter: str) -> str:
    """All expense line items of one employee for one quarter of the current fiscal year.

    Args:
        employee_id: The employee's id, e.g. "ENG001".
        quarter: The quarter: "Q1", "Q2", "Q3" or "Q4".

    Returns:
        JSON list of expense records with expense_id, date, amount (USD), category
        ("travel", "meals", ...), status ("approved", "pending", "rejected"), merchant,
        description, payment_method, receipt_url, approver, submitted_at, project_code,
        cost_center, reimbursable and more.
    """
    quarter = quarter.strip().upper()
    if quarter not in _QUARTERS:
        raise ValueError(f"quarter must be one of Q1..Q4, got {quarter!r}")
    if employee_id not in {m[0] for m in _TEAM}:
        raise ValueError(f"unknown employee id {employee_id!r}")
    return json.dumps(list(_expenses(employee_id, quarter)))


def get_custom_budget(user_id: str) -> str:
    """The quarterly travel budget of one employee: the standard one or their exception.

    Args:
        user_id: The employee's id, e.g. "ENG001".

    Returns:
        JSON object {"user_id", "budget_limit", "currency", "reason"} for every employee:
        budget_limit is the quarterly travel limit in USD, 5000.0 (the standard budget)
        unless the employee has a custom limit; reason says which applies and why.
    """
    if user_id not in {m[0] for m in _TEAM}:
        raise ValueError(f"unknown employee id {user_id!r}")
    limit, reason = CUSTOM_BUDGETS.get(
        user_id, (STANDARD_TRAVEL_BUDGET, "Standard quarterly travel budget")
    )
    return json.dumps(
        {"user_id": user_id, "budget_limit": limit, "currency": "USD", "reason": reason}
    )
