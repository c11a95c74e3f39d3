"""Hostile cells: code that attacks what comes out of the sandbox (issue 14, §1.13).

Everything a cell leaves behind is attacker-controlled. Each test runs REAL code in the
code-interpreter emulator's sandbox through the real ``api_handler`` (moto for S3 and DynamoDB)
and checks three things: the request ends with a clear result (200 with the damage reported, or
a typed error, never a 500 or a crash), the session's state survives for the next request, and
the Lambda side's memory stays bounded. Memory is measured with :mod:`tracemalloc` around the
handler call: the peak of Python allocations in this process (the emulator is another process;
moto's in-memory S3 is in this one, so the number is an upper bound for the Lambda).
The data-plane calls a request makes are counted with a botocore hook on the real client.
"""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from .conftest import ApiClient, ApiResponse

pytestmark = [pytest.mark.sandbox, pytest.mark.slow(seconds=30)]

MiB = 1024 * 1024
# The Lambda's peak under any attack here (measured: see the report in each test's failure
# message); a bound far below the bytes the attacks write, so reading them would fail it.
PEAK_BOUND = 24 * MiB


@dataclass
class Measured:
    response: ApiResponse
    peak: int
    sandbox_calls: dict[str, int]
    s3_puts: int


@contextmanager
def _counting(services: Any) -> Iterator[tuple[dict[str, int], list[str]]]:
    """Counts distinct ``InvokeCodeInterpreter`` requests by tool name, and S3 ``PutObject``
    keys. A request repeated as it was (the client's retry after a throttle: the emulator
    throttles like the service) counts once: what is bounded is the work asked for."""
    calls: dict[str, int] = {}
    seen: set[str] = set()
    puts: list[str] = []

    def on_invoke(params: dict[str, Any], **_: Any) -> None:
        name = params.get("name", "?")
        request = json.dumps(params, sort_keys=True, default=str)
        if request not in seen:
            seen.add(request)
            calls[name] = calls.get(name, 0) + 1

    def on_put(params: dict[str, Any], **_: Any) -> None:
        puts.append(params["Key"])

    agentcore = services.agentcore
    s3 = services.s3
    agentcore.meta.events.register(
        "before-parameter-build.bedrock-agentcore.InvokeCodeInterpreter", on_invoke
    )
    s3.meta.events.register("before-parameter-build.s3.PutObject", on_put)
    try:
        yield calls, puts
    finally:
        agentcore.meta.events.unregister(
            "before-parameter-build.bedrock-agentcore.InvokeCodeInterpreter", on_invoke
        )
        s3.meta.events.unregister("before-parameter-build.s3.PutObject", on_put)


def _measure(api: ApiClient, name: str, call: Callable[[], ApiResponse]) -> Measured:
    services = api.handler.services
    with _counting(services) as (calls, puts):
        tracemalloc.start()
        try:
            response = call()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    print(f"peak {peak / MiB:6.1f} MiB  {name}")  # the report's numbers (pytest -s)
    return Measured(response, peak, dict(calls), len(puts))


@pytest.fixture()
def hostile(sandbox_api: ApiClient) -> ApiClient:
    return sandbox_api


def _alive(api: ApiClient, session: str) -> None:
    """State is saved: the globals set before the attack are still there, and the
    session's lease was released (this request would be 409 otherwise)."""
    again = api.execute(session, code="print(marker)")
    assert again.status == 200, again.body
    assert again.body["stdout"].strip() == "kept"


# --- output collection ---------------------------------------------------------------------


def test_a_file_over_the_per_file_cap_is_reported_not_read(hostile: ApiClient) -> None:
    from code_exec.outputs import OutputLimits

    cap = OutputLimits().max_file_bytes
    code = (
        "marker = 'kept'\n"
        "with open('outputs/big.bin', 'wb') as f:\n"
        f"    f.truncate({cap + MiB})\n"
        "open('outputs/small.txt', 'w').write('ok')\n"
    )
    m = _measure(hostile, "big file", lambda: hostile.execute("hostile-big", code=code))
    assert m.response.status == 200, m.response.body
    assert [f["name"] for f in m.response.body["files"]] == ["small.txt"]
    assert m.response.body["files_skipped"] == [
        {"name": "big.bin", "size": cap + MiB, "reason": "file_too_large"}
    ]
    assert m.peak < PEAK_BOUND, f"peak {m.peak / MiB:.1f} MiB"
    assert m.sandbox_calls.get("readFiles") == 1  # the small file only
    _alive(hostile, "hostile-big")
    # the outbox was emptied: nothing is collected (or reported) twice
    assert hostile.execute("hostile-big", code="pass").body["files_skipped"] == []


