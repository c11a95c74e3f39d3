"""``python -m emulators.web_corpus [--port N]``: serve the corpus until interrupted; prints
the ``WEB_FETCH_LOOPBACK_CORPUS`` value (local only) on its first line."""

from __future__ import annotations

import argparse
import threading

from emulators.web_corpus import CorpusServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with CorpusServer(port=args.port) as server:
        print(server.loopback_spec(), flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
