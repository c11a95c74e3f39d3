"""Tracing: on in Lambda (every AWS call an X-Ray subsegment), absent elsewhere (issue 16).

Each case imports the runtime in a fresh interpreter, since whether the tracer exists is
decided once, at import, from the environment (as in a Lambda execution environment).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# What Lambda sets (the X-Ray SDK reads the trace header to find the invocation's segment).
LAMBDA = {
    "LAMBDA_TASK_ROOT": str(ROOT / "lambda"),
    "AWS_LAMBDA_FUNCTION_NAME": "observability-test",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "_X_AMZN_TRACE_ID": (
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    ),
}

# A traced handler makes a stubbed DynamoDB call on a client of code_exec.clients (which
# makes every AWS client of the runtime); prints what the X-Ray SDK would send.
_PROBE = """
import json, sys
from code_exec import observability
out = {
    "tracing": observability.TRACING,
    "xray_at_import": "aws_xray_sdk" in sys.modules,
    "botocore_at_import": "botocore.client" in sys.modules,
}
from botocore.config import Config
from botocore.stub import Stubber
from code_exec import clients

client = clients.make("dynamodb", config=Config())
out["xray"] = "aws_xray_sdk" in sys.modules  # the first client made the tracer
sent = []
if observability.TRACING:
    from aws_xray_sdk.core import xray_recorder

    class Capture:
        def send_entity(self, entity):
            sent.append(json.loads(entity.serialize()))

        def set_daemon_address(self, address):
            pass

    xray_recorder.configure(emitter=Capture())

@observability.traced
def handler(event, context):
    with Stubber(client) as stub:
        stub.add_response("get_item", {})
        client.get_item(TableName="t", Key={"pk": {"S": "a"}})
    return {"ok": True}

out["answer"] = handler({}, None)
out["sent"] = [(e["name"], e.get("aws", {}).get("operation")) for e in sent]
print(json.dumps(out))
"""


def _run(env: dict[str, str]) -> dict[str, object]:
    base = {k: v for k, v in os.environ.items() if k not in LAMBDA}
    base.pop("POWERTOOLS_TRACE_DISABLED", None)
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**base, **env},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_in_lambda_every_aws_call_and_the_handler_are_subsegments() -> None:
    got = _run(LAMBDA)
    assert got["tracing"] is True
    # the X-Ray SDK and botocore load with the first client, which is patched before it
    assert (got["xray_at_import"], got["botocore_at_import"], got["xray"]) == (False, False, True)
    assert got["answer"] == {"ok": True}
    assert got["sent"] == [["dynamodb", "GetItem"], ["## handler", None]]


NO_TRACER = {
    "tracing": False,
    "xray_at_import": False,
    "botocore_at_import": False,
    "xray": False,
    "answer": {"ok": True},
    "sent": [],
}


def test_tracing_disabled_in_lambda_loads_no_xray_sdk() -> None:
    assert _run({**LAMBDA, "POWERTOOLS_TRACE_DISABLED": "1"}) == NO_TRACER


def test_outside_lambda_there_is_no_tracer() -> None:
    env = {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
    }
    assert _run(env) == NO_TRACER