def test_the_largest_files_collected_cost_a_bounded_peak(
    hostile: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worst case the caps allow per file: three files of exactly the per-file cap are
    read, stored and handed out. The Lambda's peak is a small multiple of ONE file (one at a
    time), not of what the cell wrote: reading even two of them together would pass the
    bound (three, not two, for a clear margin; it was four, at 16 MiB apiece).

    This measures memory, not the deadline: the route gets two minutes instead of API
    Gateway's 29 s, so that 48 MiB read under tracemalloc on a loaded machine (CI runs three
    test workers on two cores) is not cut off by the buffered route's deadline."""
    from code_exec.deadline import Deadline
    from code_exec.outputs import OutputLimits

    monkeypatch.setattr(hostile.handler, "_buffered", lambda context: Deadline.after(120.0))

    cap = OutputLimits().max_file_bytes
    names = ["a.bin", "b.bin", "c.bin"]
    code = (
        "marker = 'kept'\n"
        "import os\n"
        f"for name in {names!r}:\n"
        "    with open('outputs/' + name, 'wb') as f:\n"
        f"        f.write(os.urandom({cap}))\n"
    )
    m = _measure(
        hostile,
        "three files at the per-file cap",
        lambda: hostile.execute("hostile-edge", code=code),
    )
    assert m.response.status == 200, m.response.body
    assert [(f["name"], f["size"]) for f in m.response.body["files"]] == [(n, cap) for n in names]
    assert m.sandbox_calls["readFiles"] == len(names)
    # moto (in this process) keeps every object: without them, the handler's own peak. One
    # read alone peaks near 6x the file (event bytes, the parsed base64 text, the decoded
    # bytes; moto's put adds transient copies): two reads held together would pass 10x,
    # three 15x.
    own = m.peak - len(names) * cap
    print(f"peak {own / MiB:6.1f} MiB  without moto's stored copies")
    assert own < 10 * cap, f"peak {own / MiB:.1f} MiB"
    _alive(hostile, "hostile-edge")


def test_a_symlink_to_dev_zero_is_skipped(hostile: ApiClient) -> None:
    code = (
        "marker = 'kept'\n"
        "import os\n"
        "os.symlink('/dev/zero', 'outputs/zero')\n"
        "open('outputs/real.txt', 'w').write('real')\n"
    )
    m = _measure(
        hostile, "symlink to /dev/zero", lambda: hostile.execute("hostile-zero", code=code)
    )
    assert m.response.status == 200, m.response.body
    assert [f["name"] for f in m.response.body["files"]] == ["real.txt"]
    [skipped] = m.response.body["files_skipped"]
    assert (skipped["name"], skipped["reason"]) == ("zero", "unreadable")
    assert m.peak < PEAK_BOUND, f"peak {m.peak / MiB:.1f} MiB"
    _alive(hostile, "hostile-zero")


def test_directories_nested_a_thousand_deep_end_in_a_depth_limit(hostile: ApiClient) -> None:
    from code_exec.outputs import OutputLimits

    limits = OutputLimits()
    code = (
        "marker = 'kept'\n"
        "import os\n"
        "path = 'outputs'\n"
        "for _ in range(1000):\n"
        "    path += '/d'\n"
        "    os.mkdir(path)\n"
        "open(path + '/deep.txt', 'w').write('x')\n"
        "open('outputs/top.txt', 'w').write('top')\n"
    )
    m = _measure(
        hostile, "1,000 nested directories", lambda: hostile.execute("hostile-deep", code=code)
    )
    assert m.response.status == 200, m.response.body
    assert [f["name"] for f in m.response.body["files"]] == ["top.txt"], m.response.body
    [skipped] = m.response.body["files_skipped"]
    assert skipped["reason"] == "too_deep"
    assert skipped["name"] == "/".join(["d"] * (limits.max_depth + 1)) + "/"
    assert m.sandbox_calls["listFiles"] <= limits.max_depth + 1
    assert m.peak < PEAK_BOUND, f"peak {m.peak / MiB:.1f} MiB"
    _alive(hostile, "hostile-deep")


def test_files_past_every_count_cap_are_capped(hostile: ApiClient) -> None:
    """One file more than the walk may look at (``max_entries``), so past every count cap
    at once: the listing is cut, only ``max_files`` are read and stored, and only
    ``max_reported`` of the files left behind are named. (The count comes from the caps; it
    was 20,000, which crossed no further limit, and left the next request 100 more files to
    collect.)"""
    from code_exec.outputs import OutputLimits

    limits = OutputLimits()
    n = limits.max_entries + 1
    assert limits.max_reported < limits.max_entries - limits.max_files  # names are cut too
    code = (
        "marker = 'kept'\n"
        f"for i in range({n}):\n"
        "    open(f'outputs/f{i:05d}.txt', 'w').write('x')\n"
    )
    m = _measure(hostile, f"{n:,} files", lambda: hostile.execute("hostile-many", code=code))
    assert m.response.status == 200, m.response.body
    body = m.response.body
    assert len(body["files"]) == limits.max_files
    assert m.s3_puts == limits.max_files
    assert body["files_skipped"][:2] == [
        {"name": "outputs/", "size": None, "reason": "listing_truncated"},
        {"name": f"f{limits.max_files:05d}.txt", "size": 1, "reason": "too_many_files"},
    ]
    assert len(body["files_skipped"]) == limits.max_reported  # of the 1 + n - max_files
    assert m.sandbox_calls["readFiles"] == limits.max_files
    assert m.peak < PEAK_BOUND, f"peak {m.peak / MiB:.1f} MiB"
    _alive(hostile, "hostile-many")


