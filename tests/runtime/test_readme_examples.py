"""Every ``curl`` and SDK example in the README, run from the README's own text against
``make local``'s script on a machine with no AWS credentials: each answers 2xx, from the
recorded model turns ``make local`` then serves (and its banner says so).

The examples are read from the fenced code blocks: ``bash`` blocks' ``curl`` commands run in
bash (``$API`` and ``localhost:8000`` become the local URL, ``$KEY`` its key); the
``python`` blocks that talk to ``API`` run in order in one interpreter (``API`` and ``KEY``
set first). The SigV4 examples are written for a deployed API: they are signed with
placeholder keys (``make local`` checks no signature), only on the client side; the server
runs with no credentials at all. Every packet goes to 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from emulators.code_interpreter.spawn import read_first_line
from scripts.local_api import OFFLINE_FIXTURES, recorded_prompts
from tests.runtime.local_process import drain, local_api_process

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
KEY = "sk-bcx-readme-test-key"
# what a machine with no AWS account has: no credentials anywhere botocore looks
NO_CREDENTIALS = {
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
    "AWS_CONFIG_FILE": "/nonexistent/config",
    "AWS_EC2_METADATA_DISABLED": "true",  # and never ask an instance metadata service
    "AWS_DEFAULT_REGION": "us-east-1",
}
PLACEHOLDER_SIGNING_KEYS = {
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "AWS_SESSION_TOKEN": "placeholder",
}

pytestmark = [pytest.mark.sandbox, pytest.mark.slow(seconds=30)]


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """``(language, body)`` of each fenced code block, in order."""
    return [
        (m.group(1), m.group(2))
        for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, flags=re.S | re.M)
    ]


def curl_commands(text: str) -> list[str]:
    """The ``curl`` commands of the ``bash`` blocks, each whole as written (continuation
    lines and quoted newlines kept), for bash to run."""
    commands: list[str] = []
    for language, body in fenced_blocks(text):
        if language != "bash":
            continue
        pending = ""
        for line in body.splitlines(keepends=True):
            pending += line
            try:
                words = shlex.split(pending, comments=True)
            except ValueError:  # an open quote: the command goes on
                continue
            if pending.rstrip().endswith("\\"):
                continue
            if words and words[0] == "curl":
                commands.append(pending.strip())  # bash reads it as the reader's shell would
            pending = ""
    return commands


def python_examples(text: str) -> list[str]:
    """The ``python`` blocks that call the API (name ``API`` or its ``client``), in order."""
    return [
        body
        for language, body in fenced_blocks(text)
        if language == "python" and re.search(r"\b(API|client)\b", body)
    ]


@dataclass
class Local:
    url: str
    banner: str


@pytest.fixture(scope="module")
def local() -> Iterator[Local]:
    """``make local``'s script with no AWS credentials and no model settings of its own."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "LOCAL_", "CODE_INTERPRETER_"))
        and k not in ("DEFAULT_MODEL_ID", "MODEL_ALIASES", "ALLOWED_MODEL_IDS")
    }
    env.update(NO_CREDENTIALS, PORT="0", LOCAL_API_KEY=KEY, STREAM_WORKERS="1")
    with local_api_process(env) as (proc, url):
        # API ready, the model, the prompts, "try:", two curls, the SDK line
        count = 6 + len(recorded_prompts(",".join(OFFLINE_FIXTURES)))
        lines = [read_first_line(proc, 10) for _ in range(count)]
        drain(proc)
        yield Local(url, "\n".join(lines))


def test_the_readme_has_the_examples_this_test_runs() -> None:
    """The parser finds what a reader sees: the curl commands and the SDK programs."""
    text = README.read_text()
    commands = curl_commands(text)
    assert len(commands) >= 8, commands
    assert any("/v1/messages" in c for c in commands)
    assert any("/invoke/stream" in c for c in commands)
    assert any("/sessions/demo/execute" in c for c in commands)
    programs = python_examples(text)
    assert len(programs) >= 4, programs
    assert any("langchain_anthropic" in p for p in programs)
    assert any("web_search_20250305" in c for c in commands)
    for wanted in ("web_fetch_20250910", "web_fetch_20260209", "skills.create"):
        assert any(wanted in p for p in programs), wanted


