"""The web filtering benchmark: five long pages, one table, with and without dynamic filtering.

The task: fetch the five harbour reports of :mod:`devtools.web_corpus` (their URLs are in the
prompt, so the fetch rule allows them) and answer with one table holding each port's 2025 row.

* ``plain`` (``web_fetch_20250910``): the model calls ``web_fetch`` five times; every page
  enters its context as a document, and it reads the rows from there.
* ``filtered`` (``web_fetch_20260209``, dynamic filtering): the model writes one cell that
  fetches the five pages in the container and prints only the table rows.

Both run through ``/v1/messages`` with the real ``anthropic`` SDK against the local API (as
``make local`` serves it), with recorded model turns
(``tests/fixtures/bedrock/anthropic_web_{plain,filtered}.json``, written by :func:`author`) and
the same corpus backend; measured per mode: Bedrock calls, request bytes and the tokens sent
to the model (Claude's tokenizer over the request bodies, :mod:`devtools.tokens`), and whether
the answer is the exact table. :func:`call_overhead` measures what a web call made from code
costs on top of the backend's own time, per call, against the emulator.

    .venv/bin/python -m devtools.web_bench author   # rewrite the recordings
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from typing import Any

from devtools.bedrock_replay import FIXTURES, BedrockReplay
from devtools.tokens import count_tokens
from devtools.web_corpus import EXPECTED_TABLE, PAGES, PORTS, CorpusWeb, page_url

__all__ = ["MODES", "TOOLS", "ModeRun", "author", "call_overhead", "run_mode"]

MODEL = "claude-sonnet-4-5"
MODES = ("plain", "filtered")
TOOLS = {
    "plain": [{"type": "web_fetch_20250910", "name": "web_fetch"}],
    "filtered": [{"type": "web_fetch_20260209", "name": "web_fetch"}],
}
PROMPT = (
    "Here are the 2025 annual reports of five ports:\n"
    + "\n".join(page_url(p) for p in PORTS)
    + "\nFetch them and give me one table with each port's 2025 traffic row "
    "(ships, tonnage, busiest month)."
)
CELL = (
    "import asyncio, json\n"
    f"urls = {[page_url(p) for p in PORTS]!r}\n"
    "pages = await asyncio.gather(*[web_fetch({'url': u}) for u in urls])\n"
    "rows = []\n"
    "for page in pages:\n"
    "    lines = json.loads(page)['text'].splitlines()\n"
    "    at = next(i for i, ln in enumerate(lines) if ln.startswith('| Port |'))\n"
    "    header = lines[at:at + 2]\n"
    "    rows.append(lines[at + 2])\n"
    "print('\\n'.join(header + rows))\n"
)
ANSWER = f"Here is the 2025 traffic of the five ports:\n\n{EXPECTED_TABLE}"


@dataclass
class ModeRun:
    mode: str
    model_calls: int
    request_bytes: int
    request_tokens: int
    web_fetch_requests: int
    answer: str

    @property
    def exact(self) -> bool:
        return EXPECTED_TABLE in self.answer


def run_mode(client: Any, bedrock: Any, mode: str) -> ModeRun:
    """One mode through ``/v1/messages`` (``bedrock``: the replayed client the API calls)."""
    with BedrockReplay(f"anthropic_web_{mode}").attach(bedrock) as replay:
        r = client.messages.create(
            model=MODEL,
            max_tokens=4096,
            tools=TOOLS[mode],
            messages=[{"role": "user", "content": PROMPT}],
        )
        replay.assert_done()
    text = "".join(b.text for b in r.content if b.type == "text")
    return ModeRun(
        mode=mode,
        model_calls=len(replay.exchanges),
        request_bytes=replay.bytes_sent,
        request_tokens=sum(count_tokens(x.body.decode()) for x in replay.exchanges),
        web_fetch_requests=r.usage.server_tool_use.web_fetch_requests,
        answer=text,
    )


def call_overhead(sandbox: Any, web: CorpusWeb, *, calls: int = 20) -> dict[str, float]:
    """Milliseconds per call: the backend alone vs a call made from a bridged cell (the
    relay out of the sandbox and back), for ``web_search`` and ``web_fetch``, sequentially."""
    from code_exec.ptc import BridgedRunner, ToolRegistry
    from code_exec.ptc.web_tools import UrlLedger, WebSession

    session_id = sandbox.start_session()
    try:
        session = WebSession(web, web, ledger=UrlLedger(PAGES))
        runner = BridgedRunner(sandbox, session_id, ToolRegistry(session.tools()))
        runner.start()
        runner.run_cell("await web_search(query='harbour')")  # warm up
        out: dict[str, float] = {}
        for tool, call in (
            ("web_search", "await web_search(query='harbour report')"),
            ("web_fetch", f"await web_fetch(url={page_url('Porto')!r})"),
        ):
            web.calls.clear()
            start = time.perf_counter()
            result = runner.run_cell(f"for _ in range({calls}):\n    {call}\n")
            elapsed = time.perf_counter() - start
            if not result.ok:
                raise RuntimeError(f"{tool} cell failed: {result.stderr[-500:]}")
            backend = sum(s for name, s in web.calls if name == tool)
            out[f"{tool}_backend_ms"] = 1000 * backend / calls
            out[f"{tool}_from_code_ms"] = 1000 * elapsed / calls
        runner.close()
        return out
    finally:
        sandbox.stop_session(session_id)


# --- recordings ------------------------------------------------------------------------------


def _turn(
    content: list[dict[str, Any]], expect: dict[str, Any], request_text: str
) -> dict[str, Any]:
    uses = any(b["type"] == "tool_use" for b in content)
    out_tokens = count_tokens(json.dumps(content))
    return {
        "expect": {"operation": "InvokeModel", **expect},
        "response": {
            "status": 200,
            "headers": {"Content-Type": "application/json"},
            "body": {
                "id": "msg_bdrk_01" + ("W" * 22),
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5-20250929",
                "content": content,
                "stop_reason": "tool_use" if uses else "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": count_tokens(request_text), "output_tokens": out_tokens},
            },
        },
    }


def _recordings() -> dict[str, dict[str, Any]]:
    pages = "".join(text for _, text in PAGES.values())
    plain_first = [
        {"type": "text", "text": "I'll fetch the five reports."},
        *(
            {"type": "tool_use", "id": f"toolu_bdrk_01fetch{p}", "name": "web_fetch",
             "input": {"url": page_url(p)}}
            for p in PORTS
        ),
    ]  # fmt: skip
    filtered_first = [
        {"type": "text", "text": "I'll fetch the reports in code and keep only the tables."},
        {"type": "tool_use", "id": "toolu_bdrk_01filter", "name": "code_execution",
         "input": {"code": CELL}},
    ]  # fmt: skip
    answer = [{"type": "text", "text": ANSWER}]
    rows = [f"| {p} | {s} | {t} | {m} |" for p, (s, t, m) in PORTS.items()]
    return {
        "plain": {
            "name": "anthropic_web_plain",
            "description": "web_fetch_20250910: five pages enter the context, the model reads "
            "the table rows from them.",
            "turns": [
                _turn(plain_first, {"contains": [page_url("Valencia")]}, PROMPT),
                _turn(answer, {"body_contains": ["## Traffic in 2025", *rows]}, PROMPT + pages),
            ],
        },
        "filtered": {
            "name": "anthropic_web_filtered",
            "description": "web_fetch_20260209 (dynamic filtering): one cell fetches the five "
            "pages in the container and prints only the table.",
            "turns": [
                _turn(
                    filtered_first,
                    {"body_contains": ["async def web_fetch(input: dict) -> str"]},
                    PROMPT,
                ),
                _turn(
                    answer,
                    {
                        "tool_results": [{"is_error": False, "contains": rows}],
                        "body_lacks": ["## Traffic in 2025"],  # the pages stayed in the container
                    },
                    PROMPT + CELL + EXPECTED_TABLE,
                ),
            ],
        },
    }


def author() -> None:
    """Write the two recordings (the model's turns; the corpus is deterministic)."""
    for mode, data in _recordings().items():
        path = FIXTURES / f"anthropic_web_{mode}.json"
        path.write_text(json.dumps(data, indent=1) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    if sys.argv[1:] == ["author"]:
        author()
    else:
        raise SystemExit("usage: python -m devtools.web_bench author")
