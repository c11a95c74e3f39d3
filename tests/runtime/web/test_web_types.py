"""The web backends' error codes are exactly the ``anthropic`` SDK's, and the domain rules
behave as Anthropic documents them."""

from __future__ import annotations

import typing

import pytest
from anthropic.types import WebFetchToolResultErrorCode, WebSearchToolResultErrorCode
from code_exec.web.domains import allowed, parse_rules
from code_exec.web.types import FETCH_ERROR_CODES, SEARCH_ERROR_CODES, WebToolError


def test_error_codes_are_the_sdks() -> None:
    assert frozenset(typing.get_args(WebSearchToolResultErrorCode)) == SEARCH_ERROR_CODES
    assert frozenset(typing.get_args(WebFetchToolResultErrorCode)) == FETCH_ERROR_CODES


def test_a_code_outside_anthropics_lists_is_refused() -> None:
    with pytest.raises(ValueError, match="not an Anthropic"):
        WebToolError("forbidden")  # type: ignore[arg-type]
    error = WebToolError("url_not_allowed", "private address")
    assert error.error_code == "url_not_allowed"
    assert error.message == "private address"


@pytest.mark.parametrize(
    ("url", "rules", "expected"),
    [
        ("https://example.com/a", ["example.com"], True),
        ("https://docs.example.com/a", ["example.com"], True),
        ("https://badexample.com/a", ["example.com"], False),
        ("https://example.com/a", ["docs.example.com"], False),
        ("https://api.docs.example.com/", ["docs.example.com"], True),
        ("https://EXAMPLE.com./x", ["example.com"], True),
        ("https://example.com/blog/post-1", ["example.com/blog"], True),
        ("https://example.com/about", ["example.com/blog"], False),
        ("https://example.com/docs/v2/api", ["example.com/docs/*/api"], True),
        ("https://example.com/docs/v2/guide", ["example.com/docs/*/api"], False),
        ("https://münchen.de/", ["xn--mnchen-3ya.de"], True),
    ],
)
def test_allowed_domains(url: str, rules: list[str], expected: bool) -> None:
    assert allowed(url, parse_rules(rules), ()) is expected


def test_blocked_domains_win_and_cover_subdomains() -> None:
    block = parse_rules(["tracker.example"], name="blocked_domains")
    assert not allowed("https://a.tracker.example/x", (), block)
    assert allowed("https://example.org/x", (), block)


@pytest.mark.parametrize("rule", ["https://example.com", "", "exa mple..com/"])
def test_a_malformed_rule_is_invalid_tool_input(rule: str) -> None:
    with pytest.raises(WebToolError) as caught:
        parse_rules([rule])
    assert caught.value.error_code == "invalid_tool_input"


def test_the_web_search_id_setting_is_validated() -> None:
    from code_exec.config import ConfigError, RuntimeConfig

    assert RuntimeConfig.from_env({}).web_search_id == "web-search.v1"
    assert (
        RuntimeConfig.from_env({"WEB_SEARCH_ID": "web-search.v2"}).web_search_id == "web-search.v2"
    )
    with pytest.raises(ConfigError, match="WEB_SEARCH_ID"):
        RuntimeConfig.from_env({"WEB_SEARCH_ID": "Web Search"})
