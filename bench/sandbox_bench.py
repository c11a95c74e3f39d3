"""Sandbox overheads, measured side by side in one run.

1. A plain local ``python -c`` subprocess vs one ``executeCode`` round trip through boto3
   to the code-interpreter emulator (bubblewrap + ipykernel), and one ``run_cell``
   (executeCode through the top-level-await cell runner). Median and p95 over N runs.
2. Tool-call overhead per call from sandbox code: a preloaded tool (runs in the sandbox)
   vs a bridged tool (relayed out through files and run here), sequential and parallel
   (``asyncio.gather``). The tool itself does nothing, so the time is pure overhead.

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


def run(runs: int = 100, calls: int = 50) -> dict[str, tuple[float, float]]:
    from code_exec.ptc import BridgedRunner, ToolRegistry, preload
    from code_exec.sandbox.client import SandboxClient, make_client

    from emulators.code_interpreter.spawn import agentcore_client

    results: dict[str, tuple[float, float]] = {}
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
    print(f"bridged empty cell (submit + poll): {r['bridged empty cell'][0] * ms:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