def test_without_credentials_the_banner_says_the_model_is_recorded(local: Local) -> None:
    assert "no AWS credentials found" in local.banner, local.banner
    for prompt in recorded_prompts(",".join(OFFLINE_FIXTURES)):
        assert f"- {prompt}" in local.banner.splitlines()  # (each line read stripped)
    # the banner's own streamed example uses a prompt it answers
    stream = next(line for line in local.banner.splitlines() if "/invoke/stream" in line)
    assert any(p in stream for p in recorded_prompts(",".join(OFFLINE_FIXTURES))), stream


def _local_text(text: str, url: str) -> str:
    return text.replace("http://localhost:8000", url).replace("localhost:8000", url)


def test_every_readme_curl_example_answers_2xx_without_credentials(
    local: Local, tmp_path: Path
) -> None:
    """Each ``curl`` of the README, as written (but for the URL), answers 2xx; a streamed
    one ends with its last event, never ``error``."""
    wrapper = 'curl() { command curl -sS -o "$BODY" -w "%{http_code}" "$@"; }\n'  # status on stdout
    env = {**os.environ, **NO_CREDENTIALS, **PLACEHOLDER_SIGNING_KEYS}
    env.update(API=local.url, KEY=KEY, BODY=str(tmp_path / "body"))
    failures = []
    for command in curl_commands(README.read_text()):
        command = _local_text(command, local.url)
        run = subprocess.run(
            ["bash", "-c", wrapper + command],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        body = (tmp_path / "body").read_text() if (tmp_path / "body").exists() else ""
        status = run.stdout.strip()
        ok = status.startswith("2") and "event: error" not in body
        if "/invoke/stream" in command:
            ok = ok and "event: result" in body and '"status": "finished"' in body
        elif '"stream": true' in command:
            ok = ok and "event: message_stop" in body
        elif "web_search_20250305" in command:  # searched the corpus, answered from it
            ok = ok and '"web_search_tool_result"' in body and "until 1 a.m." in body
        if not ok:
            failures.append(f"{command}\n-> {status} {run.stderr}\n{body[-800:]}")
    assert not failures, "\n\n".join(failures)


DRIVER = """
import json, sys
namespace = {"API": sys.argv[1], "KEY": sys.argv[2]}
for n, program in enumerate(json.loads(sys.stdin.read())):
    program = "\\n".join(
        line for line in program.splitlines() if not line.startswith("API = ")
    )
    exec(compile(program, f"README python example {n + 1}", "exec"), namespace)
out = {
    "status": namespace["status"],
    "text": namespace["result"]["text"],
    "create": namespace["r"].stop_reason,
    "create_text": namespace["r"].content[-1].text,
    "langchain": str(namespace["msg"].content)[-300:],
    "stream": namespace["final"].stop_reason,
    "skill": namespace["greeting"].content[-1].text,
    "fetch": [b.type for b in namespace["page"].content],
    "fetch_text": namespace["page"].content[-1].text,
    "filtered": [b.type for b in namespace["filtered"].content],
    "filtered_text": namespace["filtered"].content[-1].text,
}
print("\\nREADME-RESULT " + json.dumps(out))
"""


def test_every_readme_sdk_example_runs_without_credentials(local: Local) -> None:
    """The README's Python programs, in order in one interpreter as a reader would paste
    them: the SigV4 call, the Anthropic SDK (create and stream), LangChain, a custom skill
    created from ``examples/skills`` and used, web fetch, dynamic filtering."""
    programs = python_examples(README.read_text())
    env = {**os.environ, **NO_CREDENTIALS, **PLACEHOLDER_SIGNING_KEYS}
    env = {k: v for k, v in env.items() if not k.startswith("AWS_ENDPOINT_URL")}
    run = subprocess.run(
        [sys.executable, "-c", DRIVER, local.url, KEY],
        input=json.dumps(programs),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.rpartition("\nREADME-RESULT ")[2])
    assert out["status"] == 200
    assert "Alice Chen" in out["text"]
    assert out["create"] == "end_turn" and "5.5" in out["create_text"]
    assert out["stream"] == "end_turn"
    assert out["langchain"], out
    assert out["skill"] == "Ahoy, Ada! (house style v1)"  # its script ran in the sandbox
    assert "web_fetch_tool_result" in out["fetch"], out["fetch"]
    assert "600 requests per minute" in out["fetch_text"]
    # dynamic filtering: the web calls ran from the code, their pages stayed in the sandbox
    assert "code_execution_tool_result" in out["filtered"], out["filtered"]
    assert "web_fetch_tool_result" in out["filtered"], out["filtered"]
    assert "600 requests per minute" in out["filtered_text"]
