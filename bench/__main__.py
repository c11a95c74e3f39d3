"""``python -m bench``: run every ``bench/*_bench.py`` module and ``bench/cold_start.py`` (the
per-function cold-start table), each in a process of its own.

Each benchmark sets up its own local world (emulator, moto, replayed model) through
environment variables and module state; in one shared interpreter the next benchmark would
inherit the previous one's stopped endpoints and settings. A process each keeps every
benchmark's numbers as they are when it is run alone.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    failed = []
    here = Path(__file__).parent
    for path in [*sorted(here.glob("*_bench.py")), here / "cold_start.py"]:
        name = f"bench.{path.stem}"
        print(f"\n=== {name} ===", flush=True)
        if subprocess.run([sys.executable, "-m", name], cwd=ROOT, check=False).returncode:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
