"""The nine tools: code, commands, files, background tasks."""

from __future__ import annotations

import base64
import os
import shutil
import time

import pytest
from botocore.exceptions import EventStreamError

from tests.plugin_sandbox import require

pytestmark = [pytest.mark.sandbox, pytest.mark.slow(seconds=25, waits=True)]


def test_failing_cell_reports_traceback(new_session, invoke) -> None:
    sid = new_session()
    res = invoke(
        sid, "executeCode", code="print('before')\ndef f():\n    raise ValueError('nope')\nf()"
    )
    sc = res["structuredContent"]
    assert res["isError"] is True
    assert sc["exitCode"] == 1
    assert sc["stdout"] == "before\n"
    assert "Traceback" in sc["stderr"] and "ValueError: nope" in sc["stderr"]
    assert "\x1b[" not in sc["stderr"]
    assert "ValueError: nope" in res["content"][0]["text"]
    assert sc["executionTime"] >= 0


def test_runaway_cell_is_interrupted_and_session_survives(
    new_session, invoke, emulator_admin
) -> None:
    sid = new_session()
    invoke(sid, "executeCode", code="kept = 'yes'")
    limit = emulator_admin("/_emulator/health", method="GET")["cellTimeout"]
    res = invoke(sid, "executeCode", code="while True:\n    pass")
    assert res["isError"] is True
    assert res["structuredContent"]["exitCode"] == 124
    assert f"Execution timed out after {limit:g} seconds" in res["structuredContent"]["stderr"]
    nxt = invoke(sid, "executeCode", code="print(kept)")
    assert nxt["structuredContent"]["stdout"] == "yes\n"


def test_cell_ignoring_sigint_gets_a_fresh_kernel(new_session, invoke) -> None:
    sid = new_session()
    code = (
        "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "while True: time.sleep(0.1)"
    )
    res = invoke(sid, "executeCode", code=code)
    assert res["structuredContent"]["exitCode"] == 124
    assert "restarted" in res["structuredContent"]["stderr"]
    assert (
        invoke(sid, "executeCode", code="print('alive')")["structuredContent"]["stdout"]
        == "alive\n"
    )


def test_stderr_and_stdout_are_separate(new_session, invoke) -> None:
    sid = new_session()
    res = invoke(sid, "executeCode", code="import sys\nprint('out')\nprint('err', file=sys.stderr)")
    assert res["structuredContent"]["stdout"] == "out\n"
    assert res["structuredContent"]["stderr"] == "err\n"
    assert res["isError"] is False


def test_files_round_trip_byte_exact(new_session, invoke) -> None:
    sid = new_session()
    blob = os.urandom(4096) + b"\x00\xff"
    text = "héllo\r\nwörld\n✓"
    res = invoke(
        sid,
        "writeFiles",
        content=[{"path": "t/hello.txt", "text": text}, {"path": "t/data.bin", "blob": blob}],
    )
    assert res["isError"] is False
    res = invoke(sid, "readFiles", paths=["t/hello.txt", "t/data.bin"])
    by_uri = {c["resource"]["uri"]: c["resource"] for c in res["content"]}
    assert all(c["type"] == "resource" for c in res["content"])
    assert by_uri["file://t/hello.txt"]["type"] == "text"
    assert by_uri["file://t/hello.txt"]["text"] == text
    assert by_uri["file://t/data.bin"]["type"] == "blob"
    assert by_uri["file://t/data.bin"]["blob"] == blob
    # the kernel sees the same bytes in its working directory
    code = "import hashlib; print(hashlib.sha256(open('t/data.bin','rb').read()).hexdigest())"
    import hashlib

    assert invoke(sid, "executeCode", code=code)["structuredContent"]["stdout"].strip() == (
        hashlib.sha256(blob).hexdigest()
    )


def test_file_written_by_code_is_readable(new_session, invoke) -> None:
    sid = new_session()
    invoke(sid, "executeCode", code="open('out.bin','wb').write(bytes(range(256)))")
    (item,) = invoke(sid, "readFiles", paths=["out.bin"])["content"]
    assert item["resource"]["blob"] == bytes(range(256))


def test_matplotlib_png_round_trip(new_session, invoke) -> None:
    sid = new_session()
    # matplotlib is pinned for emulator sessions (sandbox-requirements.txt), like AgentCore.
    assert invoke(sid, "executeCode", code="import matplotlib")["isError"] is False
    code = (
        "import matplotlib.pyplot as plt\nplt.plot([1,2,3],[3,1,2])\nplt.savefig('plot.png')\n"
        "print(len(open('plot.png','rb').read()))"
    )
    size = int(invoke(sid, "executeCode", code=code)["structuredContent"]["stdout"])
    (item,) = invoke(sid, "readFiles", paths=["plot.png"])["content"]
    png = item["resource"]["blob"]
    assert png.startswith(b"\x89PNG") and len(png) == size
    assert item["resource"]["mimeType"] == "image/png"


def test_list_and_remove_files(new_session, invoke) -> None:
    sid = new_session()
    invoke(
        sid,
        "writeFiles",
        content=[{"path": "a.txt", "text": "a"}, {"path": "d/b.txt", "text": "bb"}],
    )
    listed = invoke(sid, "listFiles", directoryPath="")["content"]
    assert {(i["name"], i["description"]) for i in listed} == {
        ("a.txt", "File"),
        ("d", "Directory"),
    }
    assert all(i["type"] == "resource_link" for i in listed)
    sub = invoke(sid, "listFiles", directoryPath="d")["content"]
    assert [(i["name"], i["uri"], i["size"]) for i in sub] == [("b.txt", "file://d/b.txt", 2)]
    assert invoke(sid, "removeFiles", paths=["a.txt", "d"])["isError"] is False
    assert invoke(sid, "listFiles", directoryPath="")["content"] == []
    assert invoke(sid, "readFiles", paths=["a.txt"])["isError"] is True


