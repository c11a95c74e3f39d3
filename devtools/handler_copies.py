"""Private copies of a handler module: separate Lambda execution environments in one process.

Lambda runs one invocation at a time per execution environment, each with its own module
state (Powertools' resolver keeps the request it serves in it; the services hold their own
clients). Concurrent requests in tests and benches each get a copy of their own.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

__all__ = ["handler_copy"]


def handler_copy(module_name: str, alias: str) -> ModuleType:
    """A fresh copy of ``module_name``, registered as ``alias`` (never the shared name: a
    module defining dataclasses must be in ``sys.modules`` while it runs)."""
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(module_name)
    copy = importlib.util.spec_from_file_location(alias, spec.origin)
    assert copy is not None and copy.loader is not None
    module = importlib.util.module_from_spec(copy)
    sys.modules[alias] = module
    try:
        copy.loader.exec_module(module)
    except BaseException:
        del sys.modules[alias]
        raise
    return module
