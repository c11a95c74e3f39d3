"""Sandbox overheads, measured side by side in one run.

1. A plain local ``python -c`` subprocess vs one ``executeCode`` round trip through boto3
   to the code-interpreter emulator (bubblewrap + ipykernel), and one ``run_cell``
   (executeCode through the top-level-await cell runner). Median and p95 over N runs.
2. Tool-call overhead per call from sandbox code: a preloaded tool (runs in the sandbox)
   vs a bridged tool (relayed out through files and run here), sequential and parallel
   (``asyncio.gather``). The tool itself does nothing, so the time is pure overhead.
3. The bridged relay: data-plane calls per cell (counted by the emulator) for typical
   cells, against the budget of 2 per cell + 2 per round of parallel tool calls, and 20
   calls of 200 ms each gathered in one cell against the same calls made one by one
   (20 x 200 ms = 4 s: the ideal is 20x).

Uses the emulator at ``AWS_ENDPOINT_URL_BEDROCK_AGENTCORE`` when set, else starts one.

    .venv/bin/python -m bench.sandbox_bench [--runs 100] [--calls 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["main"]

INTERPRETER = "aws.codeinterpreter.v1"


def noop(value: int) -> int:
    """Return the value (a tool that costs nothing, to measure call overhead).

    Args:
        value: Any integer.

    Returns:
        The same integer.
    """
    return value


@contextmanager
def _endpoint() -> Iterator[str]:
    url = os.environ.get("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE")
    if url:
        yield url
        return
    from emulators.code_interpreter.spawn import start_emulator

    with start_emulator(log_level="WARNING") as emulator:
        yield emulator.url


def _stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def _time(fn: Callable[[], object], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return samples


def _per_call(run_cell: Callable[[str], object], code: str, calls: int, reps: int = 3) -> float:
    """Best of ``reps`` runs of a cell making ``calls`` calls, per call."""
    return min(_time(lambda: run_cell(code), reps)) / calls


def slow_echo(value: str, delay_ms: int = 200) -> str:
    """Echo a value after a delay (a slow business API).

    Args:
        value: What to echo.
        delay_ms: How long to take, in milliseconds.

    Returns:
        The value.
    """
    time.sleep(delay_ms / 1000)
    return value


# (label, cell, rounds of parallel tool calls it makes)
_RELAY_CELLS = (
    ("empty cell", "pass", 0),
    ("cell busy 2 s, no tool calls", "import time\ntime.sleep(2)", 0),
    ("expense audit (published cell)", None, 3),
    ("20 x 200 ms, gathered", "await asyncio.gather(*[slow_echo(str(i)) for i in range(20)])", 1),
    ("5 x 200 ms, one by one", "for i in range(5):\n    await slow_echo(str(i))", 5),
)
_PARALLEL = "await asyncio.gather(*[slow_echo(str(i)) for i in range(20)])"
_SERIAL = "for i in range(20):\n    await slow_echo(str(i))"


def relay(sandbox: Any, url: str, sid: str) -> dict[str, Any]:
    """Data-plane calls per bridged cell, and the 20 x 200 ms parallel/serial ratio."""
    from code_exec.ptc import BridgedRunner

    from devtools.expense import expense_audit_code, expense_registry
    from emulators.code_interpreter.admin import session_calls

    registry = expense_registry("bridged")
    registry.register(slow_echo, placement="bridged")
    runner = BridgedRunner(sandbox, sid, registry)
    runner.start()
    out: dict[str, Any] = {}
    try:
        runner.run_cell("pass")
        for label, code, rounds in _RELAY_CELLS:
            before = session_calls(url, sid)["calls"]
            result = runner.run_cell(code or expense_audit_code(), timeout_seconds=60)
            assert result.ok, result.stderr
            out[label] = (session_calls(url, sid)["calls"] - before, 2 + 2 * rounds)
        out["parallel"] = min(_time(lambda: runner.run_cell(_PARALLEL), 5))
        out["serial"] = min(_time(lambda: runner.run_cell(_SERIAL), 1))
    finally:
        runner.close()
    return out


def run(runs: int = 100, calls: int = 50) -> dict[str, Any]:
    from code_exec.ptc import BridgedRunner, ToolRegistry, preload
    from code_exec.sandbox.client import SandboxClient, make_client

    from emulators.code_interpreter.spawn import agentcore_client

    results: dict[str, Any] = {}
    local = [sys.executable, "-c", "print(1)"]
    subprocess.run(local, check=True, capture_output=True)
    results["local python -c"] = _stats(
        _time(lambda: subprocess.run(local, check=True, capture_output=True), runs)
    )
    with _endpoint() as url:
        client = agentcore_client(url, make_client("us-east-1").meta.config)
        sandbox = SandboxClient(INTERPRETER, client=client)
        with sandbox.session(name="bench") as sid:
            sandbox.execute_code(sid, "print(1)")
            results["emulator executeCode"] = _stats(
                _time(lambda: sandbox.execute_code(sid, "print(1)"), runs)
            )
            results["emulator run_cell (await runner)"] = _stats(
                _time(lambda: sandbox.run_cell(sid, "print(1)"), runs)
            )
            reg = ToolRegistry()
            reg.register(noop, placement="preloaded")
            preload(sandbox, sid, reg)
            seq = f"for i in range({calls}):\n    await noop(i)"
            par = f"await asyncio.gather(*[noop(i) for i in range({calls})])"
            empty = sandbox.run_cell
            base = min(_time(lambda: empty(sid, "pass"), 5))
            for label, code in (("sequential", seq), ("parallel", par)):
                per = _per_call(lambda c: sandbox.run_cell(sid, c), code, calls) - base / calls
                results[f"preloaded tool call, {label}"] = (per, per)
            bridged = ToolRegistry()
            bridged.register(noop, placement="bridged")
            runner = BridgedRunner(sandbox, sid, bridged)
            runner.start()
            try:
                runner.run_cell("pass")
                bbase = min(_time(lambda: runner.run_cell("pass"), 5))
                for label, code in (("sequential", seq), ("parallel", par)):
                    per = _per_call(runner.run_cell, code, calls) - bbase / calls
                    results[f"bridged tool call, {label}"] = (per, per)
                results["bridged empty cell"] = (bbase, bbase)
            finally:
                runner.close()
            results["relay"] = relay(sandbox, url, sid)
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.sandbox_bench")
    p.add_argument("--runs", type=int, default=100, help="round trips per measurement")
    p.add_argument("--calls", type=int, default=50, help="tool calls per cell")
    args = p.parse_args(argv)
    r = run(args.runs, args.calls)
    ms = 1000.0
    local = r["local python -c"][0]
    print(f"Sandbox round trips ({args.runs} runs each; emulator: bubblewrap + ipykernel)")
    print(f"{'':36}{'median':>10}{'p95':>10}{'vs local':>10}")
    for key in ("local python -c", "emulator executeCode", "emulator run_cell (await runner)"):
        med, p95 = r[key]
        print(f"{key:36}{med * ms:>8.1f}ms{p95 * ms:>8.1f}ms{med / local:>9.2f}x")
    print(f"\nTool-call overhead per call ({args.calls} calls per cell, best of 3)")
    print(f"{'':36}{'per call':>10}{'vs preloaded':>14}")
    for label in ("sequential", "parallel"):
        pre = r[f"preloaded tool call, {label}"][0]
        bri = r[f"bridged tool call, {label}"][0]
        print(f"{'preloaded, ' + label:36}{pre * ms:>8.2f}ms{1:>13.1f}x")
        print(f"{'bridged, ' + label:36}{bri * ms:>8.2f}ms{bri / max(pre, 1e-6):>13.1f}x")
    seq, par = r["bridged tool call, sequential"][0], r["bridged tool call, parallel"][0]
    print(f"\nbridged: parallel is {seq / max(par, 1e-6):.1f}x cheaper per call than sequential")
    print(f"bridged empty cell (one long-poll step): {r['bridged empty cell'][0] * ms:.1f} ms")
    rel = r["relay"]
    print("\nBridged relay: data-plane calls per cell (emulator count; budget 2 + 2 per round)")
    within = True
    for label, _, _ in _RELAY_CELLS:
        used, budget = rel[label]
        within &= used <= budget
        print(f"{label:36}{used:>6} calls   (budget {budget})")
    parallel, serial = rel["parallel"], rel["serial"]
    print(f"\n20 x 200 ms bridged calls gathered in one cell: {parallel * ms:.0f} ms (best of 5)")
    print(f"  vs the same calls one by one ({serial * ms:.0f} ms): {serial / parallel:.1f}x")
    print(f"  vs serial 20 x 200 ms = 4000 ms: {4.0 / parallel:.1f}x (ideal 20x, goal >= 15x)")
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
