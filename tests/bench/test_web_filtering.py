"""The web filtering benchmark's token cut, from its counts (never its timings).

The benchmark runs as ``make bench`` runs it (its own process: it sets up its local world
through environment variables); its last line is JSON with what it counted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.web_filtering_bench import GOAL

pytestmark = [pytest.mark.sandbox, pytest.mark.slow(seconds=15)]

ROOT = Path(__file__).resolve().parents[2]


def test_dynamic_filtering_sends_at_least_80_percent_fewer_tokens_with_the_same_table():
    proc = subprocess.run(
        [sys.executable, "-m", "bench.web_filtering_bench"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    counts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert counts["exact"] == {"plain": True, "filtered": True}
    # the same work on both sides: five fetches, two model calls
    assert counts["plain_fetches"] == counts["filtered_fetches"] == 5
    assert counts["plain_model_calls"] == counts["filtered_model_calls"] == 2
    cut = 100.0 * (1 - counts["filtered_tokens"] / counts["plain_tokens"])
    assert cut >= GOAL  # offline estimates on both sides: the ratio is the point
    assert counts["reduction_tokens_pct"] == round(cut, 1)
