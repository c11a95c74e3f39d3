"""``python -m emulators.code_interpreter --port N``: prints the endpoint URL first."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from .config import ConfigError, EmulatorConfig
from .server import create_server


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m emulators.code_interpreter",
        description="Local AgentCore Code Interpreter data plane (bubblewrap + ipykernel).",
        epilog="Every flag is also read from CODE_INTERPRETER_EMULATOR_<FLAG> (docs/emulator.md).",
    )
    p.add_argument("--host", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (0 = pick a free one; default 8765)")
    p.add_argument("--cell-timeout", type=float, help="seconds per executeCode/executeCommand")
    p.add_argument("--interrupt-grace", type=float, help="seconds before a stuck kernel restarts")
    p.add_argument("--workspace-mb", type=int, help="workspace + /tmp tmpfs size per session")
    p.add_argument("--memory-mb", type=int, help="RLIMIT_AS per process / memory cgroup")
    p.add_argument("--cpu-seconds", type=int, help="RLIMIT_CPU per process")
    p.add_argument("--max-processes", type=int, help="pids cgroup / RLIMIT_NPROC")
    p.add_argument("--max-sessions", type=int, help="concurrent READY sessions")
    p.add_argument("--warm-pool", type=int, help="sandboxes kept ready with a started kernel")
    p.add_argument(
        "--max-rps-per-session", type=float, help="InvokeCodeInterpreter requests/s (0: no limit)"
    )
    p.add_argument("--max-rps-per-account", type=float, help="the same per account (0: no limit)")
    p.add_argument("--sandbox-workdir", help="workspace path inside the sandbox")
    p.add_argument("--state-dir", help="host directory for session state")
    p.add_argument("--unisolated", action="store_true", default=None, help="no bubblewrap (unsafe)")
    p.add_argument(
        "--check-responses",
        action="store_true",
        default=None,
        help="check every response against botocore's service model (see /_emulator/conformance)",
    )
    p.add_argument("--web-corpus", help="InvokeWebSearch's corpus dir (index.json + pages)")
    p.add_argument("--log-level", help="DEBUG, INFO, WARNING")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # first thing: a stop requested while starting up still cleans up
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    ns = _args(argv)
    try:
        config = EmulatorConfig.from_env(**vars(ns))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        server = create_server(config)
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(server.url, flush=True)
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    stop.wait()
    server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
