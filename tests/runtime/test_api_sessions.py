"""POST /sessions/{id}/execute and DELETE /sessions/{id} through the real handler, with real code
running in the code-interpreter emulator and sessions/files in moto."""

from __future__ import annotations

import base64
import threading
import time
from typing import Any

import pytest
import requests

from .conftest import ApiClient

pytestmark = [pytest.mark.sandbox, pytest.mark.slow(seconds=15)]

# A PNG made with matplotlib (pinned for emulator sessions: missing, the cell fails).
CHART_CELL = """
import os
os.makedirs("outputs", exist_ok=True)
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
plt.plot([1, 2, 3], [4, 1, 9])
plt.savefig("outputs/chart.png")
with open("outputs/chart.png", "rb") as f:
    data = f.read()
import hashlib
print(len(data), hashlib.sha256(data).hexdigest())
"""


def _sandbox_session(handler: Any, session_id: str) -> str:
    record = handler.services.store.get_session(session_id)
    assert record is not None and record.sandbox_session_id
    return record.sandbox_session_id


def test_state_persists_across_requests_sharing_a_session(sandbox_api: ApiClient) -> None:
    first = sandbox_api.execute("persist", code="x = 6 * 7")
    assert first.status == 200, first.body
    second = sandbox_api.execute("persist", code="print(x)")
    assert second.status == 200, second.body
    assert second.body["stdout"].strip() == "42"
    assert second.body["is_error"] is False
    assert second.body["session_id"] == "persist"


def test_raising_cell_reports_failure_not_success(sandbox_api: ApiClient) -> None:
    resp = sandbox_api.execute("raises", code="1 / 0")
    assert resp.status == 200
    assert resp.body["is_error"] is True
    assert "ZeroDivisionError" in resp.body["stderr"]
    # the session survives a failing cell
    assert sandbox_api.execute("raises", code="print('alive')").body["stdout"].strip() == "alive"


def test_command_runs_in_the_same_workspace(sandbox_api: ApiClient) -> None:
    sandbox_api.execute("cmd", code="open('note.txt', 'w').write('hello')")
    resp = sandbox_api.execute("cmd", command="cat note.txt && exit 3")
    assert resp.status == 200
    assert resp.body["stdout"] == "hello"
    assert resp.body["exit_code"] == 3
    assert resp.body["is_error"] is True


def test_files_in_and_out_with_presigned_urls(sandbox_api: ApiClient) -> None:
    payload = bytes(range(256)) * 3
    resp = sandbox_api.execute(
        "files",
        code=(
            "import hashlib, shutil\n"
            "data = open('inputs/data/blob.bin', 'rb').read()\n"
            "print(hashlib.sha256(data).hexdigest())\n"
            "import os; os.makedirs('outputs', exist_ok=True)\n"
            "_ = shutil.copy('inputs/data/blob.bin', 'outputs/copy.bin')\n"
        ),
        files=[
            {"name": "data/blob.bin", "content_base64": base64.b64encode(payload).decode()},
        ],
    )
    assert resp.status == 200, resp.body
    import hashlib

    assert resp.body["stdout"].strip() == hashlib.sha256(payload).hexdigest()
    [out] = resp.body["files"]
    assert out["name"] == "copy.bin"
    assert out["size"] == len(payload)
    assert out["media_type"] == "application/octet-stream"
    assert out["s3_key"].startswith("files/sessions/files/")
    fetched = requests.get(out["url"], timeout=10)
    assert fetched.status_code == 200
    assert fetched.content == payload


def test_chart_made_in_the_sandbox_comes_back_as_a_url(sandbox_api: ApiClient) -> None:
    resp = sandbox_api.execute("chart", code=CHART_CELL)
    assert resp.status == 200, resp.body
    size, digest = resp.body["stdout"].split()
    [out] = resp.body["files"]
    assert (out["name"], out["media_type"], out["size"]) == ("chart.png", "image/png", int(size))
    import hashlib

    content = requests.get(out["url"], timeout=10).content
    assert hashlib.sha256(content).hexdigest() == digest
    assert content.startswith(b"\x89PNG\r\n\x1a\n")
    # outputs/ is an outbox: the next request returns only what it makes
    again = sandbox_api.execute("chart", code="print('no new files')")
    assert again.body["files"] == []


def test_input_file_from_the_files_bucket(sandbox_api: ApiClient) -> None:
    import boto3

    from .conftest import BUCKET

    boto3.client("s3").put_object(Bucket=BUCKET, Key="files/uploads/in.csv", Body=b"a,b\n1,2\n")
    resp = sandbox_api.execute(
        "s3in",
        code="print(open('inputs/in.csv').read().splitlines()[1])",
        files=[{"name": "in.csv", "s3_key": "files/uploads/in.csv"}],
    )
    assert resp.status == 200, resp.body
    assert resp.body["stdout"].strip() == "1,2"


