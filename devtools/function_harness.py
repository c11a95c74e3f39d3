"""The Lambda functions of a deployment, each as Lambda would run it: its own container.

The functions share one code asset, and their handler module builds module-level objects
(``services``, and the use cases over it). In Lambda each function has its own process, hence
its own ``services`` and its own clients. Here each function gets a private copy of its handler
module (executed afresh under an alias of its own, never the shared module in
``sys.modules``), configured from the function's environment in the template
(``RuntimeConfig.from_env``), and every client and repository its ``Services`` can build is
built at once, inside ``recorder.acting_as(<function logical id>)``. So every AWS call the
function makes is attributed to it by the client it uses; a client the runtime builds later,
outside this setup, is unattributed (and a least-privilege check fails).

Endpoints are the only thing that differs from AWS (``AWS_ENDPOINT_URL_<SERVICE>`` while the
clients are built, as in local mode): the sandbox is the code-interpreter emulator and model
calls go to a host only a Bedrock replay answers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from types import ModuleType
from typing import Any

from devtools.call_recorder import CallRecorder
from devtools.deployment import Deployment, Resource
from devtools.handler_copies import handler_copy

__all__ = ["Function", "load_functions"]


@dataclass
class Function:
    """One Lambda function: its resource, environment, module copy and entry point."""

    resource: Resource
    environment: dict[str, str]
    module: ModuleType
    handler: Callable[[dict[str, Any], Any], Any]

    @property
    def logical_id(self) -> str:
        return self.resource.logical_id

    @property
    def services(self) -> Any:
        return self.module.services

    @property
    def built(self) -> list[str]:
        """What its ``Services`` built at setup (every client and repository it can build)."""
        return _buildable(self.services)


def load_functions(
    deployment: Deployment, recorder: CallRecorder, *, endpoints: Mapping[str, str]
) -> dict[str, Function]:
    """Logical id -> :class:`Function`, for every ``AWS::Lambda::Function`` of ``deployment``."""
    from code_exec.config import RuntimeConfig

    functions = {}
    for res in deployment.resources("AWS::Lambda::Function"):
        variables = res.props.get("Environment", {}).get("Variables", {})
        environment = {k: str(v) for k, v in deployment.resolve(variables, res.stack).items()}
        module_name, attr = res.props["Handler"].rsplit(".", 1)
        module = handler_copy(module_name, f"{module_name}<{res.logical_id}>")
        services = getattr(module, "services", None)
        if services is None:
            raise TypeError(f"{module_name} has no module-level `services` to configure")
        services.override(config=RuntimeConfig.from_env(environment))
        with recorder.acting_as(res.logical_id), _environ(endpoints):
            for name in _buildable(services):
                getattr(services, name)
        functions[res.logical_id] = Function(res, environment, module, getattr(module, attr))
    return functions


def _buildable(services: Any) -> list[str]:
    return [n for n, v in vars(type(services)).items() if isinstance(v, cached_property)]


@contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
