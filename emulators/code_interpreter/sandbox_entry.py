"""Applies resource limits, then execs the real command. Runs INSIDE the sandbox.

Standalone on purpose (stdlib only, no package imports): the emulator binds this one
file read-only into each sandbox. Usage::

    python sandbox_entry.py --as BYTES --cpu SECONDS --nproc N --nofile N --fsize BYTES -- CMD...

A value of 0 leaves that limit unchanged. The kernel zygote (``zygote_main.py``) applies the
same limits to the kernels it forks with :func:`apply_limits`.
"""

import os
import resource
import sys

_LIMITS = {
    "as": resource.RLIMIT_AS,
    "cpu": resource.RLIMIT_CPU,
    "nproc": resource.RLIMIT_NPROC,
    "nofile": resource.RLIMIT_NOFILE,
    "fsize": resource.RLIMIT_FSIZE,
}


def apply_limits(limits: dict[str, int]) -> None:
    """Set each named limit above 0 (hard and soft), no core dumps, umask 022."""
    for name, limit in limits.items():
        if limit > 0:
            resource.setrlimit(_LIMITS[name], (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.umask(0o022)


def main(argv: list[str]) -> None:
    """Parse ``--name value`` pairs up to ``--``, set the limits, exec the rest."""
    sep = argv.index("--")
    opts, cmd = argv[:sep], argv[sep + 1 :]
    pairs = zip(opts[::2], opts[1::2], strict=True)
    apply_limits({flag.removeprefix("--"): int(value) for flag, value in pairs})
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
