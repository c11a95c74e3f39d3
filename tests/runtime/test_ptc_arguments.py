"""One rule for a tool call's arguments, on both sides of the bridge.

Code calls a tool with keyword arguments (the published PTC example's style), positionally,
or with ONE dict of arguments (Anthropic's PTC convention); a dict together with keyword
arguments is refused with ``ToolError``. The orchestrator applies the rule with the
function's signature (``Tool.arguments``), the sandbox runtime from the tool's spec
(``ptc_runtime.call_input``); the same table runs against both.
"""

from __future__ import annotations

from typing import Any

import pytest
from code_exec.exceptions import ToolError
from code_exec.ptc import Tool
from code_exec.ptc.assets import load_asset_module

ptc_runtime = load_asset_module("ptc_runtime")  # sandbox_assets/ptc_runtime.py


def get_expenses(employee_id: str, quarter: str) -> str:
    """Expenses of one employee.

    Args:
        employee_id: The employee's id.
        quarter: Q1..Q4.
    """
    return f"{employee_id}/{quarter}"


def save_record(record: dict, note: str = "") -> str:
    """Store a record (its first parameter takes an object).

    Args:
        record: The record.
        note: A note.
    """
    return "ok"


def tag(name: str, **labels: str) -> str:
    """Tag something with any labels.

    Args:
        name: What to tag.
    """
    return name


EXPENSES = {"employee_id": "ENG001", "quarter": "Q3"}
CASES: list[tuple[Any, tuple[Any, ...], dict[str, Any], dict[str, Any] | str]] = [
    # (function, args, kwargs, input object or the error's words)
    (get_expenses, (), dict(EXPENSES), EXPENSES),
    (get_expenses, (dict(EXPENSES),), {}, EXPENSES),
    (get_expenses, ("ENG001", "Q3"), {}, EXPENSES),
    (get_expenses, ("ENG001",), {"quarter": "Q3"}, EXPENSES),
    (get_expenses, ({"employee_id": "ENG001"},), {"quarter": "Q3"}, "either as one dict or as"),
    (
        get_expenses,
        ({"employee": "ENG001", "quarter": "Q3"},),
        {},
        "unknown argument(s) 'employee'",
    ),
    (get_expenses, ({"employee_id": "ENG001"},), {}, "missing argument(s) 'quarter'"),
    (get_expenses, ("ENG001", "Q3", "x"), {}, "takes 2 positional argument(s) but 3"),
    (get_expenses, ("ENG001",), {"employee_id": "E", "quarter": "Q3"}, "multiple values"),
    (save_record, ({"a": 1},), {}, {"record": {"a": 1}}),
    (save_record, ({"a": 1},), {"note": "n"}, {"record": {"a": 1}, "note": "n"}),
    (save_record, ({"record": {"a": 1}, "note": "n"},), {}, {"record": {"a": 1}, "note": "n"}),
    (save_record, ({"record": {"a": 1}},), {"note": "n"}, "either as one dict or as"),
    (tag, ({"name": "x", "team": "eng"},), {}, {"name": "x", "team": "eng"}),
    (tag, ("x",), {"team": "eng"}, {"name": "x", "team": "eng"}),
]


def _orchestrator(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    return Tool.from_function(fn).arguments(args, kwargs)


def _sandbox(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    return ptc_runtime.call_input(Tool.from_function(fn).sandbox_spec(), args, kwargs)


@pytest.mark.parametrize("side", [_orchestrator, _sandbox], ids=["orchestrator", "sandbox"])
@pytest.mark.parametrize(("fn", "args", "kwargs", "expected"), CASES)
def test_both_sides_bind_arguments_alike(side, fn, args, kwargs, expected) -> None:
    if isinstance(expected, str):
        error = ToolError if side is _orchestrator else ptc_runtime.ToolError
        with pytest.raises(error) as e:
            side(fn, args, kwargs)
        assert expected in str(e.value) and fn.__name__ in str(e.value)
    else:
        assert side(fn, args, kwargs) == expected


def test_a_tool_runs_from_either_form_and_a_relayed_input_is_checked() -> None:
    tool = Tool.from_function(get_expenses)
    assert tool({"employee_id": "ENG001", "quarter": "Q3"}) == "ENG001/Q3"
    assert tool(employee_id="ENG001", quarter="Q3") == "ENG001/Q3"
    assert tool.invoke({"employee_id": "ENG001", "quarter": "Q3"}) == "ENG001/Q3"
    with pytest.raises(ToolError, match="not both"):
        tool({"employee_id": "ENG001"}, quarter="Q3")
    with pytest.raises(ToolError, match="unknown argument"):
        tool.invoke({"employee_id": "ENG001", "quarter": "Q3", "year": 2025})
    # an object-first tool takes its relayed input as it is, never as the object itself
    assert Tool.from_function(save_record).invoke({"record": {}}) == "ok"
    with pytest.raises(ToolError, match="missing argument"):
        Tool.from_function(save_record).invoke({})
