"""What ``make setup`` compiles is what a sandbox imports (code_interpreter/precompile.py).

The sandboxes see the virtualenv read-only: a module they import that setup did not compile is
compiled again in every session. These tests compare the list setup compiles with what a kernel
really loads, so a new sandbox package (or a new dependency of one) that the list misses fails
here rather than as a slow first cell on a fresh clone.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulators.code_interpreter import precompile

pytestmark = pytest.mark.sandbox

# What a cell loads: the kernel's own modules (the zygote imported them), then the packages the
# sandbox offers (sandbox-requirements.txt) and what they import on first use.
CELL = "import numpy, pandas, matplotlib, matplotlib.pyplot\n" + precompile.LIST_LOADED


def test_the_closure_holds_the_sandbox_packages_and_the_kernel() -> None:
    names = set(
        precompile.closure([*precompile.requirement_names(precompile.SANDBOX_REQUIREMENTS)])
    )
    assert {"numpy", "pandas", "matplotlib", "python-dateutil", "pillow"} <= names
    kernel = set(precompile.closure(list(precompile.KERNEL_DISTRIBUTIONS)))
    assert {"ipykernel", "ipython", "jupyter-client", "pyzmq", "tornado", "traitlets"} <= kernel
    assert "moto" not in names | kernel  # test tooling is not the sandbox's


def test_every_module_a_kernel_loads_from_the_venv_is_compiled_by_setup(
    new_session, invoke
) -> None:
    sid = new_session()
    result = invoke(sid, "executeCode", code=CELL)
    assert result["isError"] is False, result
    loaded = {Path(f) for f in json.loads(result["structuredContent"]["stdout"])}
    assert len(loaded) > 500  # numpy, pandas, matplotlib and the kernel: the cell saw them

    compiled = precompile.sandbox_sources()
    missed = sorted(str(p) for p in loaded - set(compiled))
    assert not missed, f"{len(missed)} modules a kernel loads are not precompiled: {missed[:10]}"


def test_compiling_twice_leaves_the_bytecode_alone(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("X = 1\n")
    broken = tmp_path / "py2.py"
    broken.write_text("print 'python 2'\n")

    assert precompile.compile_sources([module, broken], workers=1) == 1
    (cached,) = (tmp_path / "__pycache__").glob("m.*.pyc")
    first = cached.stat().st_mtime_ns
    assert precompile.compile_sources([module], workers=1) == 0
    assert cached.stat().st_mtime_ns == first
