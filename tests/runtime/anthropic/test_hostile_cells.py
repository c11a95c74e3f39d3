"""Hostile cells on ``/v1`` (issue 14, §1.13): the part of the hostile-cell suite that needs the
Messages API (the rest is ``tests/runtime/test_hostile_cells.py``).

A cell runs in the bridged runner, next to the files the relay reads: it can rewrite
``.bcx/bridge/state.json`` so that the relay's reply is malformed. The reply must be refused as
a typed sandbox error that fails the TOOL (Anthropic's ``unavailable`` error result), never
escape as ``KeyError``/``TypeError`` (a 500); the container is saved and serves the next request.
"""

from __future__ import annotations

import tracemalloc
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from anthropic import types

from .conftest import MODEL, Server, fixture, model_turn, text, tool_use

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.slow(seconds=20),
    pytest.mark.filterwarnings("ignore:The model"),
]

CE = {"type": "code_execution_20260120", "name": "code_execution"}
MiB = 1024 * 1024

# Rewrites the runner's state while the cell sleeps (the runner writes it only on changes).
_FORGE = """
import json, os, time
path = '.bcx/bridge/state.json'
state = json.load(open(path))
state.update({forged})
open(path + '.x', 'w').write(json.dumps(state))
os.replace(path + '.x', path)
time.sleep(4)
"""

FORGERIES = {
    # a pending call without an id (KeyError before the fix)
    "call_without_id": (
        "{'pending': [{'cell': state['cell'], 'tool': 'lookup', 'input': {}}], "
        "'submitted': 1, 'blocked': 1}"
    ),
    # a finished cell whose output is not text (TypeError before the fix)
    "output_not_text": "{'last': {'n': state['cell'], 'stdout': 123, 'stderr': ['x']}}",
    # a call whose input is not an object (ValueError before the fix)
    "input_not_an_object": (
        "{'pending': [{'id': 'c1', 'cell': state['cell'], 'tool': 'lookup', 'input': 'x'}], "
        "'submitted': 1, 'blocked': 1}"
    ),
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_forged_relay_reply_fails_the_tool_not_the_request(server: Server, forgery: str) -> None:
    code = _FORGE.format(forged=FORGERIES[forgery])
    turns = fixture(
        model_turn(tool_use("code_execution", {"code": code}, f"forge{forgery[:6]}" + "a" * 12)),
        model_turn(
            text("The code could not run."),
            expect={"tool_results": [{"contains": ["unavailable"]}]},
        ),
        model_turn(tool_use("bash_code_execution", {"command": "echo alive"}, "alive" + "b" * 17)),
        model_turn(text("Alive."), expect={"tool_results": [{"contains": ["alive"]}]}),
    )
    c = server.client()
    tracemalloc.start()
    try:
        with server.replay(turns):
            r = c.messages.create(
                model=MODEL,
                max_tokens=256,
                tools=[CE],
                messages=[{"role": "user", "content": "Run it."}],
            )
            peak = tracemalloc.get_traced_memory()[1]
            [result] = [b for b in r.content if isinstance(b, types.CodeExecutionToolResultBlock)]
            assert isinstance(result.content, types.CodeExecutionToolResultError)
            assert result.content.error_code == "unavailable"
            assert r.container is not None
            # the container was saved and serves the next request
            again = c.messages.create(
                model=MODEL,
                max_tokens=256,
                tools=[CE],
                container=r.container.id,
                messages=[{"role": "user", "content": "Still there?"}],
            )
    finally:
        tracemalloc.stop()
    print(f"peak {peak / MiB:6.1f} MiB  forged relay reply ({forgery})")
    outputs: list[Any] = [
        b for b in again.content if isinstance(b, types.BashCodeExecutionToolResultBlock)
    ]
    assert [o.content.stdout for o in outputs] == ["alive\n"]


def test_files_are_listed_a_page_at_a_time(server: Server) -> None:
    """A cell's 20k outputs used to come back from ``GET /v1/files`` in one response (past
    Lambda's 6 MB). Listed as Anthropic does, a page at a time; the SDK's auto-pagination
    walks every page, newest first, each file once. (210 files in pages of 100 take the same
    paths as thousands in pages of 1,000, at a tenth of moto's cost per page.)"""
    from code_exec.anthropic.ids import new_file_id
    from code_exec.store import FileRecord

    services = server.handler.services
    store = services.store
    owner = "pager"
    from code_exec.store import new_key

    key = new_key()
    store.put_api_key(key, owner=owner, name="pager-test")
    n = 210
    made = []
    items = _ItemsOf(services.config.table_name)
    for i in range(n):
        record = FileRecord(
            file_id=new_file_id(now=1_800_000_000 + i),  # one per second, in order
            owner=owner,
            filename=f"f{i}.txt",
            mime_type="text/plain",
            size_bytes=1,
            s3_key=f"files/anthropic/{owner}/x/f{i}.txt",
            downloadable=True,
            created_at=1_800_000_000 + i,
        )
        items.store.put_file(record, ttl_seconds=10 * 365 * 86400)
        made.append(record.file_id)
    items.write(services.dynamodb)
    newest_first = made[::-1]
    sent: list[str] = []
    c = server.client(api_key=key, http_client=_recording(sent))
    first = c.beta.files.list()
    assert [f.id for f in first.data] == newest_first[:20]
    assert first.next_page == "page_" + newest_first[19]
    walked = [f.id for f in c.beta.files.list(limit=100)]  # auto-pagination: every page
    assert walked == newest_first
    queries = [parse_qs(urlsplit(u).query) for u in sent]
    pages = [q for q in queries if q.get("limit") == ["100"]]
    assert len(pages) == 3 and pages[-1]["page"] == ["page_" + newest_first[199]]
    whole = c.files.list(limit=1000)  # the GA resource too, and the largest page there is
    assert [f.id for f in whole.data] == newest_first and not whole.has_next_page()
    # the after_id / before_id form (older SDKs' SyncPage), over plain HTTP
    import httpx

    def page(query: str) -> dict[str, Any]:
        resp = httpx.get(f"{server.url}/v1/files?{query}", headers={"x-api-key": key})
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body

    after = page(f"limit=3&after_id={newest_first[9]}")
    assert [f["id"] for f in after["data"]] == newest_first[10:13]
    assert (after["has_more"], after["first_id"], after["last_id"]) == (
        True,
        newest_first[10],
        newest_first[12],
    )
    back = page(f"limit=5&before_id={newest_first[100]}")  # the page just newer, newest first
    assert [f["id"] for f in back["data"]] == newest_first[95:100]
    assert back["has_more"] is True
    last = page(f"limit=5&after_id={newest_first[-3]}")
    assert [f["id"] for f in last["data"]] == newest_first[-2:]
    assert (last["has_more"], last["next_page"]) == (False, None)


class _ItemsOf:
    """The items the store's own ``put_file`` writes, kept to be written 25 to a
    ``BatchWriteItem``: thousands of records are set up in a few calls instead of one
    ``PutItem`` each (the setup, not what is tested, was nearly all of the test's time)."""

    def __init__(self, table: str) -> None:
        from code_exec.store import FileRecordStore

        self.table = table
        self.items: list[dict[str, Any]] = []
        self.store = FileRecordStore(self, table, ttl_seconds=0)

    def put_item(self, *, TableName: str, Item: dict[str, Any]) -> None:
        assert TableName == self.table
        self.items.append(Item)

    def write(self, dynamodb: Any) -> None:
        for start in range(0, len(self.items), 25):
            batch = [{"PutRequest": {"Item": i}} for i in self.items[start : start + 25]]
            unprocessed = dynamodb.batch_write_item(RequestItems={self.table: batch})
            assert not unprocessed["UnprocessedItems"]


def test_bad_list_parameters_are_400_naming_the_field(server: Server) -> None:
    import httpx

    for query, field in (
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("after_id=nope", "after_id"),
        ("page=file_x", "page"),
    ):
        resp = httpx.get(
            f"{server.url}/v1/files?{query}", headers={"x-api-key": server.keys["alice"]}
        )
        assert resp.status_code == 400, query
        assert resp.json()["error"]["type"] == "invalid_request_error"
        assert field in resp.json()["error"]["message"]


def _recording(sent: list[str]) -> Any:
    """The SDK's own HTTP client type, keeping each request's URL."""
    import httpx2

    def record(request: httpx2.Request) -> None:
        sent.append(str(request.url))

    return httpx2.Client(event_hooks={"request": [record]})


WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a location.",
    "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}},
    "allowed_callers": ["code_execution_20260120"],
}


