"""Session lifecycle, persistent state, expiry and concurrency (speed is in bench/)."""

from __future__ import annotations

import threading
import time

import pytest
from botocore.exceptions import ClientError

pytestmark = [pytest.mark.sandbox, pytest.mark.slow(seconds=12)]
INTERPRETER = "aws.codeinterpreter.v1"


# A cell that runs until the test writes the file ``go`` into its workspace.
_HELD = "import os, time\nwhile not os.path.exists('go'):\n    time.sleep(0.01)\nprint('go')"


def _started(session_id: str, code: str) -> str:
    """``code`` that first creates a marker file (see :func:`_wait_started`)."""
    return f"open('.started-{session_id}', 'w').close()\n{code}"


def _wait_started(invoke, session_id: str, timeout: float = 30.0) -> None:
    """Wait until a cell made with :func:`_started` is running (file tools need no kernel)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listing = invoke(session_id, "listFiles", directoryPath="")["content"]
        if any(item.get("name") == f".started-{session_id}" for item in listing):
            return
        time.sleep(0.02)
    raise AssertionError("the cell did not start")


def test_start_get_stop(agentcore_client, invoke) -> None:
    started = agentcore_client.start_code_interpreter_session(
        codeInterpreterIdentifier=INTERPRETER, name="t1", sessionTimeoutSeconds=120
    )
    sid = started["sessionId"]
    assert started["codeInterpreterIdentifier"] == INTERPRETER
    assert started["createdAt"]
    got = agentcore_client.get_code_interpreter_session(
        codeInterpreterIdentifier=INTERPRETER, sessionId=sid
    )
    assert (got["status"], got["name"], got["sessionTimeoutSeconds"]) == ("READY", "t1", 120)
    stopped = agentcore_client.stop_code_interpreter_session(
        codeInterpreterIdentifier=INTERPRETER, sessionId=sid
    )
    assert stopped["sessionId"] == sid and stopped["lastUpdatedAt"]
    got = agentcore_client.get_code_interpreter_session(
        codeInterpreterIdentifier=INTERPRETER, sessionId=sid
    )
    assert got["status"] == "TERMINATED"
    # stop is idempotent
    agentcore_client.stop_code_interpreter_session(
        codeInterpreterIdentifier=INTERPRETER, sessionId=sid
    )
    with pytest.raises(ClientError) as e:
        invoke(sid, "executeCode", code="1")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_custom_interpreter_ids_are_separate(stream_events, new_session) -> None:
    sid = new_session("myInterpreter_1-abc")
    (ev,) = stream_events(sid, "executeCode", interpreter="myInterpreter_1-abc", code="print(2)")
    assert ev["result"]["structuredContent"]["stdout"] == "2\n"
    with pytest.raises(ClientError) as e:
        stream_events(sid, "executeCode", code="print(2)")  # default interpreter
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_list_sessions(agentcore_client, new_session) -> None:
    interp = "listTest"
    a, b = new_session(interp), new_session(interp)
    items = agentcore_client.list_code_interpreter_sessions(codeInterpreterIdentifier=interp)[
        "items"
    ]
    assert {i["sessionId"] for i in items} == {a, b}
    page = agentcore_client.list_code_interpreter_sessions(
        codeInterpreterIdentifier=interp, maxResults=1
    )
    assert len(page["items"]) == 1 and page["nextToken"]
    rest = agentcore_client.list_code_interpreter_sessions(
        codeInterpreterIdentifier=interp, maxResults=1, nextToken=page["nextToken"]
    )
    assert {page["items"][0]["sessionId"], rest["items"][0]["sessionId"]} == {a, b}
    assert "nextToken" not in rest


def test_list_sessions_filters_by_status(agentcore_client, new_session) -> None:
    interp = "listStatus"
    live, stopped = new_session(interp, name="live-one"), new_session(interp)
    agentcore_client.stop_code_interpreter_session(
        codeInterpreterIdentifier=interp, sessionId=stopped
    )

    def listed(**status: str) -> dict[str, str]:
        resp = agentcore_client.list_code_interpreter_sessions(
            codeInterpreterIdentifier=interp, **status
        )
        return {i["sessionId"]: i["status"] for i in resp["items"]}

    assert listed(status="READY") == {live: "READY"}
    assert listed(status="TERMINATED") == {stopped: "TERMINATED"}
    assert listed() == {live: "READY", stopped: "TERMINATED"}
    [item] = [
        i
        for i in agentcore_client.list_code_interpreter_sessions(
            codeInterpreterIdentifier=interp, status="READY"
        )["items"]
    ]
    assert item["name"] == "live-one" and item["createdAt"] <= item["lastUpdatedAt"]
    # botocore does not check enums client-side: the service does
    with pytest.raises(ClientError) as e:
        agentcore_client.list_code_interpreter_sessions(
            codeInterpreterIdentifier=interp, status="ACTIVE"
        )
    assert e.value.response["Error"]["Code"] == "ValidationException"


def test_list_sessions_answers_exactly_the_models_shape(emulator_url, new_session) -> None:
    """The raw JSON, member by member, against botocore's output shape (no extra member,
    every required one, enum values, ISO 8601 timestamps)."""
    import json
    import urllib.request
    from datetime import datetime

    import botocore.session

    interp = "listShape"
    new_session(interp, name="shaped")
    request = urllib.request.Request(
        f"{emulator_url}/code-interpreters/{interp}/sessions/list",
        data=b'{"maxResults": 5}',
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        body = json.loads(resp.read())
    model = botocore.session.get_session().get_service_model("bedrock-agentcore")
    output = model.operation_model("ListCodeInterpreterSessions").output_shape
    assert set(body) <= set(output.members) and set(output.required_members) <= set(body)
    summary = output.members["items"].member
    for item in body["items"]:
        assert set(item) <= set(summary.members), item
        assert set(summary.required_members) <= set(item), item
        assert item["status"] in summary.members["status"].enum
        for stamp in ("createdAt", "lastUpdatedAt"):
            datetime.fromisoformat(item[stamp].replace("Z", "+00:00"))


def test_state_persists_within_a_session_not_across(new_session, invoke) -> None:
    a, b = new_session(), new_session()
    assert invoke(a, "executeCode", code="secret = 1234")["isError"] is False
    assert (
        invoke(a, "executeCode", code="print(secret + 1)")["structuredContent"]["stdout"]
        == "1235\n"
    )
    other = invoke(b, "executeCode", code="print(secret)")
    assert other["isError"] is True
    assert "NameError" in other["structuredContent"]["stderr"]


def test_clear_context_resets_state(new_session, invoke) -> None:
    sid = new_session()
    invoke(sid, "executeCode", code="v = 1")
    res = invoke(sid, "executeCode", code="print('v' in globals())", clearContext=True)
    assert res["structuredContent"]["stdout"] == "False\n"


def test_last_expression_value_is_returned(new_session, invoke) -> None:
    sid = new_session()
    res = invoke(sid, "executeCode", code="x = 20\nx * 2 + 2")
    assert res["structuredContent"]["stdout"] == "42\n"
    assert res["content"][0] == {"type": "text", "text": "42\n"}


def test_expired_session(agentcore_client, invoke) -> None:
    sid = agentcore_client.start_code_interpreter_session(
        codeInterpreterIdentifier=INTERPRETER, sessionTimeoutSeconds=1
    )["sessionId"]
    deadline = time.monotonic() + 10
    status = "READY"
    while status == "READY" and time.monotonic() < deadline:
        time.sleep(0.3)
        status = agentcore_client.get_code_interpreter_session(
            codeInterpreterIdentifier=INTERPRETER, sessionId=sid
        )["status"]
    assert status == "TERMINATED"
    with pytest.raises(ClientError) as e:
        invoke(sid, "executeCode", code="1")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_stop_deletes_the_workspace(
    emulator_admin, agentcore_client, emulator_url: str, invoke
) -> None:
    from pathlib import Path

    sid = agentcore_client.start_code_interpreter_session(codeInterpreterIdentifier=INTERPRETER)[
        "sessionId"
    ]
    invoke(sid, "writeFiles", content=[{"path": "f.txt", "text": "x"}])
    info = emulator_admin(f"/_emulator/sessions/{sid}", method="GET")
    assert (Path(info["hostWorkspace"]) / "f.txt").exists()
    agentcore_client.stop_code_interpreter_session(
        codeInterpreterIdentifier=INTERPRETER, sessionId=sid
    )
    assert not Path(info["hostRoot"]).exists()


def test_long_cell_does_not_block_another_session(new_session, invoke) -> None:
    """A's cell waits for a file that is written only after b's cell has returned: it can
    finish normally only if b ran while it was running (else it hits the cell limit)."""
    a, b = new_session(), new_session()
    invoke(a, "executeCode", code="1")
    invoke(b, "executeCode", code="1")
    outcome: list[dict] = []
    t = threading.Thread(
        target=lambda: outcome.append(invoke(a, "executeCode", code=_started(a, _HELD)))
    )
    t.start()
    _wait_started(invoke, a)
    assert invoke(b, "executeCode", code="print('fast')")["structuredContent"]["stdout"] == "fast\n"
    invoke(a, "writeFiles", content=[{"path": "go", "text": ""}])
    t.join(60)
    [res] = outcome
    assert (res["isError"], res["structuredContent"]["stdout"]) == (False, "go\n"), res


def test_a_hundred_sequential_round_trips_all_run_in_order(new_session, invoke) -> None:
    """Speed is measured by bench/emulator_bench.py; here every call must be right."""
    sid = new_session()
    invoke(sid, "executeCode", code="n = 0")
    for i in range(1, 101):
        res = invoke(sid, "executeCode", code="n += 1\nprint(n)")
        assert (res["isError"], res["structuredContent"]["stdout"]) == (False, f"{i}\n")
    assert invoke(sid, "executeCode", code="print(n)")["structuredContent"]["stdout"] == "100\n"


def test_concurrent_cells_in_one_session_conflict(stream_events, new_session, invoke) -> None:
    from botocore.exceptions import EventStreamError

    """The first cell runs until the test releases it, so the second one always overlaps."""
    sid = new_session()
    invoke(sid, "executeCode", code="1")
    outcome: list[dict] = []
    t = threading.Thread(
        target=lambda: outcome.append(invoke(sid, "executeCode", code=_started(sid, _HELD)))
    )
    t.start()
    _wait_started(invoke, sid)
    with pytest.raises(EventStreamError) as e:
        stream_events(sid, "executeCode", code="print(1)")
    assert e.value.response["Error"]["Code"] == "conflictException"
    # commands and file tools do not need the kernel, busy as it is
    assert invoke(sid, "executeCommand", command="true")["isError"] is False
    invoke(sid, "writeFiles", content=[{"path": "go", "text": ""}])
    t.join(60)
    [first] = outcome
    assert (first["isError"], first["structuredContent"]["stdout"]) == (False, "go\n"), first


def test_stop_during_a_running_cell(
    agentcore_client, stream_events, emulator_admin, invoke
) -> None:
    from pathlib import Path

    from botocore.exceptions import ClientError

    sid = agentcore_client.start_code_interpreter_session(codeInterpreterIdentifier=INTERPRETER)[
        "sessionId"
    ]
    stream_events(sid, "executeCode", code="1")
    root = Path(emulator_admin(f"/_emulator/sessions/{sid}", method="GET")["hostRoot"])
    outcome: list[BaseException | list] = []

    def run() -> None:
        try:
            code = _started(sid, "import time; time.sleep(30)")
            outcome.append(stream_events(sid, "executeCode", code=code))
        except ClientError as e:
            outcome.append(e)

    t = threading.Thread(target=run)
    t.start()
    _wait_started(invoke, sid)
    agentcore_client.stop_code_interpreter_session(
        codeInterpreterIdentifier=INTERPRETER, sessionId=sid
    )
    t.join(60)
    assert not t.is_alive()
    (err,) = outcome
    assert isinstance(err, ClientError)
    assert err.response["Error"]["Code"] == "resourceNotFoundException"
    assert not root.exists()


def test_arn_interpreter_identifier(agentcore_client, new_session, stream_events) -> None:
    arn = "arn:aws:bedrock-agentcore:us-east-1:123456789012:code-interpreter/myCi_1-AbC"
    sid = new_session(arn)
    (ev,) = stream_events(sid, "executeCode", interpreter=arn, code="print('arn')")
    assert ev["result"]["structuredContent"]["stdout"] == "arn\n"
    got = agentcore_client.get_code_interpreter_session(
        codeInterpreterIdentifier=arn, sessionId=sid
    )
    assert got["codeInterpreterIdentifier"] == arn
