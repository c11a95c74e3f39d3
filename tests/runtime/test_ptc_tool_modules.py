"""A deployment's own tool modules (``PTC_TOOL_MODULES``, set by the construct's ``tools``):
loaded next to ``sandbox_assets/`` with the placement the deployment gave them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from code_exec.config import ConfigError
from code_exec.ptc import assets

TOOL = '''
TOOLS = ["{name}"]
PLACEMENT = "preloaded"  # the deployment's placement wins over the module's own


def {name}(city: str) -> str:
    """Weather of a city.

    Args:
        city: The city.

    Returns:
        A word.
    """
    return "sunny in " + city
'''


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    assets.default_registry.cache_clear()
    yield
    assets.default_registry.cache_clear()


def _env(*entries: tuple[Path, str]) -> str:
    return json.dumps([{"path": str(p), "placement": pl} for p, pl in entries])


def test_modules_and_packages_load_with_the_deployments_placement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_registry: None
) -> None:
    module = tmp_path / "weather_one.py"
    module.write_text(TOOL.format(name="weather_one"))
    package = tmp_path / "weather_two"
    package.mkdir()
    (package / "__init__.py").write_text(TOOL.format(name="weather_two"))
    monkeypatch.setenv("PTC_TOOL_MODULES", _env((module, "bridged"), (package, "preloaded")))
    registry = assets.default_registry()
    assert registry.get("weather_one").placement == "bridged"
    assert registry.get("weather_two").placement == "preloaded"
    assert registry.get("weather_one")(city="Oslo") == "sunny in Oslo"
    assert "get_expenses" in registry  # sandbox_assets/ tools are still there
    # a relative path is relative to the bundle root (the directory holding code_exec/)
    [(path, _)] = assets.deployment_tool_modules(
        {"PTC_TOOL_MODULES": '[{"path": "tool_modules/x.py", "placement": "bridged"}]'}
    )
    assert path == Path(assets.__file__).resolve().parents[2] / "tool_modules" / "x.py"


def test_a_tool_name_offered_twice_names_both_modules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_registry: None
) -> None:
    module = tmp_path / "expenses_again.py"
    module.write_text(TOOL.format(name="get_expenses"))
    monkeypatch.setenv("PTC_TOOL_MODULES", _env((module, "bridged")))
    with pytest.raises(ValueError, match=r"'get_expenses' is defined in both sandbox_assets/"):
        assets.default_registry()


@pytest.mark.parametrize(
    "raw",
    ["not json", '{"path": "x.py"}', '[{"path": "x.py", "placement": "inside"}]', "[1]"],
)
def test_a_malformed_variable_is_a_config_error_naming_it(raw: str) -> None:
    with pytest.raises(ConfigError, match="PTC_TOOL_MODULES"):
        assets.deployment_tool_modules({"PTC_TOOL_MODULES": raw})


def test_unset_or_empty_means_no_deployment_modules() -> None:
    assert assets.deployment_tool_modules({}) == []
    assert assets.deployment_tool_modules({"PTC_TOOL_MODULES": "[]"}) == []
