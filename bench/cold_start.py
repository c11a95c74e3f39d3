"""Cold start per Lambda function: the modules its entry module loads, and how long it takes.

Each function's handler module is imported in a fresh interpreter (what Lambda's INIT phase
does), and the new entries of ``sys.modules`` are split into ours (``code_exec``),
third-party and the standard library. The import time is the median of ``--runs`` fresh
subprocess imports on this machine, wall clock and the process's CPU time (times depend on
the machine and on how busy it is; module counts do not, and ``tests/bench/test_cold_start.py``
asserts those).

    .venv/bin/python -m bench.cold_start [--runs 5] [--lambda-env] [name=module.handler ...]

``--lambda-env`` imports as Lambda would (``LAMBDA_TASK_ROOT`` set: Powertools' tracer and
the X-Ray SDK both take it as the sign of Lambda, so tracing is on and botocore is patched);
without it, as tests and ``make local`` import (tracing off). ``name=module.handler``
arguments measure other entry points (the numbers of an older layout, say) instead of
:data:`FUNCTIONS`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FUNCTIONS", "LAMBDA_ENV", "Loaded", "load", "main", "measure"]

ROOT = Path(__file__).resolve().parents[1]

# function -> its handler, as the stacks deploy it (tests/bench/test_cold_start.py checks
# the stacks name exactly these).
FUNCTIONS = {
    "api": "code_exec.api.handler.api_handler",
    "stream": "code_exec.api.streamed.stream_handler",
    "jobs": "code_exec.functions.job_function.job_handler",
    "cleanup": "code_exec.functions.cleanup_function.cleanup_handler",
    "sweeper": "code_exec.functions.sweeper_function.sweeper_handler",
    "authorizer": "code_exec.anthropic.authorizer.handler",
}

_PROBE = """
import importlib, json, sys, time
module_name, attr = sys.argv[1].rsplit(".", 1)
before = set(sys.modules)
started, cpu = time.perf_counter(), time.process_time()
handler = getattr(importlib.import_module(module_name), attr)
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
assert callable(handler), sys.argv[1]
out = {"seconds": seconds, "cpu_seconds": cpu, "modules": sorted(set(sys.modules) - before)}
print(json.dumps(out))
"""

# What Lambda sets that changes what an import does: LAMBDA_TASK_ROOT turns Powertools'
# tracer on (and the X-Ray SDK's Lambda context); the function name and region, boto3's.
LAMBDA_ENV = {
    "LAMBDA_TASK_ROOT": str(ROOT / "lambda"),
    "AWS_LAMBDA_FUNCTION_NAME": "cold-start-bench",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "false",  # unset in Lambda; tests' environment sets it
}


@dataclass(frozen=True)
class Loaded:
    """What one fresh import of a handler added to ``sys.modules``, and how long it took."""

    handler: str
    modules: tuple[str, ...]
    seconds: float  # wall clock
    cpu_seconds: float = 0.0  # the process's CPU time: less skewed by a busy machine

    @property
    def ours(self) -> list[str]:
        return [m for m in self.modules if _top(m) == "code_exec"]

    @property
    def stdlib(self) -> list[str]:
        return [m for m in self.modules if _top(m) in sys.stdlib_module_names]

    @property
    def third_party(self) -> list[str]:
        return [
            m
            for m in self.modules
            if _top(m) != "code_exec" and _top(m) not in sys.stdlib_module_names
        ]


def _top(module: str) -> str:
    return module.split(".", 1)[0]


def load(handler: str, *, env: Mapping[str, str] | None = None) -> Loaded:
    """Import ``handler`` (``module.attribute``) once in a fresh interpreter."""
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, handler],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    if proc.returncode:
        raise RuntimeError(f"importing {handler} failed:\n{proc.stderr[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return Loaded(handler, tuple(out["modules"]), float(out["seconds"]), float(out["cpu_seconds"]))


def measure(handler: str, *, runs: int, env: Mapping[str, str] | None = None) -> Loaded:
    """``runs`` fresh imports: the modules of the first, the medians of the times."""
    loads = [load(handler, env=env) for _ in range(runs)]
    return Loaded(
        handler,
        loads[0].modules,
        statistics.median(x.seconds for x in loads),
        statistics.median(x.cpu_seconds for x in loads),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh imports per function")
    parser.add_argument("--lambda-env", action="store_true", help="import as in Lambda")
    parser.add_argument("--json", action="store_true", help="also print the rows as JSON")
    parser.add_argument("functions", nargs="*", help="name=module.handler (default: ours)")
    args = parser.parse_args(argv)
    functions = dict(f.split("=", 1) for f in args.functions) or FUNCTIONS
    env = dict(LAMBDA_ENV) if args.lambda_env else {"POWERTOOLS_TRACE_DISABLED": "1"}
    print(
        f"cold start: new sys.modules per handler import, median of {args.runs} fresh "
        f"imports ({'Lambda environment' if args.lambda_env else 'tracing off'})"
    )
    print(
        f"{'function':12}{'ours':>6}{'3rd-party':>11}{'stdlib':>8}{'total':>7}"
        f"{'import s':>10}{'cpu s':>8}"
    )
    rows = []
    for name, handler in functions.items():
        got = measure(handler, runs=args.runs, env=env)
        row = {
            "function": name,
            "handler": handler,
            "ours": len(got.ours),
            "third_party": len(got.third_party),
            "stdlib": len(got.stdlib),
            "total": len(got.modules),
            "seconds": round(got.seconds, 3),
            "cpu_seconds": round(got.cpu_seconds, 3),
        }
        rows.append(row)
        print(
            f"{name:12}{row['ours']:>6}{row['third_party']:>11}{row['stdlib']:>8}"
            f"{row['total']:>7}{got.seconds:>10.3f}{got.cpu_seconds:>8.3f}",
            flush=True,
        )
    if args.json:
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
