"""Containers through the real ``anthropic`` SDK: whose they are, and what a turn does to them.

A container is its owner's: another key learns nothing of it (busy, idle and unknown answer
the same 404) and never touches its lease, so it cannot get in the owner's way.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anthropic
import pytest

from .conftest import MODEL, Server, fixture, model_turn, text, tool_use

pytestmark = [pytest.mark.sandbox, pytest.mark.filterwarnings("ignore:The model")]

CE = {"type": "code_execution_20250825", "name": "code_execution"}
STATS_PROMPT = (
    "Use the code execution tool to calculate the mean and standard deviation of "
    "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"
)


def _user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


@contextmanager
def _leases_taken(server: Server, container_id: str) -> Iterator[list[str]]:
    """The leases written on ``container_id``'s item by the function's own DynamoDB client
    (an ``UpdateItem`` that sets ``lease_owner`` and succeeded), seen at the botocore layer."""
    from code_exec.store.container_records import _key

    pk = _key(container_id)["pk"]["S"]
    taken: list[str] = []
    events = server.services.dynamodb.meta.events

    def params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        expression = str(params.get("UpdateExpression", ""))
        if params.get("Key", {}).get("pk", {}).get("S") == pk and "lease_owner =" in expression:
            context["lease_probe"] = params["ExpressionAttributeValues"][":lease"]["S"]

    def after(http_response: Any, context: dict[str, Any], **_: Any) -> None:
        if "lease_probe" in context and http_response.status_code == 200:
            taken.append(context["lease_probe"])

    events.register("provide-client-params.dynamodb.UpdateItem", params, unique_id="probe-p")
    events.register("after-call.dynamodb.UpdateItem", after, unique_id="probe-a")
    try:
        yield taken
    finally:
        events.unregister("provide-client-params.dynamodb.UpdateItem", unique_id="probe-p")
        events.unregister("after-call.dynamodb.UpdateItem", unique_id="probe-a")


def _hold_lease(server: Server, container_id: str, lease: str) -> None:
    """Take the container's lease as a running request of its owner holds it (with a
    client of the test's own: not one the probe watches)."""
    import boto3
    from code_exec.store.container_records import _key

    now = server.services.clock()
    client = boto3.client("dynamodb", region_name=server.services.dynamodb.meta.region_name)
    client.update_item(
        TableName=server.services.config.table_name,
        Key=_key(container_id),
        UpdateExpression="SET lease_owner = :lease, lease_expires_at = :until",
        ExpressionAttributeValues={":lease": {"S": lease}, ":until": {"N": repr(now + 600)}},
    )


def _lease_of(server: Server, container_id: str) -> str | None:
    from code_exec.store.container_records import _key

    item = server.services.dynamodb.get_item(
        TableName=server.services.config.table_name, Key=_key(container_id), ConsistentRead=True
    )["Item"]
    return item.get("lease_owner", {}).get("S")


def test_a_foreign_key_gets_404_for_a_busy_idle_or_unknown_container_alike(
    server: Server,
) -> None:
    with server.replay("anthropic_bash_stats"):
        r = server.client("alice").messages.create(
            model=MODEL, max_tokens=1024, tools=[CE], messages=_user(STATS_PROMPT)
        )
    mine = r.container.id
    bob = server.client("bob")

    def probe(container_id: str) -> dict[str, Any]:
        with pytest.raises(anthropic.NotFoundError) as err:
            bob.messages.create(
                model=MODEL, max_tokens=64, tools=[CE], container=container_id, messages=_user("hi")
            )
        body = dict(err.value.body["error"])
        assert body["message"] == f"container {container_id!r} not found", body
        return body

    unknown = probe("container_" + uuid.uuid4().hex[:24])
    with _leases_taken(server, mine) as taken:
        idle = probe(mine)
        busy_lease = uuid.uuid4().hex
        _hold_lease(server, mine, busy_lease)  # alice's request is running
        busy = probe(mine)
    assert {unknown["type"], idle["type"], busy["type"]} == {"not_found_error"}
    assert taken == [], "a foreign request took the owner's lease"
    assert _lease_of(server, mine) == busy_lease  # alice's running request still holds it
    server.services.store.release_container(mine, busy_lease)  # alice's request ends
    # alice's next request succeeds, in the same container
    answer = fixture(model_turn(text("Still here.")))
    with server.replay(answer), _leases_taken(server, mine) as taken:
        r2 = server.client("alice").messages.create(
            model=MODEL, max_tokens=64, tools=[CE], container=mine, messages=_user("hi")
        )
    assert len(taken) == 1, taken  # (the probe sees a lease when one is taken)
    assert r2.container.id == mine and r2.content[0].text == "Still here."


