"""Checks a deployed stack from inside the account, one per invocation (the integ test's probe).

``integ/integ_deployment.py`` invokes this function once per check (``{"check": name}``) and
expects ``{"ok": true, "check": name}``; a failed check answers ``ok: false`` with what it saw,
which integ-runner prints. Stdlib and the Lambda runtime's boto3 only: SigV4 for the API's IAM
routes, an API key minted for the run (and deleted after it) for ``/v1/*``.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

API = os.environ["API_URL"].rstrip("/")
TABLE = os.environ["TABLE_NAME"]
MODEL = os.environ["ANTHROPIC_MODEL"]  # a model name /v1/messages answers to
SANDBOX_MODEL = os.environ["SANDBOX_MODEL_ID"]
SESSION = os.environ["PROBE_SESSION"]  # the role may call exactly this session's routes
OWNER = "integ-probe"
CODE_TOOL = {"type": "code_execution_20250825", "name": "code_execution"}
_db = boto3.client("dynamodb")


def _request(
    method: str, path: str, body: Any = None, *, key: str | None = None, timeout: float = 60
) -> tuple[int, dict[str, str], bytes]:
    """One HTTPS request: SigV4-signed (execute-api) unless an API key is given."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"content-type": "application/json"}
    if key:
        headers |= {"x-api-key": key, "anthropic-version": "2023-06-01"}
    else:
        signed = AWSRequest(method=method, url=API + path, data=data, headers=headers)
        session = boto3.session.Session()
        SigV4Auth(session.get_credentials(), "execute-api", session.region_name).add_auth(signed)
        headers = dict(signed.headers.items())
    req = urllib.request.Request(API + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def _mint_key() -> str:
    """A key stored as the API's store stores it (``code_exec.store.api_keys``)."""
    key = "sk-bcx-" + secrets.token_urlsafe(32)
    _db.put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": f"APIKEY#{hashlib.sha256(key.encode()).hexdigest()}"},
            "sk": {"S": "APIKEY"},
            "owner": {"S": OWNER},
            "name": {"S": "integ-probe (deleted after the run)"},
            "created_at": {"N": repr(time.time())},
            "status": {"S": "ACTIVE"},
        },
        ConditionExpression="attribute_not_exists(pk)",
    )
    return key


def _drop_key(key: str) -> None:
    digest = hashlib.sha256(key.encode()).hexdigest()
    _db.delete_item(TableName=TABLE, Key={"pk": {"S": f"APIKEY#{digest}"}, "sk": {"S": "APIKEY"}})


def _fail(what: str, status: int, body: bytes) -> dict[str, Any]:
    return {"ok": False, "detail": f"{what}: HTTP {status}: {body[:600].decode(errors='replace')}"}


def invoke_stream() -> dict[str, Any]:
    """``POST /invoke/stream`` answers an SSE turn that starts and ends with a result."""
    prompt = "Compute 6*7 with Python and answer with the number only."
    status, headers, body = _request("POST", "/invoke/stream", {"prompt": prompt}, timeout=100)
    events = [
        ln[6:].strip() for ln in body.decode(errors="replace").splitlines() if ln[:6] == "event:"
    ]
    if status != 200 or not headers.get("content-type", "").startswith("text/event-stream"):
        return _fail("/invoke/stream", status, body)
    if events[:1] != ["start"] or events[-1:] != ["result"] or "error" in events:
        return {"ok": False, "detail": f"SSE events {events[:40]}"}
    return {"ok": True}


def messages() -> dict[str, Any]:
    """``POST /v1/messages`` as the Anthropic SDK sends it, with a key minted for the run."""
    key = _mint_key()
    try:
        request = {
            "model": MODEL,
            "max_tokens": 64,
            "messages": [{"role": "user", "content": "Say OK."}],
        }
        status, _, body = _request("POST", "/v1/messages", request, key=key)
        reply = json.loads(body) if status == 200 else {}
        if reply.get("type") != "message" or reply.get("role") != "assistant":
            return _fail("/v1/messages", status, body)
        return {"ok": True}
    finally:
        _drop_key(key)


def containers() -> dict[str, Any]:
    """An unknown container answers 404 and a busy one 409, through the streaming function."""
    key = _mint_key()
    try:

        def turn(container: str | None, prompt: str) -> tuple[int, bytes]:
            request: dict[str, Any] = {
                "model": MODEL,
                "max_tokens": 512,
                "tools": [CODE_TOOL],
                "messages": [{"role": "user", "content": prompt}],
            }
            if container:
                request["container"] = container
            status, _, body = _request("POST", "/v1/messages", request, key=key, timeout=100)
            return status, body

        status, body = turn("container_" + uuid.uuid4().hex, "Run print(1).")
        if status != 404:
            return _fail("unknown container (want 404)", status, body)
        status, body = turn(None, "Use the code execution tool to run print(1).")
        container = (json.loads(body).get("container") or {}).get("id") if status == 200 else None
        if not container:
            return _fail("a turn that creates a container", status, body)
        item = {"pk": {"S": f"CONTAINER#{container}"}, "sk": {"S": "CONTAINER"}}
        # Another request holds it: the lease the runtime takes (code_exec.store.container_records).
        _db.update_item(
            TableName=TABLE,
            Key=item,
            UpdateExpression="SET lease_owner = :probe, lease_expires_at = :until",
            ExpressionAttributeValues={
                ":probe": {"S": "integ-probe"},
                ":until": {"N": str(time.time() + 120)},
            },
        )
        try:
            status, body = turn(container, "Run print(2).")
        finally:
            _db.update_item(
                TableName=TABLE, Key=item, UpdateExpression="REMOVE lease_owner, lease_expires_at"
            )
        if status != 409:
            return _fail("busy container (want 409)", status, body)
        return {"ok": True}
    finally:
        _drop_key(key)


SANDBOX_CODE = """
import boto3
stream = boto3.client("bedrock-runtime").converse_stream(
    modelId=%r, messages=[{"role": "user", "content": [{"text": "Say OK."}]}],
    inferenceConfig={"maxTokens": 16},
)
print("BEDROCK_OK" if any("messageStop" in e for e in stream["stream"]) else "NO_STOP")
"""


def sandbox_bedrock() -> dict[str, Any]:
    """Code in the sandbox calls Bedrock with the execution role (its trust policy works)."""
    session = SESSION
    _request("DELETE", f"/sessions/{session}")  # a run before this one may have left it
    try:
        status, _, body = _request(
            "POST",
            f"/sessions/{session}/execute",
            {"code": SANDBOX_CODE % SANDBOX_MODEL},
            timeout=35,
        )
    finally:
        _request("DELETE", f"/sessions/{session}")
    stdout = json.loads(body).get("stdout", "") if status == 200 else ""
    if "BEDROCK_OK" not in stdout:
        return _fail("sandbox code calling Bedrock", status, body)
    return {"ok": True}


CHECKS: dict[str, Callable[[], dict[str, Any]]] = {
    "invoke_stream": invoke_stream,
    "messages": messages,
    "containers": containers,
    "sandbox_bedrock": sandbox_bedrock,
}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Run the check ``event["check"]``: ``{"ok": bool, "check": name[, "detail": ...]}``."""
    name = str(event.get("check"))
    check = CHECKS.get(name)
    if check is None:
        return {"ok": False, "check": name, "detail": f"unknown check; known: {sorted(CHECKS)}"}
    return {**check(), "check": name}
