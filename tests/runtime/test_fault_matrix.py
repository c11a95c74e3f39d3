"""The fault matrix (``devtools.fault_matrix``; the table in ``docs/faults.md``), cell by cell.

Each cell injects one fault into one operation at the botocore layer of the REAL clients of
both functions (``devtools.fault_injection``: the service's own error response, botocore's own
transport error, or real event-stream frames breaking after the first), drives the row's
public entry point (``fault_drive``), and checks what the client saw against the contract,
then three invariants once the user has cleaned up as they would (DELETE of the named
session the cell created):

* no lease held: no item of the table has a ``lease_owner``;
* no READY sandbox session after one sweep but those the module keeps (the emulator's own
  count): a keeper session no cell uses, the running session most cells use, and the one
  Claude Code is installed in;
* no record lost or corrupted: the keeper's item is unchanged, and the running session still
  answers with its state when the cell used it (the user's retry works).

Retries never sleep for real: backoff sleeps of botocore, of the sandbox client and of the
state machine's ``Retry`` (moto) are recorded instead (``no_sleep``), so a throttled cell
costs its attempts, not their waits.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from code_exec.store import ApiKeyStore, new_key
from code_exec.sweeper import Sweeper

from devtools.fault_injection import Fault, FaultInjector, SkippedSleeps, sleeps_skipped
from devtools.fault_matrix import Row, cells, expected
from devtools.lambda_adapter import LambdaAdapter
from devtools.local_server import LocalApi

from .conftest import (
    BUCKET,
    REGION,
    STATE_MACHINE_ARN,
    TABLE,
    create_job_machine,
    replay_bedrock_client,
)
from .fault_drive import DRIVES, SHARED, SHARED_DRIVES, UPLOADED, World
from .own_emulator import RestartableEmulator

pytestmark = [pytest.mark.sandbox, pytest.mark.slow(seconds=70)]

KEEPER = "fm-keeper"


@pytest.fixture(scope="module")
def emulator() -> Iterator[RestartableEmulator]:
    from tests import plugin_sandbox

    plugin_sandbox.require(plugin_sandbox.sandbox_problem())
    running = RestartableEmulator(warm_pool=2)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def no_sleep() -> Iterator[SkippedSleeps]:
    with sleeps_skipped() as clock:
        yield clock


@pytest.fixture(scope="module")
def world(
    handler: Any, emulator: RestartableEmulator, agent_template: dict[str, Any], no_sleep: Any
) -> Iterator[World]:
    from code_exec.anthropic import authorizer
    from code_exec.api import streamed

    every = (handler.services, streamed.services, authorizer.services)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", emulator.url)
        for services in every:
            services.reset()
        bedrock = replay_bedrock_client()
        handler.services.override(bedrock=bedrock)
        streamed.services.override(bedrock=bedrock)
        create_job_machine(agent_template)
        api_key = new_key()
        ddb = boto3.client("dynamodb", region_name=REGION)
        ApiKeyStore(ddb, TABLE, ttl_seconds=0).put_api_key(api_key, owner="fm", name="fm")
        try:
            with (
                LambdaAdapter(agent_template),
                LocalApi(handler.api_handler, authorizer.handler, workers=1) as api,
            ):
                s3 = boto3.client("s3", region_name=REGION)
                sfn = boto3.client("stepfunctions", region_name=REGION)
                yield World(
                    api.url, handler, streamed, bedrock, s3, BUCKET, api_key, sfn, STATE_MACHINE_ARN
                )
        finally:
            for services in every:
                services.reset()


def _clients(world: World) -> list[Any]:
    """The real clients of both functions (the model client is shared)."""
    found: dict[int, Any] = {}
    for services in (world.handler.services, world.streamed.services):
        for name in ("dynamodb", "s3", "stepfunctions", "bedrock", "agentcore"):
            client = getattr(services, name)
            found[id(client)] = client
        found[id(services.web_search.client)] = services.web_search.client
    return list(found.values())


@pytest.fixture(scope="module")
def table(world: World) -> Any:
    """The test's own DynamoDB client, made once: no fault is injected into it."""
    return boto3.client("dynamodb", region_name=REGION)


def _held(table: Any) -> list[str]:
    """The keys of the items holding a lease. Only those are read back: the table keeps every
    cell's records, and reading them all after each of ~150 cells was most of its CPU."""
    found = table.scan(
        TableName=TABLE, FilterExpression="attribute_exists(lease_owner)", ProjectionExpression="pk"
    )
    return [i["pk"]["S"] for i in found["Items"]]