def test_a_name_past_s3s_key_limit_is_skipped_and_not_collected_again(hostile: ApiClient) -> None:
    long_dir = "/".join(["n" * 250] * 4)
    code = (
        "marker = 'kept'\n"
        "import os\n"
        f"os.makedirs('outputs/{long_dir}')\n"
        f"open('outputs/{long_dir}/x.txt', 'w').write('x')\n"
        "open('outputs/fine.txt', 'w').write('fine')\n"
    )
    m = _measure(
        hostile, "S3 key over 1,024 bytes", lambda: hostile.execute("hostile-key", code=code)
    )
    assert m.response.status == 200, m.response.body
    assert [f["name"] for f in m.response.body["files"]] == ["fine.txt"]
    [skipped] = m.response.body["files_skipped"]
    assert (skipped["name"], skipped["reason"]) == (f"{long_dir}/x.txt", "name_too_long")
    _alive(hostile, "hostile-key")
    assert hostile.execute("hostile-key", code="pass").body["files_skipped"] == []


def test_files_past_the_total_byte_cap_are_skipped(hostile: ApiClient) -> None:
    from code_exec.file_transfer import FileStore
    from code_exec.outputs import OutputLimits

    services = hostile.handler.services
    limits = OutputLimits(max_file_bytes=2 * MiB, max_total_bytes=5 * MiB)
    services.override(files=FileStore(services.s3, services.config.files_bucket, limits=limits))
    try:
        code = (
            "marker = 'kept'\n"
            "for i in range(4):\n"
            "    open(f'outputs/part{i}.bin', 'wb').write(bytes(2 * 1024 * 1024))\n"
        )
        m = _measure(
            hostile, "bytes past the total cap", lambda: hostile.execute("hostile-total", code=code)
        )
    finally:
        services.reset()
    assert m.response.status == 200, m.response.body
    assert [f["name"] for f in m.response.body["files"]] == ["part0.bin", "part1.bin"]
    assert [(s["name"], s["reason"]) for s in m.response.body["files_skipped"]] == [
        ("part2.bin", "total_too_large"),
        ("part3.bin", "total_too_large"),
    ]
    assert m.sandbox_calls["readFiles"] == 2
    _alive(hostile, "hostile-total")


def test_presigned_urls_download_as_attachments(hostile: ApiClient) -> None:
    """An ``.html`` or ``.svg`` the code made must not render on the bucket's domain."""
    import requests

    code = (
        "marker = 'kept'\n"
        "open('outputs/page.html', 'w').write('<script>alert(1)</script>')\n"
        "open('outputs/r\u00e9sum\u00e9 \"x\".svg', 'w').write('<svg/>')\n"
    )
    resp = hostile.execute("hostile-html", code=code)
    assert resp.status == 200, resp.body
    by_name = {f["name"]: f for f in resp.body["files"]}
    page = by_name["page.html"]["url"]
    assert _disposition(page) == "attachment; filename=\"page.html\"; filename*=UTF-8''page.html"
    assert requests.get(page, timeout=10).headers["content-disposition"] == _disposition(page)
    svg = by_name['r\u00e9sum\u00e9 "x".svg']["url"]
    assert _disposition(svg) == (
        "attachment; filename=\"r_sum_ _x_.svg\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22x%22.svg"
    )


def _disposition(url: str) -> str:
    from urllib.parse import parse_qs, urlsplit

    [value] = parse_qs(urlsplit(url).query)["response-content-disposition"]
    return value


# --- forged and hostile calls through the bridge --------------------------------------------

# Rewrites the runner's state.json so the relay reports a call the code never made (the
# runner writes that file only on changes: it holds while the cell sleeps).
_FORGE_CALL = """
import json, os, time
path = '.bcx/bridge/state.json'
state = json.load(open(path))
state.update({{
    'pending': [{{
        'id': 'f0f0f0f0f0f0f0f1', 'cell': state['cell'], 'tool': {tool!r}, 'input': {input!r},
    }}],
    'submitted': 1,
    'blocked': 1,
}})
open(path + '.x', 'w').write(json.dumps(state))
os.replace(path + '.x', path)
time.sleep(3)
print('forged')
"""