def test_execute_command(new_session, invoke) -> None:
    sid = new_session()
    invoke(sid, "writeFiles", content=[{"path": "in.txt", "text": "from writeFiles"}])
    res = invoke(sid, "executeCommand", command="pwd; cat in.txt; echo oops >&2; exit 3")
    sc = res["structuredContent"]
    assert sc["stdout"] == "/workspace\nfrom writeFiles"
    assert sc["stderr"] == "oops\n"
    assert sc["exitCode"] == 3 and res["isError"] is True
    ok = invoke(sid, "executeCommand", command="echo hi > made.txt")
    assert ok["isError"] is False and ok["structuredContent"]["exitCode"] == 0
    assert (
        invoke(sid, "executeCode", code="print(open('made.txt').read())")["structuredContent"][
            "stdout"
        ]
        == "hi\n\n"
    )


def test_command_timeout(new_session, invoke) -> None:
    sid = new_session()
    res = invoke(sid, "executeCommand", command="sleep 60")
    assert res["structuredContent"]["exitCode"] == 124
    assert res["isError"] is True


def test_background_command_get_and_stop(new_session, invoke) -> None:
    sid = new_session()
    started = invoke(sid, "startCommandExecution", command="echo start; sleep 30; echo never")
    task_id = started["structuredContent"]["taskId"]
    assert started["structuredContent"]["taskStatus"] == "working"
    deadline = time.monotonic() + 10
    while True:
        got = invoke(sid, "getTask", taskId=task_id)["structuredContent"]
        if got["stdout"] == "start\n" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert got["taskStatus"] == "working" and got["stdout"] == "start\n"
    assert "exitCode" not in got
    stopped = invoke(sid, "stopTask", taskId=task_id)["structuredContent"]
    assert stopped["taskStatus"] == "canceled"
    assert invoke(sid, "getTask", taskId=task_id)["structuredContent"]["taskStatus"] == "canceled"


def test_background_command_completes(new_session, invoke) -> None:
    sid = new_session()
    task_id = invoke(sid, "startCommandExecution", command="echo done > bg.txt; echo out")[
        "structuredContent"
    ]["taskId"]
    deadline = time.monotonic() + 10
    while (got := invoke(sid, "getTask", taskId=task_id)["structuredContent"])[
        "taskStatus"
    ] == "working":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert got["taskStatus"] == "completed" and got["exitCode"] == 0 and got["stdout"] == "out\n"
    failing = invoke(sid, "startCommandExecution", command="exit 7")["structuredContent"]["taskId"]
    while (got := invoke(sid, "getTask", taskId=failing)["structuredContent"])[
        "taskStatus"
    ] == "working":
        time.sleep(0.05)
    assert (got["taskStatus"], got["exitCode"]) == ("failed", 7)


def test_unknown_task_is_resource_not_found(stream_events, agentcore_client, new_session) -> None:
    sid = new_session()
    with pytest.raises(EventStreamError) as e:
        stream_events(sid, "getTask", taskId="nope")
    assert e.value.response["Error"]["Code"] == "resourceNotFoundException"


def test_missing_argument_is_validation_event(stream_events, agentcore_client, new_session) -> None:
    sid = new_session()
    with pytest.raises(EventStreamError) as e:
        stream_events(sid, "executeCode")
    assert e.value.response["Error"]["Code"] == "validationException"


def test_typescript_is_rejected(stream_events, new_session) -> None:
    sid = new_session()
    with pytest.raises(EventStreamError) as e:
        stream_events(sid, "executeCode", code="let x: number = 1", language="typescript")
    assert e.value.response["Error"]["Code"] == "validationException"


def test_javascript_runs_one_shot(new_session, invoke) -> None:
    if not (shutil.which("node") or "").startswith("/usr/"):  # the sandbox sees only /usr
        require("javascript needs node installed under /usr (make setup needs node too)")
    sid = new_session()
    res = invoke(sid, "executeCode", code="console.log(6 * 7)", language="javascript")
    assert res["structuredContent"]["stdout"] == "42\n" and res["isError"] is False


def test_image_output_is_an_image_content_item(new_session, invoke) -> None:
    sid = new_session()
    png = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
    code = (
        "from IPython.display import Image, display\nimport base64\n"
        f"display(Image(data=base64.b64decode('{png}'), format='png'))"
    )
    res = invoke(sid, "executeCode", code=code)
    images = [c for c in res["content"] if c["type"] == "image"]
    assert images and images[0]["mimeType"] == "image/png"
    assert images[0]["data"] == b"\x89PNG\r\n\x1a\nfake"


def test_the_kernel_starts_without_the_debugger_yet_code_can_import_debugpy(
    new_session, invoke
) -> None:
    """The kernel is started with debugpy hidden (its import was a quarter of a start's CPU);
    the code the model runs sees the same Python as before: the workspace is not on
    ``sys.path`` ahead of packages, and debugpy imports."""
    sid = new_session()
    code = (
        "import sys, debugpy\n"
        "kernel = get_ipython().kernel\n"
        "print(getattr(kernel, 'debugger', None) is None, '' in sys.path[:1], debugpy.__name__)"
    )
    res = invoke(sid, "executeCode", code=code)
    assert res["structuredContent"]["stdout"] == "True False debugpy\n", res
