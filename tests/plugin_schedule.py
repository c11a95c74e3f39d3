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

The units start longest first (:func:`start_order`): the CDK group, then the modules marked
``slow`` (over ten seconds each: real waits, many sandbox sessions) by the seconds their mark
gives (``pytest.mark.slow(seconds=60)``: about what the module takes in ``make test``), then
the rest by their number of tests as xdist orders them. A long module handed out last runs
alone at the end while the other workers idle; started first, the short modules fill in
around it. The number of tests says little of a module's time (the schemathesis run is two
tests, the longest module), hence the seconds.

A slow module that mostly waits (``pytest.mark.slow(seconds=50, waits=True)``: real time must
pass, a turn longer than API Gateway's 29 s, a stream paused past its pings, cells run into
their time limit) uses a tenth to a third of a core while it runs. ``make test``'s four workers
share two cores, so two such modules at once leave only two workers to keep both cores busy,
which they do not (each of them waits on sandboxes and sockets too; with three workers two
waiting modules left a core idle for most of a minute). :func:`next_unit` runs one at a time,
from the start: one worker waits through them in turn while the other three keep both cores
busy.

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
import re
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "CDK_GROUP",
    "CDK_MARKER",
    "SLOW_MARKER",
    "group_of",
    "marked_cdk",
    "module_marks",
    "next_unit",
    "slow_seconds",
    "start_order",
    "unit_waits",
    "waits",
]

CDK_MARKER = "cdk"
CDK_GROUP = "cdk"
SLOW_MARKER = "slow"
SLOW_SECONDS = 30.0  # a module marked slow that does not say how slow


@functools.cache
def module_marks(path: Path) -> frozenset[str]:
    """The names of the ``pytest.mark.<name>`` marks (plain, or called with arguments) in the
    top-level ``pytestmark`` of the module at ``path`` (alone or in a list)."""
    return frozenset(_module_mark_arguments(path))


def slow_seconds(path: Path) -> float:
    """About how long the module at ``path`` runs, from its ``slow`` mark: ``seconds=`` when
    it says (``pytest.mark.slow(seconds=60)``), else :data:`SLOW_SECONDS`; 0 when unmarked."""
    arguments = _module_mark_arguments(path)
    if SLOW_MARKER not in arguments:
        return 0.0
    seconds = arguments[SLOW_MARKER].get("seconds")
    return SLOW_SECONDS if seconds is None else float(ast.literal_eval(seconds))


def waits(path: Path) -> bool:
    """True when the module at ``path`` mostly waits: its ``slow`` mark says ``waits=True``."""
    flag = _module_mark_arguments(path).get(SLOW_MARKER, {}).get("waits")
    return flag is not None and bool(ast.literal_eval(flag))


@functools.cache
def _module_mark_arguments(path: Path) -> dict[str, dict[str, ast.expr]]:
    """Each mark of the module's top-level ``pytestmark``: its keyword arguments, unevaluated
    (another mark's may name a constant of the module, ``reason=REASON``)."""
    try:
        source = path.read_text()
    except (OSError, ValueError):
        return {}  # not a Python test module: pytest reports what it is
    found: dict[str, dict[str, ast.expr]] = {}
    for node in _pytestmark_statements(source):
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in targets):
            marks = (
                node.value.elts if isinstance(node.value, ast.List | ast.Tuple) else [node.value]
            )
            for mark in marks:
                call = mark if isinstance(mark, ast.Call) else None
                text = ast.unparse(call.func if call else mark)
                if text.startswith("pytest.mark.") and text.count(".") == 2:
                    keywords = call.keywords if call else []
                    found[text.removeprefix("pytest.mark.")] = {
                        k.arg: k.value for k in keywords if k.arg
                    }
    return found


