"""`make local` (scripts/local_api.py) serves the real handler on 127.0.0.1, no AWS account."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from emulators.code_interpreter.spawn import read_first_line, stop_process

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.sandbox


def _post(url: str, body: dict, method: str = "POST") -> tuple[int, dict]:
    # no Content-Type on purpose: curl -d sends form-encoded and the API must still read JSON
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_local_api_runs_code_in_the_emulator() -> None:
    """Its own emulator checks its responses against the service model too, like the suite's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    for name in ("MODEL_ALIASES", "ALLOWED_MODEL_IDS", "DEFAULT_MODEL_ID"):  # from cdk.json
        env.pop(name, None)
    key = "sk-bcx-local-test-key"
    env.update(PORT="0", LOCAL_API_KEY=key)
    env["CODE_INTERPRETER_EMULATOR_CHECK_RESPONSES"] = "1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "scripts.local_api"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        url = read_first_line(proc, 60)
        assert url.startswith("http://127.0.0.1:"), f"local API did not start ({proc.poll()})"
        banner = read_first_line(proc, 10)  # "API ready at ... (code interpreter emulator: URL"
        emulator = re.search(r"code interpreter emulator: (http://[^,\s]+)", banner)
        assert emulator, banner

        status, body = _post(f"{url}/sessions/demo/execute", {"code": "print(6*7)"})
        assert status == 200, body
        assert body["stdout"] == "42\n"

        status, body = _post(
            f"{url}/sessions/demo/execute",
            {"code": "_ = open('outputs/answer.txt', 'w').write(str(6*7))"},
        )
        assert status == 200, body
        [out] = body["files"]
        with urllib.request.urlopen(out["url"], timeout=10) as resp:  # presigned, moto S3
            assert resp.read() == b"42"

        status, body = _post(f"{url}/sessions/demo/execute", {"code": 42})
        assert (status, body["error"]["field"]) == (400, "code")

        status, body = _post(f"{url}/sessions/demo", {}, method="DELETE")
        assert (status, body["stopped"]) == (200, True)

        conformance = f"{emulator.group(1)}/_emulator/conformance"
        with urllib.request.urlopen(conformance, timeout=10) as resp:
            report = json.loads(resp.read())
        assert report["enabled"] and report["checked"] >= 5, report
        assert report["mismatches"] == []

        # Anthropic's API, through the authorizer, with the key the server minted
        import anthropic

        c = anthropic.Anthropic(base_url=url, api_key=key, max_retries=0)
        from stacks.settings import Settings

        context = json.loads((ROOT / "cdk.json").read_text())["context"]
        derived = Settings.from_context(context.get).anthropic_models  # what the stack sets
        assert {m.id for m in c.models.list().data} == set(derived) != set()
        with pytest.raises(anthropic.AuthenticationError):
            anthropic.Anthropic(base_url=url, api_key="sk-bcx-nope", max_retries=0).models.list()
    finally:
        stop_process(proc, timeout=30)
