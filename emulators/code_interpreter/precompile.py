"""Compile the bytecode of the packages a sandbox imports, before any sandbox runs.

A sandbox sees the virtualenv read-only, so Python cannot cache what it compiles there: a kernel
that imports pandas or matplotlib without their ``.pyc`` files compiles them again, in every
session (longer than a cell's time limit in the tests). ``make setup`` installs the virtualenv
without compiling (uv's ``--compile-bytecode`` compiled all ~19,000 modules of the test, lint and
CDK tooling: about 45 s of a fresh machine's setup) and runs this for what the sandboxes import:

* the distributions of ``sandbox-requirements.txt``, the kernel (``ipykernel``) and everything
  they require (about 40 distributions, 2,600 modules; their test suites left out);
* every package a kernel imports without requiring it (an optional speed-up such as ``orjson``,
  ``pytz`` for pandas; the ``.pth`` hooks the interpreter loads at start): a probe process
  imports what a kernel does and says what it loaded.

Everything else is compiled the way Python always does, by the first process that imports it,
into the writable virtualenv.

Run: ``python emulators/code_interpreter/precompile.py`` (idempotent; ``-v`` lists the modules).
Standalone (stdlib and ``packaging``), so it runs before anything else is compiled.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import subprocess
import sys
import sysconfig
from concurrent.futures import ProcessPoolExecutor
from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

__all__ = [
    "KERNEL_DISTRIBUTIONS",
    "LIST_LOADED",
    "PROBE",
    "SANDBOX_REQUIREMENTS",
    "closure",
    "closure_sources",
    "compile_sources",
    "imported_by_probe",
    "sandbox_sources",
    "sources",
    "with_probed",
]

SANDBOX_REQUIREMENTS = Path(__file__).with_name("sandbox-requirements.txt")
KERNEL_DISTRIBUTIONS = ("ipykernel",)  # what runs the cells (the zygote imports it)
# Prints, as JSON, the venv's source files the running interpreter has loaded.
LIST_LOADED = """
import json, sys, sysconfig
purelib = sysconfig.get_paths()["purelib"]
print(json.dumps(sorted({m.__file__ for m in list(sys.modules.values())
                         if (getattr(m, "__file__", None) or "").startswith(purelib)
                         and m.__file__.endswith(".py")})))
"""
# What a kernel imports on its way to a first cell that uses the sandbox's packages.
PROBE = (
    "import ipykernel.kernelapp, ipykernel.ipkernel, IPython\n"
    "import numpy, pandas, matplotlib, matplotlib.pyplot\n" + LIST_LOADED
)


def requirement_names(path: Path) -> list[str]:
    """The distribution names pinned in a requirements file (comments and options left out)."""
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        names.append(Requirement(line).name)
    return names


def closure(roots: list[str]) -> dict[str, metadata.Distribution]:
    """The installed distributions named in ``roots`` and, recursively, those they require
    (markers evaluated for this interpreter, no extras), by normalized name."""
    found: dict[str, metadata.Distribution] = {}
    pending = list(roots)
    while pending:
        name = canonicalize_name(pending.pop())
        if name in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency this platform does not install
        found[name] = dist
        for spec in dist.requires or []:
            try:
                requirement = Requirement(spec)
            except InvalidRequirement:
                continue
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return found


def sources(distributions: dict[str, metadata.Distribution]) -> list[Path]:
    """Every ``.py`` file the distributions installed (from their ``RECORD``), sorted, but their
    own test suites (``tests/`` directories: a third of pandas' and numpy's modules, which no
    cell imports)."""
    files = set()
    for dist in distributions.values():
        for entry in dist.files or []:
            if entry.suffix == ".py" and not _in_test_suite(entry.parts):
                files.add(Path(str(dist.locate_file(entry))))
    return sorted(path for path in files if path.is_file())


def _in_test_suite(parts: tuple[str, ...]) -> bool:
    return "tests" in parts


def _roots() -> list[str]:
    return [*requirement_names(SANDBOX_REQUIREMENTS), *KERNEL_DISTRIBUTIONS]


def imported_by_probe(python: str = sys.executable) -> list[Path]:
    """The virtualenv's source files :data:`PROBE` loads in a fresh ``python`` process."""
    out = subprocess.run([python, "-c", PROBE], capture_output=True, text=True, check=True)
    return [Path(f) for f in json.loads(out.stdout.strip().splitlines()[-1])]


def closure_sources() -> list[Path]:
    """The source files of the closure of the sandbox's and the kernel's distributions."""
    roots = _roots()
    distributions = closure(roots)
    missing = [name for name in roots if canonicalize_name(name) not in distributions]
    if missing:
        raise RuntimeError(f"not installed: {', '.join(missing)}")
    return sources(distributions)


def with_probed(found: list[Path]) -> list[Path]:
    """``found`` and every top-level package (or loose module: the ``.pth`` hooks) the probe
    loaded from outside it, whole."""
    paths = set(found)
    purelib = Path(sysconfig.get_paths()["purelib"])
    for path in imported_by_probe():
        if path in paths or not path.is_relative_to(purelib):
            continue
        top = purelib / path.relative_to(purelib).parts[0]
        if top.is_dir():
            paths.update(
                p for p in top.rglob("*.py") if not _in_test_suite(p.relative_to(top).parts)
            )
        else:
            paths.add(path)
    return sorted(paths)


def sandbox_sources() -> list[Path]:
    """The source files setup compiles for the sandboxes."""
    return with_probed(closure_sources())


def _compile(paths: list[Path]) -> int:
    return sum(not compileall.compile_file(path, quiet=2) for path in paths)


def compile_sources(paths: list[Path], *, workers: int | None = None) -> int:
    """Compile ``paths`` as ``compileall`` does (timestamp-checked ``.pyc`` files in
    ``__pycache__``; up-to-date ones are left alone) on ``workers`` processes (default: one per
    CPU). Returns how many did not compile (a module written for another Python version, which
    would not import either)."""
    workers = workers or os.cpu_count() or 1
    chunks = [paths[i::workers] for i in range(workers)]
    with ProcessPoolExecutor(workers) as pool:
        return sum(pool.map(_compile, chunks))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="list the modules")
    args = parser.parse_args(argv)
    try:
        found = closure_sources()
        # the closure first, on every core: the probe then imports compiled modules, not
        # compiling each one itself, one at a time
        compile_sources(found)
        paths = with_probed(found)
    except (RuntimeError, subprocess.CalledProcessError) as e:
        print(f"precompile: {e}", file=sys.stderr)
        return 1
    if args.verbose:
        print("\n".join(map(str, paths)))
    failed = compile_sources(paths)
    skipped = f" ({failed} not valid Python {sys.version.split()[0]})" if failed else ""
    print(f"precompile: {len(paths)} modules the sandboxes import are compiled{skipped}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
