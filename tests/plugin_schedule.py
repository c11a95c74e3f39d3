"""Where xdist runs each test: one worker for every module that loads the CDK, files as units.

Loading the CDK costs a pytest process seconds of CPU: importing ``aws_cdk`` (and the construct
library, cdk-nag, cfn-lint) and a jsii node process that loads the aws-cdk-lib assembly and
synthesizes. Under ``--dist loadfile`` the stack, example and integ modules were spread over
every worker, so each one paid that. ``make test`` runs ``--dist loadgroup``, and this plugin
decides the groups (:func:`group_of`):

* the modules marked ``cdk`` (``pytestmark = pytest.mark.cdk``: the module loads the CDK in its
  own process: it synthesizes, asserts with ``aws_cdk.assertions``, or imports
  ``bedrock_code_execution``/``stacks``) share the group :data:`CDK_GROUP`, so one worker
  runs them all;
* every other test's group is its own module's path, so those are scheduled as ``loadfile``
  schedules them (a module's tests in one worker, in file order, sharing module fixtures).

xdist's own ``loadgroup`` reads ``xdist_group`` marks into the node ids, which pytest 9.2 no
longer lets it do (pytest-xdist 3.8 sets ``item._nodeid``; pytest now derives node ids from
``item._id``), so every test would be its own unit. The controller instead gets a scheduler
(:class:`CdkGroupScheduling`) that groups node ids itself; it sees only node ids, so a module
is ``cdk`` when its own top-level ``pytestmark`` names ``pytest.mark.cdk``
(:func:`marked_cdk`, read from its source; test_collection_imports checks that this agrees
with the marks pytest collects).

The runtime tests that read the synthesized AgentStack (``agent_template`` in
tests/runtime/conftest.py) are not marked: the template is synthesized once per run and
shared through a file cache (tests/stacks/synth_cache.py), and those modules are too long to
queue behind the stack tests. No module imports the CDK at collection (test_collection_imports
checks), so a worker that runs none of the marked modules loads it only for that template.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import Any

import pytest

__all__ = ["CDK_GROUP", "CDK_MARKER", "group_of", "marked_cdk"]

CDK_MARKER = "cdk"
CDK_GROUP = "cdk"


@functools.cache
def marked_cdk(path: Path) -> bool:
    """True when the module at ``path`` has ``pytest.mark.cdk`` in its top-level
    ``pytestmark`` (alone or in a list)."""
    try:
        tree = ast.parse(path.read_text())
    except (OSError, SyntaxError, ValueError):
        return False  # not a Python test module: pytest reports what it is
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in targets):
            marks = (
                node.value.elts if isinstance(node.value, ast.List | ast.Tuple) else [node.value]
            )
            if any(ast.unparse(mark) == f"pytest.mark.{CDK_MARKER}" for mark in marks):
                return True
    return False


def group_of(nodeid: str, rootdir: Path) -> str:
    """The xdist group of the test ``nodeid``: :data:`CDK_GROUP` for a module marked ``cdk``,
    else the module's path."""
    module = nodeid.split("::", 1)[0]
    return CDK_GROUP if marked_cdk(rootdir / module) else module


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # xdist's own hook would pick its loadgroup
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class CdkGroupScheduling(LoadScopeScheduling):
        """``loadfile``, except that every module marked ``cdk`` is one unit."""

        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid, config.rootpath)

    return CdkGroupScheduling(config, log)