@pytest.fixture()
def bridge(sandbox: Any) -> Iterator[Any]:
    """A bridged runner whose registry mixes placements, in a session of its own."""
    from code_exec.ptc import BridgedRunner, ToolRegistry

    from . import hostile_tools

    registry = ToolRegistry()
    registry.register(hostile_tools.secret_tool, placement="preloaded")
    registry.register(hostile_tools.lookup, placement="bridged")
    registry.register(hostile_tools.leaky, placement="bridged")
    hostile_tools.HOST_CALLS.clear()
    with sandbox.session(name="hostile-bridge", timeout_seconds=300) as sid:
        runner = BridgedRunner(sandbox, sid, registry)
        runner.start()
        try:
            yield runner
        finally:
            runner.close()


def _run(runner: Any, name: str, code: str) -> Any:
    tracemalloc.start()
    try:
        result = runner.run_cell(code, timeout_seconds=60)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    print(f"peak {peak / MiB:6.1f} MiB  {name}")
    assert peak < PEAK_BOUND, f"peak {peak / MiB:.1f} MiB"
    return result


def test_a_forged_call_of_a_preloaded_tool_never_runs_in_the_lambda(bridge: Any) -> None:
    from . import hostile_tools

    code = _FORGE_CALL.format(tool="secret_tool", input={"department": "x"})
    result = _run(bridge, "forged preloaded call", code)
    assert hostile_tools.HOST_CALLS == []
    assert result.stdout == "forged\n", result.stderr
    # the preloaded tool still works where it belongs, in the sandbox
    inside = bridge.run_cell("print(await secret_tool('engineering'))")
    assert inside.stdout == "ran\n", inside.stderr
    assert hostile_tools.HOST_CALLS == []


def test_a_forged_call_of_an_unknown_tool_is_refused(bridge: Any) -> None:
    from . import hostile_tools

    result = _run(bridge, "forged unknown call", _FORGE_CALL.format(tool="os_system", input={}))
    assert result.stdout == "forged\n", result.stderr
    assert hostile_tools.HOST_CALLS == []


def test_arguments_are_checked_against_the_schema_not_names_only(bridge: Any) -> None:
    from . import hostile_tools

    code = (
        "try:\n"
        "    await lookup({'key': {'$ne': ''}})\n"
        "except ToolError as e:\n"
        "    print('refused:', e)\n"
        "print(await lookup('plain'))\n"
    )
    result = _run(bridge, "argument of the wrong type", code)
    assert result.stdout.splitlines() == [
        "refused: lookup: argument 'key' is not valid: Input should be a valid string",
        "str",
    ], result.stderr
    assert hostile_tools.HOST_CALLS == [("lookup", "plain")]


def test_a_tool_failure_reaches_the_sandbox_as_generic_text(bridge: Any) -> None:
    code = "try:\n    await leaky('k')\nexcept ToolError as e:\n    print('caught:', e)\n"
    result = _run(bridge, "tool failure text", code)
    assert result.stdout.startswith("caught: leaky failed: RuntimeError"), result.stderr
    assert "arn:aws" not in result.stdout and "secret" not in result.stdout


def test_calls_per_round_are_capped(bridge: Any) -> None:
    from code_exec.ptc.bridge import MAX_CALLS_PER_ROUND

    from . import hostile_tools

    n = MAX_CALLS_PER_ROUND + 200
    rounds: list[int] = []
    serve = bridge.serve

    def counted(calls: Any, **kwargs: Any) -> Any:  # a spy: how the relay grouped the calls
        calls = list(calls)
        rounds.append(len(calls))
        return serve(calls, **kwargs)

    bridge.serve = counted
    code = (
        "import asyncio\n"
        f"out = await asyncio.gather(*[lookup(str(i)) for i in range({n})], "
        "return_exceptions=True)\n"
        "errors = [str(o) for o in out if isinstance(o, Exception)]\n"
        "print(len(out) - len(errors), len(errors))\n"
        "print(errors[0] if errors else '')\n"
    )
    result = _run(bridge, f"{n} calls in one round", code)
    ok, failed = map(int, result.stdout.splitlines()[0].split())
    assert sum(rounds) == n and max(rounds) > MAX_CALLS_PER_ROUND, rounds
    assert ok == sum(min(r, MAX_CALLS_PER_ROUND) for r in rounds), result.stderr
    assert failed == n - ok
    assert result.stdout.splitlines()[1] == (
        f"lookup: too many tool calls at once (at most {MAX_CALLS_PER_ROUND} per round)"
    )
    assert len(hostile_tools.HOST_CALLS) == ok