@contextmanager
def _calls(server: Server) -> Iterator[Counter[str]]:
    """The streaming function's DynamoDB, S3 and sandbox calls while the block runs, counted
    at the botocore layer: ``GetItem FILES#``, ``GetObject files/anthropic/...``,
    ``InvokeCodeInterpreter writeFiles``..."""
    services = server.services
    counted: Counter[str] = Counter()

    def count(params: dict[str, Any], model: Any, **_: Any) -> None:
        what = model.name
        if "Key" in params and isinstance(params["Key"], dict):
            what += " " + str(params["Key"]["pk"]["S"]).split("#", 1)[0] + "#"
        elif "Key" in params:
            what += " " + "/".join(str(params["Key"]).split("/")[:2])
        if "name" in params:
            what += " " + str(params["name"])
        counted[what] += 1

    clients = (services.dynamodb, services.s3, services.agentcore)
    for client in clients:
        client.meta.events.register("provide-client-params", count, unique_id="count-calls")
    try:
        yield counted
    finally:
        for client in clients:
            client.meta.events.unregister("provide-client-params", unique_id="count-calls")


def _bash(command: str, n: int) -> dict[str, Any]:
    return tool_use("bash_code_execution", {"command": command}, f"upl{n:02d}" + "x" * 17)


def test_an_upload_is_placed_once_per_container_and_code_changes_to_it_are_kept(
    server: Server,
) -> None:
    """Every turn resends the whole history, ``container_upload`` blocks included: each file
    lands in ``inputs/`` on the first turn only. A later turn neither overwrites what the
    code changed nor reads the file's record or bytes again, so its reads and writes do not
    grow with the history."""
    c = server.client()
    uploaded = c.beta.files.upload(file=("data.csv", b"a,b\n1,2\n", "text/csv"))
    messages: list[dict[str, Any]] = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Append a line to the uploaded CSV."},
                {"type": "container_upload", "file_id": uploaded.id},
            ],
        }
    ]
    commands = ["echo changed >> inputs/data.csv; cat inputs/data.csv"]
    commands += ["cat inputs/data.csv"] * 3
    container = None
    per_turn = []
    for n, command in enumerate(commands):
        turns = fixture(
            model_turn(_bash(command, n)),
            model_turn(
                text(f"Turn {n}."),
                expect={"tool_results": [{"is_error": False, "contains": ["a,b\n1,2\nchanged"]}]},
            ),
        )
        with server.replay(turns), _calls(server) as counted:
            r = c.beta.messages.create(
                model=MODEL,
                max_tokens=256,
                betas=["files-api-2025-04-14"],
                tools=[CE],
                container=container,
                messages=messages,
            )
        per_turn.append(counted)
        assert r.content[-1].text == f"Turn {n}."
        container = r.container.id
        messages += [
            {"role": "assistant", "content": [b.model_dump() for b in r.content]},
            {"role": "user", "content": "Once more."},
        ]
    first, *later = per_turn
    assert first["GetItem FILES#"] == 1 and first["GetObject files/anthropic"] == 1, first
    assert first["InvokeCodeInterpreter writeFiles"] == 1, first
    for counted in later:
        assert counted["GetItem FILES#"] == 0, counted
        assert counted["GetObject files/anthropic"] == 0, counted
        assert counted["InvokeCodeInterpreter writeFiles"] == 0, counted

    # getTask polls a running command at a backoff, so how many a turn makes depends on how
    # long its bash command took (the machine's load), not on the history: left out.
    def work(counted: Counter[str]) -> Counter[str]:
        return Counter({k: v for k, v in counted.items() if k != "InvokeCodeInterpreter getTask"})

    assert work(later[0]) == work(later[-1]), "a turn's calls grew with its history"


_FORGED = """
b = __bcx_bridge__
forged = "../" + "e" * 5000
with b._cond:
    b.pending[forged] = {"id": forged, "cell": b.state.get("cell"), "tool": "t", "input": {}}
    b._dirty = True
    b._cond.notify()
b.mark_blocked()
import time
time.sleep(5)
"""


def test_a_cell_forging_a_call_id_fails_as_a_tool_error_and_the_container_is_saved(
    server: Server,
) -> None:
    """A cell rewrites the bridge's pending calls with an id that is not the bridge's (5 KB,
    a path): the code execution fails as a tool error, the turn goes on, the container is
    saved with nothing pending and its lease given back."""
    ce = {"type": "code_execution_20260120", "name": "code_execution"}
    turns = fixture(
        model_turn(tool_use("code_execution", {"code": _FORGED}, "forged" + "f" * 16)),
        model_turn(
            text("The code failed."),
            expect={"tool_results": [{"is_error": True, "contains": ["unavailable"]}]},
        ),
    )
    with server.replay(turns):
        r = server.client().messages.create(
            model=MODEL, max_tokens=256, tools=[ce], messages=_user("Run it.")
        )
    [result] = [b for b in r.content if b.type == "code_execution_tool_result"]
    assert result.content.error_code == "unavailable", result
    assert r.content[-1].text == "The code failed."
    record = server.container(r.container.id)
    assert record.pending is None and record.leased_until == 0.0, record
