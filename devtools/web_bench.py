"""The web filtering benchmark: five long pages, one table, with and without dynamic filtering.

The task: the user names the five long reports of the web corpus fixture
(``tests/fixtures/web_corpus``, ``openclimate-data.test``: about 24,000 characters of text and
two tables each) and asks for the one table of battery electric car deliveries by
manufacturer, exactly as published.

* ``plain`` (``web_fetch_20250910``): the model calls ``web_fetch`` five times; every page
  enters its context as a document, and it copies the table from there.
* ``filtered`` (``web_fetch_20260209``, dynamic filtering): the model writes one cell that
  fetches the five pages in the container and prints only that table.

Both run through ``/v1/messages`` with the real ``anthropic`` SDK against the local API, the
real fetcher over the corpus server on loopback, and recorded model turns
(``tests/fixtures/bedrock/anthropic_web_{plain,filtered}.json``, written by :func:`author`
from the fetcher's own text of the pages). Measured per mode: Bedrock calls, request bytes,
tokens sent to the model (Claude's tokenizer over the request bodies, :mod:`devtools.tokens`),
web fetch requests, and whether the answer holds the exact table. :func:`call_overhead`
measures what a web call made from code costs over the backend's own time, per call.

    .venv/bin/python -m devtools.web_bench author   # rewrite the two recordings
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from typing import Any

from devtools.bedrock_replay import FIXTURES, BedrockReplay
from devtools.tokens import count_tokens

__all__ = ["MODES", "URLS", "ModeRun", "author", "call_overhead", "expected_table", "run_mode"]

MODEL = "claude-sonnet-4-5"
MODES = ("plain", "filtered")
_SITE = "https://openclimate-data.test"
URLS = (
    f"{_SITE}/climate/city-temperature-records",
    f"{_SITE}/datasets/renewable-capacity-2025",
    f"{_SITE}/ocean/buoy-observations-june-2026",
    f"{_SITE}/reports/emissions-by-sector",
    f"{_SITE}/transport/ev-sales-2025",
)
TOOLS = {
    "plain": [{"type": "web_fetch_20250910", "name": "web_fetch"}],
    "filtered": [{"type": "web_fetch_20260209", "name": "web_fetch"}],
}
PROMPT = (
    "These five reports are long:\n"
    + "\n".join(URLS)
    + "\nOne of them has a table of battery electric car deliveries by manufacturer. "
    "Give me that table exactly as published."
)
HEADER = "| Manufacturer |"
# The model's cell (filtered): the table is the header line, then the lines with as many cells.
CELL = (
    "import asyncio, json\n"
    f"urls = {list(URLS)!r}\n"
    "pages = [json.loads(p) for p in await asyncio.gather(\n"
    "    *[web_fetch({'url': u}) for u in urls])]\n"
    "for page in pages:\n"
    "    lines = page['text'].splitlines()\n"
    f"    starts = [i for i, ln in enumerate(lines) if ln.startswith({HEADER!r})]\n"
    "    if starts:\n"
    "        width = lines[starts[0]].count('|')\n"
    "        table = []\n"
    "        for ln in lines[starts[0]:]:\n"
    "            if ln.count('|') != width:\n"
    "                break\n"
    "            table.append(ln.rstrip())\n"
    "        print(page['url'])\n"
    "        print('\\n'.join(table))\n"
)


def table_of(text: str) -> str:
    """The table the task asks for, cut from a page's text as the model's cell cuts it."""
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(HEADER))
    width = lines[start].count("|")
    table = []
    for line in lines[start:]:
        if line.count("|") != width:
            break
        table.append(line.rstrip())
    return "\n".join(table)


def expected_table(fetcher: Any) -> str:
    """The answer, from the fetcher's text of the page that has the table."""
    return table_of(fetcher.fetch(URLS[-1]).text or "")


@dataclass
class ModeRun:
    mode: str
    model_calls: int
    request_bytes: int
    request_tokens: int
    web_fetch_requests: int
    answer: str


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
    usage = r.usage.server_tool_use
    return ModeRun(
        mode=mode,
        model_calls=len(replay.exchanges),
        request_bytes=replay.bytes_sent,
        request_tokens=sum(count_tokens(x.body.decode()) for x in replay.exchanges),
        web_fetch_requests=usage.web_fetch_requests if usage else 0,
        answer="".join(b.text for b in r.content if b.type == "text"),
    )


