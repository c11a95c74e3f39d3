"""A package's names, each imported from its module when first asked for (PEP 562).

The library's package and the stacks' re-export names whose modules load the CDK (its jsii
runtime, a Node process, and ~3 CPU-s of import); with :func:`lazy_exports`, importing one of
their CDK-free modules (``bedrock_code_execution.props``, ``stacks.settings``) does not load it.
The runtime has its own (``code_exec.lazy_exports``): the import contracts keep the Lambda
bundle and the CDK code apart.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """The module ``__getattr__`` of ``package``: each name of ``where`` (name -> module, by
    its full name) from its module, imported on first access and then kept in the package."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