def test_delete_stops_the_sandbox_session(sandbox_api: ApiClient) -> None:
    assert sandbox_api.execute("doomed", code="y = 1").status == 200
    sandbox_session = _sandbox_session(sandbox_api.handler, "doomed")
    sandbox = sandbox_api.handler.services.sandbox
    assert sandbox.session_status(sandbox_session) == "READY"

    resp = sandbox_api.delete("doomed")
    assert resp.status == 200
    assert resp.body == {"session_id": "doomed", "stopped": True}
    assert sandbox.session_status(sandbox_session) == "TERMINATED"
    assert sandbox_api.delete("doomed").body["stopped"] is False  # idempotent

    # the id starts fresh afterwards: no state from before
    fresh = sandbox_api.execute("doomed", code="print('y' in globals())")
    assert fresh.body["stdout"].strip() == "False"


def test_expired_sandbox_session_answers_410(sandbox_api: ApiClient) -> None:
    assert sandbox_api.execute("expiring", code="z = 1").status == 200
    sandbox_api.handler.services.sandbox.stop_session(
        _sandbox_session(sandbox_api.handler, "expiring")
    )  # as if AgentCore's session timeout hit

    resp = sandbox_api.execute("expiring", code="print(z)")
    assert resp.status == 410
    assert resp.error["code"] == "SessionExpired"
    assert resp.error["field"] == "session_id"
    assert sandbox_api.execute("expiring", code="print(1)").status == 410  # stays expired

    assert sandbox_api.delete("expiring").status == 200
    assert sandbox_api.execute("expiring", code="print(1)").body["stdout"].strip() == "1"


def test_concurrent_request_on_the_same_session_is_409(sandbox_api: ApiClient) -> None:
    """The first request's cell runs until the test releases it (a file it waits for), so
    the second request always arrives while the first holds the session."""
    from code_exec.sandbox import SandboxFile

    assert sandbox_api.execute("busy", code="import os, time").status == 200
    slow: dict[str, Any] = {}
    held = "while not os.path.exists('go'):\n    time.sleep(0.01)\nprint('slow done')"

    def run_slow() -> None:
        slow["resp"] = sandbox_api.execute("busy", code=held)

    thread = threading.Thread(target=run_slow)
    thread.start()
    deadline = time.time() + 10
    while time.time() < deadline:  # wait until the slow request holds the lease
        record = sandbox_api.handler.services.dynamodb.get_item(
            TableName=sandbox_api.handler.services.config.table_name,
            Key={"pk": {"S": "SESSION#busy"}, "sk": {"S": "SESSION"}},
        ).get("Item", {})
        if "lease_owner" in record:
            break
        time.sleep(0.05)
    clash = sandbox_api.execute("busy", code="print('second')")
    services = sandbox_api.handler.services
    services.sandbox.write_files(record["sandbox_session_id"]["S"], [SandboxFile("go", b"")])
    thread.join(30)
    assert clash.status == 409
    assert clash.error["code"] == "Conflict"
    assert clash.error["field"] == "session_id"
    assert slow["resp"].status == 200
    assert slow["resp"].body["stdout"].strip() == "slow done"
    # the lease was released in finally: the next request goes through
    assert sandbox_api.execute("busy", code="print('third')").body["stdout"].strip() == "third"


def test_a_request_on_a_session_writes_its_item_twice_take_and_give_back(
    sandbox_api: ApiClient,
) -> None:
    """A request on a started session takes the lease (one ``UpdateItem``) and gives it back
    in the write that saves the session (one more): no separate release. Seen at the
    botocore layer, on the API's own DynamoDB client."""
    services = sandbox_api.handler.services
    assert sandbox_api.execute("two-writes", code="v = 1").status == 200  # started
    writes: list[str] = []

    def seen(params: dict[str, Any], **_: Any) -> None:
        if params["Key"]["pk"]["S"] == "SESSION#two-writes":
            writes.append(params["UpdateExpression"])

    services.dynamodb.meta.events.register("provide-client-params.dynamodb.UpdateItem", seen)
    try:
        assert sandbox_api.execute("two-writes", code="print(v)").body["stdout"] == "1\n"
    finally:
        services.dynamodb.meta.events.unregister("provide-client-params.dynamodb.UpdateItem", seen)
    assert len(writes) == 2, writes
    assert writes[0].startswith("SET lease_owner")
    assert "REMOVE lease_owner, lease_expires_at" in writes[1] and "history" in writes[1]
    # the lease is free: the next request goes through
    assert sandbox_api.execute("two-writes", code="print(v + 1)").body["stdout"] == "2\n"


