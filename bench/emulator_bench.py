"""Measure the emulator through the real boto3 client.

``python -m bench.emulator_bench [--endpoint URL] [--sessions 5] [--cells 60]``
starts an in-process emulator unless ``--endpoint`` is given, then prints medians of
session start, first cell, warm executeCode and executeCommand round trips.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

from emulators.code_interpreter.config import EmulatorConfig
from emulators.code_interpreter.server import create_server
from emulators.code_interpreter.spawn import agentcore_client

_ID = "aws.codeinterpreter.v1"


def _timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _fmt(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    med = statistics.median(ms)
    return f"median {med:7.1f} ms  (min {min(ms):.1f}, max {max(ms):.1f}, n={len(ms)})"


def measure(endpoint: str, sessions: int, cells: int, pause: float) -> dict[str, list[float]]:
    """Run the workload and return the raw timings in seconds."""
    c = agentcore_client(endpoint)

    def invoke(sid: str, name: str, **arguments: Any) -> None:
        resp = c.invoke_code_interpreter(
            codeInterpreterIdentifier=_ID, sessionId=sid, name=name, arguments=arguments
        )
        list(resp["stream"])

    out: dict[str, list[float]] = {k: [] for k in ("start", "first", "cell", "command", "stop")}

    def one_session() -> None:
        t = time.perf_counter()
        sid = c.start_code_interpreter_session(codeInterpreterIdentifier=_ID)["sessionId"]
        out["start"].append(time.perf_counter() - t)
        out["first"].append(_timed(lambda: invoke(sid, "executeCode", code="x = 0")))
        for _ in range(cells):
            out["cell"].append(_timed(lambda: invoke(sid, "executeCode", code="x += 1")))
        for _ in range(max(1, cells // 6)):
            out["command"].append(_timed(lambda: invoke(sid, "executeCommand", command="true")))
        t = time.perf_counter()
        c.stop_code_interpreter_session(codeInterpreterIdentifier=_ID, sessionId=sid)
        out["stop"].append(time.perf_counter() - t)

    for _ in range(sessions):
        one_session()
        time.sleep(pause)  # as between real sessions: lets the warm pool refill
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.emulator_bench")
    p.add_argument("--endpoint", help="a running emulator; default: start one in-process")
    p.add_argument("--sessions", type=int, default=5)
    p.add_argument("--cells", type=int, default=60)
    p.add_argument("--pause", type=float, default=1.5, help="seconds between sessions")
    ns = p.parse_args(argv)
    server = None
    endpoint = ns.endpoint
    if endpoint is None:
        server = create_server(EmulatorConfig.from_env(port=0))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        endpoint = server.url
        time.sleep(2)  # let the warm pool fill, as a long-running emulator would have
    try:
        r = measure(endpoint, ns.sessions, ns.cells, ns.pause)
    finally:
        if server is not None:
            server.close()
    print(f"StartCodeInterpreterSession      {_fmt(r['start'])}")
    print(f"start -> first executeCode done  {_fmt(r['first'])}")
    print(f"executeCode round trip (warm)    {_fmt(r['cell'])}")
    print(f"executeCommand round trip        {_fmt(r['command'])}")
    print(f"StopCodeInterpreterSession       {_fmt(r['stop'])}")


if __name__ == "__main__":
    main()
