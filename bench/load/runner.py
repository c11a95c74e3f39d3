"""``make load`` (``python -m bench.load``): locust against ``make local`` with the model
replayed, then one sweep.

1. Starts ``make local`` (``python -m scripts.local_api``) on a free loopback port, with
   the expense audit's recorded model turns as Bedrock (``LOCAL_BEDROCK_FIXTURES``), every
   tool bridged (``LOCAL_TOOL_PLACEMENT``), an API worker process for every request that
   may run at once (``API_WORKERS``: each request alone in its process, as in a Lambda
   execution environment), and the emulator sized for the sessions (``MAX_SESSIONS``,
   ``WARM_POOL``) with its request-rate limits on: ``MAX_RPS_PER_ACCOUNT`` 30, the
   service's published default quota for ``InvokeCodeInterpreter``, and
   ``MAX_RPS_PER_SESSION`` 20. The runtime's retries must absorb the throttling. Dummy
   credentials and no AWS config: nothing leaves 127.0.0.1.
2. Runs locust headless on ``bench/load/locustfile.py`` (its own process): one user per
   named session, a bounded plan of requests each, the test ending by itself.
3. Reads the emulator's READY sessions, runs the sweeper once (``POST /_local/sweep``,
   grace 0: every READY session no live owner holds is stopped now), reads them again.
4. Prints p50/p95 and errors per request type, the 409 count, throttled requests and the
   READY sessions; exits 1 when anything is off (:func:`bench.load.report.verdict`).

Options: ``--sessions``, ``--requests``, ``--time-limit``, ``--out DIR`` (locust's CSV and
logs; a fresh temporary directory by default); or the ``LOAD_*`` variables.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.load.plan import LoadSettings, SettingsError, expected_counts
from bench.load.report import LoadResults, read_results, render, verdict
from emulators.code_interpreter.spawn import ROOT, stop_process

__all__ = ["LOCUSTFILE", "emulator_health", "load", "local_env", "main", "run_locust", "sweep"]

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
RECORDING = "converse_expense_audit_ptc"
RPS_PER_SESSION = 20  # InvokeCodeInterpreter requests per second per session
RPS_PER_ACCOUNT = 30  # ... for the whole account: the published default quota


def local_env(settings: LoadSettings) -> dict[str, str]:
    """``make local``'s environment for the run: loopback only, model replayed, tools
    bridged, the emulator sized for ``settings.sessions`` and rate-limited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOAD_"))}
    prefix = "CODE_INTERPRETER_EMULATOR_"
    env.update(
        {
            "PORT": "0",
            "API_WORKERS": str(2 * settings.sessions),  # a Lambda environment per request
            "STREAM_WORKERS": "1",  # /invoke/stream is not part of the load
            "LOCAL_BEDROCK_FIXTURES": RECORDING,
            "LOCAL_TOOL_PLACEMENT": "bridged",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            f"{prefix}MAX_SESSIONS": str(settings.sessions + 4),
            f"{prefix}WARM_POOL": str(min(4, settings.sessions)),
            f"{prefix}MAX_RPS_PER_SESSION": str(RPS_PER_SESSION),
            f"{prefix}MAX_RPS_PER_ACCOUNT": str(RPS_PER_ACCOUNT),
            f"{prefix}LOG_LEVEL": "WARNING",
            "POWERTOOLS_LOG_LEVEL": "ERROR",
        }
    )
    return env


@contextmanager
def local_api(env: dict[str, str], out: Path, timeout: float = 120.0) -> Iterator[tuple[str, str]]:
    """``make local`` in a subprocess; yields (API URL, emulator URL). Its output goes to
    files in ``out`` (read, not piped: a full pipe would stall the server)."""
    stdout, stderr = out / "local_api.out", out / "local_api.log"
    with stdout.open("w") as so, stderr.open("w") as se:
        proc = subprocess.Popen(
            [sys.executable, "-m", "scripts.local_api"],
            cwd=ROOT,
            env=env,
            stdout=so,
            stderr=se,
            text=True,
        )
    try:
        deadline = time.monotonic() + timeout
        lines: list[str] = []
        while len(lines) < 2:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"make local did not start (exit {proc.poll()}); see {stderr}")
            time.sleep(0.2)
            lines = stdout.read_text().splitlines()
        emulator = re.search(r"code interpreter emulator: (http://[^,\s]+)", lines[1])
        if not lines[0].startswith("http://127.0.0.1:") or emulator is None:
            raise SystemExit(f"make local printed no URLs: {lines[:2]}")
        yield lines[0], emulator.group(1)
    finally:
        stop_process(proc, timeout=60)


