"""The integ test's probe (integ/probe/probe.py) against ``make local``'s API: the checks that
need no real AWS (a minted key on ``/v1/messages``; unknown → 404, busy → 409 containers) pass
here, so a failure on a real account is the deployment's, not the probe's.

``invoke_stream`` and ``sandbox_bedrock`` sign with SigV4 and call real Bedrock from the
sandbox; they run only in ``make integ``.
"""

from __future__ import annotations

import importlib.util
from types import ModuleType
from typing import Any

import pytest

from .conftest import MODEL, Server, fixture, model_turn, text, tool_use

pytestmark = [pytest.mark.sandbox, pytest.mark.cdk, pytest.mark.filterwarnings("ignore:The model")]


@pytest.fixture
def probe(server: Server, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The probe module, configured as ProbeStack configures the function, on the local API."""
    from stacks.verify import PROBE_DIR, PROBE_SESSION

    for name, value in {
        "API_URL": server.url,
        "TABLE_NAME": server.handler.services.config.table_name,
        "ANTHROPIC_MODEL": MODEL,
        "SANDBOX_MODEL_ID": "global.anthropic.claude-sonnet-5",
        "PROBE_SESSION": PROBE_SESSION,
    }.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location("integ_probe", PROBE_DIR / "probe.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # its DynamoDB client is moto's, like the API's
    return module


def _probe_keys(server: Server) -> list[dict[str, Any]]:
    services = server.handler.services
    items = services.dynamodb.scan(TableName=services.config.table_name)["Items"]
    return [
        i
        for i in items
        if i["pk"]["S"].startswith("APIKEY#") and i.get("owner", {}).get("S") == "integ-probe"
    ]


def test_the_probe_runs_exactly_the_checks_the_integ_app_expects(probe: ModuleType) -> None:
    from stacks.verify import PROBE_CHECKS

    assert tuple(probe.CHECKS) == PROBE_CHECKS
    answer = probe.handler({"check": "nope"}, None)
    assert answer["ok"] is False and answer["check"] == "nope"
    assert "invoke_stream" in answer["detail"]


def test_messages_with_a_minted_key(server: Server, probe: ModuleType) -> None:
    with server.replay(fixture(model_turn(text("OK")))) as replay:
        assert probe.handler({"check": "messages"}, None) == {"ok": True, "check": "messages"}
    assert len(replay.exchanges) == 1
    assert _probe_keys(server) == []  # the key is deleted after the check


def test_unknown_and_busy_containers(server: Server, probe: ModuleType) -> None:
    turns = fixture(
        model_turn(tool_use("bash_code_execution", {"command": "echo 1"}, "probeBASH" + "a" * 13)),
        model_turn(text("Done.")),
    )
    with server.replay(turns) as replay:
        answer = probe.handler({"check": "containers"}, None)
    assert answer == {"ok": True, "check": "containers"}
    assert len(replay.exchanges) == 2  # the 404 and the 409 reached no model
    assert _probe_keys(server) == []
    [container] = [
        i
        for i in server.handler.services.dynamodb.scan(
            TableName=server.handler.services.config.table_name
        )["Items"]
        if i["pk"]["S"].startswith("CONTAINER#")
    ]
    assert "lease_owner" not in container  # the probe gave the lease it took back
