"""Tool schemas, specs and the PTC system prompt derived from typed, documented functions."""

from __future__ import annotations

import sys
from typing import Literal

import pytest
from code_exec.prompts import direct_system_prompt, ptc_system_prompt
from code_exec.ptc.registry import Tool, ToolRegistry, parse_docstring, tool_schema

from devtools.expense import expense_registry


def search_orders(
    customer_id: str,
    status: Literal["open", "shipped"] = "open",
    limit: int = 10,
    tags: list[str] | None = None,
    min_total: float | None = None,
) -> str:
    """Search a customer's orders.

    Longer explanation that is not part of the summary.

    Args:
        customer_id: The customer's id.
        status (str): Order status to match.
        limit: Maximum number of orders,
            counted after filtering.
        tags: Only orders with all of these tags.
        min_total: Smallest order total in USD.

    Returns:
        str: JSON list of orders.
    """
    return "[]"


def test_schema_from_hints_and_docstring() -> None:
    assert tool_schema(search_orders) == {
        "type": "object",
        "properties": {
            "customer_id": {"type": "string", "description": "The customer's id."},
            "status": {
                "type": "string",
                "enum": ["open", "shipped"],
                "description": "Order status to match.",
                "default": "open",
            },
            "limit": {
                "type": "integer",
                "description": "Maximum number of orders, counted after filtering.",
                "default": 10,
            },
            "tags": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Only orders with all of these tags.",
            },
            "min_total": {"type": "number", "description": "Smallest order total in USD."},
        },
        "required": ["customer_id"],
    }


def test_docstring_parts() -> None:
    doc = parse_docstring(search_orders.__doc__)
    assert doc.summary == "Search a customer's orders."
    assert doc.returns == "JSON list of orders."
    assert doc.details.startswith("Longer explanation")


def test_tool_spec_parts_and_catalogue() -> None:
    reg = ToolRegistry()
    tool = reg.register(search_orders)
    assert reg.get("search_orders") is tool and "search_orders" in reg and len(reg) == 1
    assert tool.name == "search_orders"
    assert tool.parameters["required"] == ["customer_id"]
    assert tool.description == "Search a customer's orders. Returns: JSON list of orders."
    assert tool.catalogue_entry().splitlines() == [
        "async def search_orders(customer_id: str, status: Literal['open', 'shipped'] = 'open', "
        "limit: int = 10, tags: list[str] | None = None, min_total: float | None = None) -> str",
        "    Search a customer's orders.",
        "    Returns: JSON list of orders.",
    ]


def test_registry_errors() -> None:
    reg = ToolRegistry()
    reg.register(search_orders)
    with pytest.raises(ValueError, match="already registered"):
        reg.register(search_orders)
    with pytest.raises(KeyError, match="known: search_orders"):
        reg.get("nope")
    with pytest.raises(ValueError, match="docstring"):
        Tool.from_function(lambda x: x, name="undocumented")
    with pytest.raises(ValueError, match="placement"):
        Tool.from_function(search_orders, placement="elsewhere")  # type: ignore[arg-type]


def test_ptc_system_prompt_for_the_demo_tools() -> None:
    reg = expense_registry()
    prompt = ptc_system_prompt(reg.catalogue())
    assert "await" in prompt and "asyncio.gather" in prompt and "print" in prompt
    for name in ("get_team_members", "get_expenses", "get_custom_budget"):
        assert f"async def {name}(" in prompt
    assert "async def get_expenses(employee_id: str, quarter: str) -> str" in prompt
    # the published contract, as the catalogue tells the model
    assert '{"user_id", "budget_limit", "currency", "reason"} for every employee' in prompt
    assert "5000.0 (the standard budget)" in prompt and "null" not in prompt
    assert "with keyword arguments or one dict of arguments" in prompt
    assert "one call per tool use" in direct_system_prompt()


def test_docstring_variants() -> None:
    doc = parse_docstring(
        """Fetch a thing.

        Parameters:
            thing_id (int): Which thing.
            verbose: Say more: with details
                on two lines.

        Returns:
            dict: The thing.
        """
    )
    assert doc.params == {
        "thing_id": "Which thing.",
        "verbose": "Say more: with details on two lines.",
    }
    assert doc.returns == "The thing."
    assert parse_docstring(None).summary == ""


# --- the deployment's registry: every tool module in sandbox_assets/ ----------------------


def _write(directory, name: str, body: str) -> None:
    (directory / f"{name}.py").write_text(body)


_TOOL_MODULE = '''
TOOLS = ["{fn}"]
{placement}

def {fn}(x: int) -> int:
    """Doubles x.

    Args:
        x: A number.
    """
    return 2 * x
'''


@pytest.fixture
def assets_tmp(tmp_path, monkeypatch):
    from code_exec.ptc import assets

    (tmp_path / "ptc_runtime.py").write_text("# stands in for the PTC runtime\n")
    monkeypatch.setattr(assets, "assets_dir", lambda: tmp_path)
    assets.default_registry.cache_clear()
    yield tmp_path
    assets.default_registry.cache_clear()
    for key in [k for k in sys.modules if k.startswith("sandbox_assets.zz_")]:
        del sys.modules[key]


def test_default_registry_offers_every_tool_module_with_its_placement(assets_tmp) -> None:
    from code_exec.ptc.assets import default_registry, tool_module_names

    _write(assets_tmp, "zz_alpha", _TOOL_MODULE.format(fn="alpha", placement=""))
    _write(assets_tmp, "zz_beta", _TOOL_MODULE.format(fn="beta", placement='PLACEMENT = "bridged"'))
    _write(assets_tmp, "zz_helper", "raise RuntimeError('a helper module must not be imported')\n")

    assert tool_module_names() == ["zz_alpha", "zz_beta"]
    registry = default_registry()
    assert registry.names() == ["alpha", "beta"]
    assert [t.placement for t in registry] == ["preloaded", "bridged"]
    assert registry.get("beta")(21) == 42


def test_default_registry_refuses_a_tool_name_defined_twice(assets_tmp) -> None:
    from code_exec.ptc.assets import default_registry

    _write(assets_tmp, "zz_one", _TOOL_MODULE.format(fn="same", placement=""))
    _write(assets_tmp, "zz_two", _TOOL_MODULE.format(fn="same", placement=""))
    with pytest.raises(ValueError, match=r"zz_one\.py.*zz_two\.py"):
        default_registry()


def test_the_shipped_registry_holds_the_demo_tools() -> None:
    from code_exec.ptc.assets import default_registry

    assert {"get_team_members", "get_expenses", "get_custom_budget"} <= set(
        default_registry().names()
    )
