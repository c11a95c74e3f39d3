"""Import each module alone in a fresh interpreter, cheaply: a fork server.

Starting ~150 interpreters that each import boto3, pydantic and powertools from nothing
took two minutes. The server is one ``python -c`` interpreter (the same ``sys.path`` as
``python -c "import m"``) that imports only the modules *outside* the package under test
(third-party and standard library), then forks one child per module; the child imports
that module into a copy of the server in which no module of the package is loaded yet, so
a module that only imports after another one (a cycle broken at run time) still fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

# Run as ``python -c``: stdin carries {"preload", "modules", "roots", "workers"}; stdout
# gets {module: traceback} for each module whose import raised.
_SERVER = r"""
import importlib, json, os, sys, threading, traceback

job = json.loads(sys.stdin.read())
for name in job["preload"]:
    try:
        importlib.import_module(name)
    except Exception:  # the child meets the same failure if it matters
        pass
loaded = [m for m in sys.modules if m.split(".")[0] in job["roots"]]
if loaded:
    sys.exit(f"preloading loaded modules under test: {loaded}")
if threading.active_count() != 1:
    sys.exit(f"preloading started threads; forking now is unsafe: {threading.enumerate()}")
sys.stdout.flush()
sys.stderr.flush()

failures, running = {}, {}

def reap():
    pid, status = os.wait()
    module, fd = running.pop(pid)
    with os.fdopen(fd, "rb") as pipe:
        text = pipe.read().decode()
    if status != 0:
        failures[module] = text or f"exit status {status}"

for module in job["modules"]:
    while len(running) >= job["workers"]:
        reap()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = 0
        try:
            importlib.import_module(module)
        except BaseException:
            os.write(w, traceback.format_exc()[-2000:].encode())
            code = 1
        os._exit(code)
    os.close(w)
    running[pid] = (module, r)
while running:
    reap()
print(json.dumps(failures))
"""


def outside_modules(
    modules: list[str], *, roots: set[str], path: list[str] | None = None
) -> list[str]:
    """The modules outside ``roots`` that importing all of ``modules`` loads, in load order.

    Found by doing it once, so the lazy imports third-party code makes while our modules
    load (powertools' tracer pulling in the X-Ray SDK) are shared too. Loading these cannot
    load a module under ``roots``; the server checks that again.
    """
    source = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}:\n"
        "    try:\n"
        "        importlib.import_module(m)\n"
        "    except BaseException:\n"
        "        pass\n"
        f"print(json.dumps([m for m in sys.modules if m.split('.')[0] not in {sorted(roots)!r}]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, check=True, env=_env(path)
    )
    loaded: list[str] = json.loads(proc.stdout.splitlines()[-1])
    return loaded


def _env(path: list[str] | None) -> dict[str, str]:
    """The environment, with ``path`` on ``PYTHONPATH``."""
    extra = [*(path or []), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(extra)} if extra else dict(os.environ)


def import_each_alone(
    modules: list[str],
    *,
    roots: set[str],
    preload: list[str],
    path: list[str] | None = None,
    workers: int = 2,
) -> dict[str, str]:
    """The modules whose import alone raised, each with its traceback (empty: all imported).

    Args:
        modules: Dotted names to import, each in its own forked child.
        roots: Top-level packages under test; the server refuses to fork if preloading
            loaded any module under them.
        preload: Modules the server imports before forking (outside ``roots``).
        path: Extra ``PYTHONPATH`` entries (a throwaway package in a test).
        workers: Children alive at once.
    """
    job = {
        "modules": modules,
        "roots": sorted(roots),
        "preload": preload,
        "workers": workers,
    }
    proc = subprocess.run(
        [sys.executable, "-c", _SERVER],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        check=False,
        env=_env(path),
    )
    if proc.returncode != 0:
        raise RuntimeError(f"import server failed ({proc.returncode}): {proc.stderr[-2000:]}")
    failures: dict[str, str] = json.loads(proc.stdout.splitlines()[-1])
    return failures
