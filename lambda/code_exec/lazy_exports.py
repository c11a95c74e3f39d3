"""A package's names, each imported from its own module when first asked for (PEP 562).

A package ``__init__`` that re-exports from every submodule makes whoever imports one name
load them all; at a Lambda function's INIT that is time and memory for code the function
never runs. With :func:`lazy_exports`, ``from code_exec.store import ApiKeyStore`` loads
``store.api_keys`` alone. The package still lists its names under ``TYPE_CHECKING`` so type
checkers and readers see them.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """The module ``__getattr__`` of ``package``: each name of ``where`` (name -> submodule)
    from its submodule, imported on first access and then kept in the package."""

    def __getattr__(name: str) -> Any:
        submodule = where.get(name)
        if submodule is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{submodule}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