def test_a_cell_that_breaks_the_runtime_fails_the_next_binding_as_a_tool_error(
    server: Server,
) -> None:
    """A cell can reach the sandbox runtime the relay binds the client's tools with; the
    next request's binding then fails: a tool error, not a 500."""
    c = server.client()
    sabotage = "import ptc_runtime\nptc_runtime.install = None\nprint('broken')"
    with server.replay(
        fixture(
            model_turn(tool_use("code_execution", {"code": sabotage}, "sabotage" + "c" * 14)),
            model_turn(text("Done."), expect={"tool_results": [{"contains": ["broken"]}]}),
        )
    ):
        r = c.messages.create(
            model=MODEL, max_tokens=256, tools=[CE], messages=[{"role": "user", "content": "Go"}]
        )
    assert r.container is not None
    with server.replay(
        fixture(
            model_turn(tool_use("code_execution", {"code": "print(1)"}, "afterwards" + "d" * 12)),
            model_turn(
                text("It failed."), expect={"tool_results": [{"contains": ["unavailable"]}]}
            ),
        )
    ):
        r2 = c.messages.create(
            model=MODEL,
            max_tokens=256,
            tools=[CE, WEATHER],  # new tools: the relay binds them in the runner
            container=r.container.id,
            messages=[{"role": "user", "content": "Again"}],
        )
    [result] = [b for b in r2.content if isinstance(b, types.CodeExecutionToolResultBlock)]
    assert isinstance(result.content, types.CodeExecutionToolResultError)
    assert result.content.error_code == "unavailable"


def test_a_command_that_writes_hundreds_of_outputs_gets_a_bounded_number_of_file_ids(
    server: Server,
) -> None:
    """On /v1 every collected output is an S3 object AND a file record: the collection's cap
    bounds both (the rest is logged, and removed from the container)."""
    from code_exec.outputs import OutputLimits

    cap = OutputLimits().max_files
    c = server.client()
    before = [f.id for f in c.beta.files.list(limit=1000)]
    command = "mkdir -p outputs && for i in $(seq 1 300); do echo x > outputs/f$i.txt; done"
    with server.replay(
        fixture(
            model_turn(tool_use("bash_code_execution", {"command": command}, "many" + "e" * 18)),
            model_turn(text("Written.")),
        )
    ):
        r = c.messages.create(
            model=MODEL,
            max_tokens=256,
            tools=[CE],
            messages=[{"role": "user", "content": "Write them."}],
        )
    [result] = [b for b in r.content if isinstance(b, types.BashCodeExecutionToolResultBlock)]
    assert len(result.content.content) == cap
    after = [f.id for f in c.beta.files.list(limit=1000)]
    assert len(after) - len(before) == cap