def _pytestmark_statements(source: str) -> list[ast.stmt]:
    """The top-level statements that start ``pytestmark =``, each parsed alone.

    The controller and every worker read every test module before the first test starts;
    parsing only these few lines, not each whole module, takes a twentieth of the time.
    """
    lines = source.splitlines()
    statements: list[ast.stmt] = []
    for first, line in enumerate(lines):
        if not _PYTESTMARK.match(line):
            continue
        for last in range(first + 1, len(lines) + 1):  # the statement may span lines
            try:
                statements += ast.parse("\n".join(lines[first:last])).body
                break
            except SyntaxError:
                continue
    return statements


_PYTESTMARK = re.compile(r"pytestmark\s*=")


def marked_cdk(path: Path) -> bool:
    """True when the module at ``path`` has ``pytest.mark.cdk`` in its top-level
    ``pytestmark`` (alone or in a list)."""
    return CDK_MARKER in module_marks(path)


def group_of(nodeid: str, rootdir: Path) -> str:
    """The xdist group of the test ``nodeid``: :data:`CDK_GROUP` for a module marked ``cdk``,
    else the module's path."""
    module = nodeid.split("::", 1)[0]
    return CDK_GROUP if marked_cdk(rootdir / module) else module


def start_order(nodeids: list[str], rootdir: Path) -> list[str]:
    """``nodeids`` grouped by unit (:func:`group_of`), the units in the order they start: the
    CDK group, then the modules marked ``slow``, longest first (:func:`slow_seconds`), then
    the others; ties by more tests first (as xdist's ``--loadscope-reorder``), then in
    collection order."""
    units: dict[str, list[str]] = {}
    for nodeid in nodeids:
        units.setdefault(group_of(nodeid, rootdir), []).append(nodeid)

    def seconds(unit: str) -> float:
        return float("inf") if unit == CDK_GROUP else slow_seconds(rootdir / unit)

    ordered = sorted(units.items(), key=lambda item: (-seconds(item[0]), -len(item[1])))
    return [nodeid for _, unit_ids in ordered for nodeid in unit_ids]


def unit_waits(unit: str, rootdir: Path) -> bool:
    """True when the unit ``unit`` (:func:`group_of`) is a module that :func:`waits`."""
    return unit != CDK_GROUP and waits(rootdir / unit)


def next_unit(queued: list[str], waiting_now: bool, rootdir: Path) -> str:
    """Which of the ``queued`` units (in start order) a worker takes next: the first, except
    that the first unit that :func:`waits` goes before it while no worker has one in progress
    (``waiting_now``), and after every other unit while one does."""
    waiting = [unit for unit in queued if unit_waits(unit, rootdir)]
    if not waiting:
        return queued[0]
    if not waiting_now:
        return waiting[0]
    return next((unit for unit in queued if unit not in waiting), queued[0])


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On each worker of a ``--dist loadgroup`` run, the collection in :func:`start_order`.

    Every worker orders the same collection the same way, so the controller's indexes into
    the workers' collections stay right.
    """
    if not config.getoption("loadgroup", default=False):  # xdist sets it on its workers
        return
    ordered = start_order([item.nodeid for item in items], config.rootpath)
    rank = {nodeid: position for position, nodeid in enumerate(ordered)}
    items.sort(key=lambda item: rank[item.nodeid])


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # xdist's own hook would pick its loadgroup
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class CdkGroupScheduling(LoadScopeScheduling):
        """``loadfile``, except that every module marked ``cdk`` is one unit, the units are
        queued in :func:`start_order`, and a worker takes the unit :func:`next_unit` picks."""

        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid, config.rootpath)

        def _assign_work_unit(self, node: Any) -> None:
            # xdist hands out the queue's first unit: put the chosen one there
            waiting_now = any(
                not all(done.values()) and unit_waits(unit, config.rootpath)
                for work in self.assigned_work.values()
                for unit, done in work.items()
            )
            chosen = next_unit(list(self.workqueue), waiting_now, config.rootpath)
            self.workqueue.move_to_end(chosen, last=False)
            super()._assign_work_unit(node)

        def schedule(self) -> None:
            # the workers collected in start order (pytest_collection_modifyitems): xdist
            # queues the units in collection order when it does not reorder them by size
            self.config.option.loadscopereorder = False
            super().schedule()

    return CdkGroupScheduling(config, log)
