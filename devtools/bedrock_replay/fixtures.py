"""Where the recorded model turns live, and how a loop's recording of a scenario is named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_MODEL_ID",
    "EXPENSE_TABLE",
    "FIXTURES",
    "LOOPS",
    "fixture_name",
    "load_fixture",
]

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "bedrock"

LOOPS = ["messages", "converse", "strands"]  # the loops the recorded turns serve
# Recordings are per wire API: InvokeModel for ``messages``, Converse for the other two.
_FIXTURE_PREFIX = {"messages": "invoke", "converse": "converse", "strands": "converse"}
# What the expense-audit recordings' last cell prints (over-budget people, exact amounts).
EXPENSE_TABLE = (
    "Name | Budget | Actual | Over by\n"
    "Alice Chen | $5,000.00 | $9,876.54 | +$4,876.54\n"
    "Emma Johnson | $5,000.00 | $5,266.02 | +$266.02\n"
    "Grace Taylor | $5,000.00 | $6,474.46 | +$1,474.46\n"
)
# The model of the recordings that name none (recorded with Claude Sonnet 4.5, still allowed).
DEFAULT_MODEL_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


def fixture_name(loop: str, scenario: str) -> str:
    """The recording of ``scenario`` for ``loop`` (``converse_session_chart``)."""
    return f"{_FIXTURE_PREFIX[loop]}_{scenario}"


def load_fixture(name: str | Path) -> dict[str, Any]:
    """A fixture by name (``messages_expense_audit_ptc``) or path."""
    path = Path(name)
    if not path.suffix:
        path = FIXTURES / f"{name}.json"
    return json.loads(path.read_text())