def test_a_missing_input_file_is_refused_before_the_session_is_touched(
    sandbox_api: ApiClient,
) -> None:
    """Inputs are loaded before the lease is taken (the lease released after a failure
    inside the session is the test below)."""
    bad = sandbox_api.execute("fails", code="print(1)", files=[{"name": "x", "s3_key": "files/no"}])
    assert (bad.status, bad.error["field"]) == (400, "files.0.s3_key"), bad.body
    assert sandbox_api.handler.services.store.get_session("fails") is None  # nothing started
    assert sandbox_api.execute("fails", code="print(2)").status == 200


def test_files_in_a_subdirectory_of_outputs_come_back_and_do_not_wedge_the_session(
    sandbox_api: ApiClient,
) -> None:
    resp = sandbox_api.execute(
        "nested-out",
        code=(
            "import os; os.makedirs('outputs/plots/q3', exist_ok=True)\n"
            "open('outputs/plots/q3/a.csv', 'w').write('x,y\\n1,2\\n')\n"
            "open('outputs/top.txt', 'w').write('top')\n"
        ),
    )
    assert resp.status == 200, resp.body
    files = {f["name"]: f for f in resp.body["files"]}
    assert sorted(files) == ["plots/q3/a.csv", "top.txt"]
    assert files["plots/q3/a.csv"]["s3_key"].endswith("/plots/q3/a.csv")
    assert requests.get(files["plots/q3/a.csv"]["url"], timeout=10).content == b"x,y\n1,2\n"
    # the (now empty) directories left in outputs/ do not break the next request
    again = sandbox_api.execute("nested-out", code="print('next')")
    assert again.status == 200, again.body
    assert (again.body["stdout"], again.body["files"]) == ("next\n", [])


def test_lease_is_released_when_the_sandbox_fails_inside_the_session(
    sandbox_api: ApiClient,
) -> None:
    from code_exec.exceptions import SandboxError

    services = sandbox_api.handler.services
    real = services.sandbox
    assert sandbox_api.execute("mid-fail", code="v = 5").status == 200

    class Failing:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def run_cell(self, *args: Any, **kwargs: Any) -> Any:
            raise SandboxError("the sandbox refused the cell")

    services.override(sandbox=Failing())
    try:
        failed = sandbox_api.execute("mid-fail", code="print(v)")
    finally:
        services.override(sandbox=real)
    assert failed.status == 502, failed.body
    item = services.dynamodb.get_item(
        TableName=services.config.table_name,
        Key={"pk": {"S": "SESSION#mid-fail"}, "sk": {"S": "SESSION"}},
    )["Item"]
    assert "lease_owner" not in item
    after = sandbox_api.execute("mid-fail", code="print(v)")
    assert (after.status, after.body["stdout"]) == (200, "5\n")


def test_a_session_deleted_during_a_request_stays_deleted(sandbox_api: ApiClient) -> None:
    """DELETE is the kill switch: the request it interrupts must not bring the session back
    when it finishes (its id starts fresh afterwards, not 410)."""
    services = sandbox_api.handler.services
    real = services.sandbox
    assert sandbox_api.execute("killed", code="v = 1").status == 200

    class DeletedMidCell:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def run_cell(self, session_id: str, code: str, **kwargs: Any) -> Any:
            result = real.run_cell(session_id, code, **kwargs)
            # the cell finished just as DELETE /sessions/killed (another request) ran
            assert sandbox_api.delete("killed").body["stopped"] is True
            return result

    services.override(sandbox=DeletedMidCell())
    try:
        interrupted = sandbox_api.execute("killed", code="print(v)")
    finally:
        services.override(sandbox=real)
    # the cell ran: its answer keeps the result, and says the session was gone after it
    # (docs/architecture.md, "A failure after the code ran fails nothing")
    assert (interrupted.status, interrupted.body["stdout"]) == (200, "1\n"), interrupted.body
    [gone] = interrupted.body["after_run_errors"]
    assert (gone["step"], gone["code"], gone["files_kept"]) == ("outputs", "SessionExpired", False)
    fresh = sandbox_api.execute("killed", code="print('v' in globals())")
    assert (fresh.status, fresh.body["stdout"]) == (200, "False\n"), fresh.body
    assert fresh.body["stdout"] == "False\n"
    sandbox_api.delete("killed")