def call_overhead(sandbox: Any, search: Any, fetcher: Any, *, calls: int = 10) -> dict[str, float]:
    """Milliseconds per call, sequential: each backend called here alone, and the same call
    awaited in a bridged cell (relayed out of the sandbox, run here, relayed back)."""
    from code_exec.ptc import BridgedRunner, ToolRegistry
    from code_exec.ptc.web_tools import UrlLedger, WebSession

    web = WebSession(search, fetcher, ledger=UrlLedger(URLS))
    timings: dict[str, float] = {}
    start = time.perf_counter()
    for _ in range(calls):
        web.search("electric car deliveries by manufacturer")
    timings["web_search_backend_ms"] = 1000 * (time.perf_counter() - start) / calls
    start = time.perf_counter()
    for _ in range(calls):
        web.fetch(URLS[-1])
    timings["web_fetch_backend_ms"] = 1000 * (time.perf_counter() - start) / calls
    session_id = sandbox.start_session()
    try:
        runner = BridgedRunner(sandbox, session_id, ToolRegistry(web.tools()))
        runner.start()
        runner.run_cell("await web_search(query='warm up')")
        for tool, call in (
            ("web_search", "await web_search(query='electric car deliveries by manufacturer')"),
            ("web_fetch", f"await web_fetch(url={URLS[-1]!r})"),
        ):
            start = time.perf_counter()
            result = runner.run_cell(f"for _ in range({calls}):\n    {call}\n")
            if not result.ok:
                raise RuntimeError(f"the {tool} cell failed: {result.stderr[-500:]}")
            timings[f"{tool}_from_code_ms"] = 1000 * (time.perf_counter() - start) / calls
        runner.close()
    finally:
        sandbox.stop_session(session_id)
    return timings


# --- recordings ------------------------------------------------------------------------------


def _turn(content: list[dict[str, Any]], expect: dict[str, Any], seen: str) -> dict[str, Any]:
    uses = any(b["type"] == "tool_use" for b in content)
    return {
        "expect": {"operation": "InvokeModel", **expect},
        "response": {
            "status": 200,
            "headers": {"Content-Type": "application/json"},
            "body": {
                "id": "msg_bdrk_01" + "Wf" * 11,
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5-20250929",
                "content": content,
                "stop_reason": "tool_use" if uses else "end_turn",
                "stop_sequence": None,
                "usage": {  # estimates (devtools.tokens), as the other recordings'
                    "input_tokens": count_tokens(seen),
                    "output_tokens": count_tokens(json.dumps(content)),
                },
            },
        },
    }


def recordings(pages: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Both recordings, from the fetcher's text of each page (``pages``: url -> text)."""
    table = table_of(pages[URLS[-1]])
    answer = [{"type": "text", "text": f"Here is the table, from {URLS[-1]}:\n\n{table}"}]
    rows = table.splitlines()[2:5]  # a few rows, enough to prove what the model was sent
    other = "| Region | Countries | Coverage (%) |"  # a table of another page
    plain = [
        {"type": "text", "text": "I'll fetch the five reports."},
        *(
            {"type": "tool_use", "id": f"toolu_bdrk_01fetch{i}", "name": "web_fetch",
             "input": {"url": url}}
            for i, url in enumerate(URLS)
        ),
    ]  # fmt: skip
    filtered = [
        {"type": "text", "text": "I'll fetch the reports in code and print only that table."},
        {"type": "tool_use", "id": "toolu_bdrk_01filter", "name": "code_execution",
         "input": {"code": CELL}},
    ]  # fmt: skip
    everything = PROMPT + "".join(pages.values())
    return {
        "plain": {
            "name": "anthropic_web_plain",
            "description": "web_fetch_20250910: the five pages enter the context; the model "
            "copies the table from them.",
            "turns": [
                _turn(plain, {"tools": ["web_fetch"], "messages": 1}, PROMPT),
                _turn(answer, {"body_contains": [other, *rows]}, everything),
            ],
        },
        "filtered": {
            "name": "anthropic_web_filtered",
            "description": "web_fetch_20260209 (dynamic filtering): one cell fetches the five "
            "pages in the container and prints only the table.",
            "turns": [
                _turn(
                    filtered,
                    {
                        "tools": [
                            "bash_code_execution",
                            "text_editor_code_execution",
                            "code_execution",
                            "web_fetch",
                        ],
                        "body_contains": ["async def web_fetch(input: dict) -> str"],
                    },
                    PROMPT,
                ),
                _turn(
                    answer,
                    {
                        "tool_results": [{"is_error": False, "contains": rows}],
                        "body_lacks": [other],  # the pages stayed in the container
                    },
                    PROMPT + CELL + table,
                ),
            ],
        },
    }


def author() -> None:
    """Fetch the five pages from the corpus server (loopback) and write both recordings."""
    from code_exec.web.fetcher import Fetcher
    from code_exec.web.guard import Guard, LoopbackCorpus

    from emulators.web_corpus import CorpusServer

    def no_dns(host: str, port: int) -> list[str]:
        raise OSError(f"no name resolution here ({host})")

    with CorpusServer() as corpus:
        fetcher = Fetcher(Guard(no_dns, corpus=LoopbackCorpus(corpus.port, corpus.domains)))
        pages = {url: fetcher.fetch(url).text or "" for url in URLS}
    for mode, data in recordings(pages).items():
        path = FIXTURES / f"anthropic_web_{mode}.json"
        path.write_text(json.dumps(data, indent=1) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    if sys.argv[1:] != ["author"]:
        raise SystemExit("usage: python -m devtools.web_bench author")
    author()