def _keeper_items(table: Any) -> list[dict[str, Any]]:
    """Every item under the keeper session's key."""
    found = table.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"SESSION#{KEEPER}"}},
    )
    return list(found["Items"])


@pytest.fixture(scope="module")
def keeper(world: World, table: Any) -> dict[str, Any]:
    """Made before any fault: a named session no cell uses (its item must never change), the
    running session most cells use, and the bucket object inputs are read from."""
    for session, code in ((KEEPER, "kept = 41"), (SHARED, "shared = 7")):
        resp = world.execute(session, code=code)
        assert resp.status_code == 200, resp.text
    world.s3.put_object(Bucket=world.bucket, Key=UPLOADED, Body=b"from the bucket")
    world.kept |= {KEEPER, SHARED}
    [item] = _keeper_items(table)
    return item


def _invariants(
    world: World,
    emulator: RestartableEmulator,
    kept: dict[str, Any],
    table: Any,
    *,
    shared: bool,
) -> list[str]:
    """No lease held; the keeper's item unchanged; after one sweep no READY session but the
    ones the module keeps; and, when the cell used it, the shared session still answers with
    its state (the user's retry works)."""
    problems = []
    held = _held(table)
    if held:
        problems.append(f"leases still held: {held}")
    [now] = _keeper_items(table) or [None]
    if now != kept:
        problems.append(f"the keeper session's record changed: {now}")
    Sweeper(world.handler.services, grace_seconds=0).sweep()
    ready = emulator.ready_sessions()
    if ready != len(world.kept):
        problems.append(f"{ready} READY sandbox sessions after one sweep (kept: {world.kept})")
    if not shared:
        return problems
    again = world.execute(SHARED, code="print(shared)")
    if again.status_code != 200 or again.json().get("stdout") != "7\n":
        problems.append(f"the shared session did not recover: {again.status_code} {again.text}")
    return problems


def _id(row: Row, fault: Fault) -> str:
    return f"{row.target}-{fault.name.lower()}"


CELLS = cells()


@pytest.mark.parametrize(("row", "fault"), CELLS, ids=[_id(r, f) for r, f in CELLS])
def test_cell(
    row: Row,
    fault: Fault,
    world: World,
    emulator: RestartableEmulator,
    keeper: dict[str, Any],
    table: Any,
) -> None:
    injector = FaultInjector(row.target, fault, on=False).attach(*_clients(world))
    try:
        seen = DRIVES[row.drive](world, injector)
    finally:
        injector.detach()
        cleanups, world.cleanups = world.cleanups, []
    for cleanup in cleanups:
        cleanup()
    problems = _invariants(world, emulator, keeper, table, shared=row.drive in SHARED_DRIVES)
    want = expected(row, fault)
    if not injector.injected:
        problems.append(f"the fault was never reached: {row.drive} does not call {row.target}")
    if seen.seen() != want.seen():
        problems.append(f"client saw {seen.seen()}, the contract says {want.seen()}: {seen.detail}")
    assert not problems, "\n".join(problems)


def test_the_invariants_catch_a_leaked_session_a_held_lease_and_a_changed_record(
    world: World, emulator: RestartableEmulator, keeper: dict[str, Any], table: Any
) -> None:
    """What each cell's invariants guard, broken on purpose: a named session the user never
    deleted whose lease is still held, and an attribute added to the keeper's item."""
    leaked = world.name("leak")
    assert world.execute(leaked, code="x = 1").status_code == 200
    key = {"pk": {"S": f"SESSION#{leaked}"}, "sk": {"S": "SESSION"}}
    held = {":o": {"S": "a-request"}, ":t": {"N": str(time.time() + 600)}}
    table.update_item(
        TableName=TABLE,
        Key=key,
        UpdateExpression="SET lease_owner = :o, lease_expires_at = :t",
        ExpressionAttributeValues=held,
    )
    keeper_key = {"pk": keeper["pk"], "sk": keeper["sk"]}
    table.update_item(
        TableName=TABLE,
        Key=keeper_key,
        UpdateExpression="SET changed = :c",
        ExpressionAttributeValues={":c": {"S": "yes"}},
    )
    try:
        problems = _invariants(world, emulator, keeper, table, shared=False)
    finally:
        table.update_item(TableName=TABLE, Key=keeper_key, UpdateExpression="REMOVE changed")
        assert world.delete(leaked).status_code == 200
    assert [p.split(":")[0].split(" (")[0] for p in problems] == [
        "leases still held",
        "the keeper session's record changed",
        f"{len(world.kept) + 1} READY sandbox sessions after one sweep",
    ], problems
    assert _invariants(world, emulator, keeper, table, shared=True) == []
