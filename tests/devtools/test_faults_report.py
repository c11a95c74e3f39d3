"""``docs/faults.md`` and the fault matrix's rows stay true to the code.

The rows are derived from the runtime's source (``devtools.fault_matrix.called_operations``):
an AWS operation the runtime starts calling without a row fails here, and so does a row for an
operation nothing calls any more. The scan itself is proven on a source that calls one more
operation.
"""

from __future__ import annotations

from pathlib import Path

from devtools.fault_injection import Target
from devtools.fault_matrix import ROWS, called_operations, cells
from devtools.faults_report import render

REPO = Path(__file__).resolve().parents[2]


def test_docs_faults_md_is_generated_from_the_matrix() -> None:
    committed = (REPO / "docs" / "faults.md").read_text()
    assert committed == render(), (
        "docs/faults.md is stale: run `make faults-report` and commit the result"
    )


def test_every_operation_the_runtime_calls_has_a_row_and_every_row_is_called() -> None:
    rows = {row.target for row in ROWS}
    called = called_operations()
    assert not called - rows, (
        f"operations without a row in devtools/fault_matrix.py: {called - rows}"
    )
    assert not rows - called, f"rows for operations the runtime no longer calls: {rows - called}"
    assert len(rows) == len(ROWS), "an operation has two rows"


def test_the_scan_finds_a_new_operation_and_a_new_sandbox_tool(tmp_path: Path) -> None:
    (tmp_path / "new.py").write_text(
        "def purge(s3, sandbox):\n"
        "    s3.delete_object(Bucket='b', Key='k')\n"
        "    self_calls = sandbox._call('list_code_interpreter_sessions', None, retry_safe=True)\n"
        "    return self_calls\n"
    )
    found = called_operations(tmp_path)
    assert Target("s3", "DeleteObject") in found
    assert Target("bedrock-agentcore", "ListCodeInterpreterSessions") in found


def test_the_matrix_has_a_cell_per_row_and_fault() -> None:
    streams = [r for r in ROWS if r.stream]
    assert {str(r.target) for r in streams} == {"ConverseStream", "InvokeModelWithResponseStream"}
    assert len(cells()) == 5 * len(ROWS) + len(streams)
