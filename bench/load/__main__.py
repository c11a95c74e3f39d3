"""``python -m bench.load``: the load test (:mod:`bench.load.runner`)."""

from __future__ import annotations

import sys

from bench.load.runner import main

if __name__ == "__main__":
    sys.exit(main())
