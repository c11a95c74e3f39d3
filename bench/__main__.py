"""``python -m bench``: run every ``bench/*_bench.py`` module's ``main()`` in turn."""

from __future__ import annotations

import importlib
import sys
import traceback
from pathlib import Path


def main() -> int:
    failed = []
    for path in sorted(Path(__file__).parent.glob("*_bench.py")):
        name = f"bench.{path.stem}"
        print(f"\n=== {name} ===", flush=True)
        try:
            code = importlib.import_module(name).main([]) if _takes_argv(name) else None
            if code is None:
                code = importlib.import_module(name).main()
        except Exception:
            traceback.print_exc()
            code = 1
        if code:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _takes_argv(name: str) -> bool:
    import inspect

    return bool(inspect.signature(importlib.import_module(name).main).parameters)


if __name__ == "__main__":
    sys.exit(main())