def run_locust(url: str, settings: LoadSettings, out: Path, run_id: str = "") -> LoadResults:
    """Run the locustfile headless against ``url`` until it stops by itself; its results."""
    prefix = out / "locust"
    env = {**os.environ, **settings.env(), "LOAD_RUN_ID": run_id, "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        url,
        "--csv",
        str(prefix),
        "--only-summary",
        "--stop-timeout",
        "30",
        "--loglevel",
        "WARNING",
    ]
    with (out / "locust.log").open("w") as log:
        try:
            subprocess.run(
                command,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=settings.time_limit + 120,
                check=False,  # locust exits 1 when a request failed; the results say which
            )
        except subprocess.TimeoutExpired:  # killed: whatever it wrote is judged
            print(f"locust did not stop by itself; killed (see {out / 'locust.log'})")
    return read_results(prefix)


def sweep(url: str, grace_seconds: float = 0.0) -> dict[str, Any]:
    """One sweep of ``make local``'s interpreter (``POST /_local/sweep``): its report."""
    request = urllib.request.Request(
        f"{url}/_local/sweep?grace_seconds={grace_seconds}", data=b"", method="POST"
    )
    with urllib.request.urlopen(request, timeout=120) as resp:
        return dict(json.loads(resp.read()))


def emulator_health(emulator: str) -> dict[str, Any]:
    """The emulator's own count of READY sessions and of throttled requests."""
    with urllib.request.urlopen(f"{emulator}/_emulator/health", timeout=10) as resp:
        return dict(json.loads(resp.read()))


def load(settings: LoadSettings, out: Path) -> tuple[LoadResults, list[str]]:
    """The whole run: ``make local``, locust, the sweep; results and what is wrong."""
    with local_api(local_env(settings), out) as (url, emulator):
        print(f"make local at {url}; {settings.sessions} sessions x {settings.requests} requests")
        started = time.monotonic()
        results = run_locust(url, settings, out, run_id=f"{int(time.time()) % 100000:05d}")
        elapsed = time.monotonic() - started
        after_run = emulator_health(emulator)
        report = sweep(url)
        after_sweep = emulator_health(emulator)
    results.extra.update(
        {
            "seconds": round(elapsed, 1),
            "throttled": after_run["throttled"],
            "ready_after_run": after_run["sessions"],
            "ready_after_sweep": after_sweep["sessions"],
            "sweep": report,
        }
    )
    return results, verdict(results, expected_counts(settings))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sessions", type=int, help="concurrent named sessions (20)")
    parser.add_argument("--requests", type=int, help="requests per session (10)")
    parser.add_argument("--time-limit", type=float, help="stop after this many seconds (600)")
    parser.add_argument("--out", type=Path, help="where locust's CSV and the logs go")
    args = parser.parse_args(argv)
    flags = {"LOAD_SESSIONS": args.sessions, "LOAD_REQUESTS": args.requests}
    flags["LOAD_TIME_LIMIT"] = args.time_limit
    env = {**os.environ, **{k: str(v) for k, v in flags.items() if v is not None}}
    try:
        settings = LoadSettings.from_env(env)  # a flag wins over its variable
    except SettingsError as e:
        parser.error(str(e))
    out = args.out or Path(tempfile.mkdtemp(prefix="bcx-load-"))
    out.mkdir(parents=True, exist_ok=True)
    results, problems = load(settings, out)
    (out / "summary.json").write_text(json.dumps(results.as_dict(), indent=2))
    print(f"\n{render(results, problems)}\n\nlocust CSV, logs and summary.json: {out}")
    return 1 if problems else 0
