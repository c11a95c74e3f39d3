"""AgentCoreWebSearch against the emulator's InvokeWebSearch (every response checked against
botocore's model by the conformance plugin), over the corpus fixture."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError
from code_exec.exceptions import DependencyAccessDeniedError
from code_exec.web.search import AgentCoreWebSearch, make_search_client
from code_exec.web.types import SearchRequest, WebToolError

pytestmark = pytest.mark.sandbox


@pytest.fixture
def client(agentcore_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    for k, v in agentcore_env.items():
        monkeypatch.setenv(k, v)
    return make_search_client()


@pytest.fixture
def search(client: Any) -> AgentCoreWebSearch:
    return AgentCoreWebSearch(client)


def _fault(url: str, exception: str, count: int) -> None:
    body = {"exception": exception, "mode": "http", "operation": "InvokeWebSearch", "count": count}
    req = urllib.request.Request(
        url + "/_emulator/faults", data=json.dumps(body).encode(), method="POST"
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        assert json.loads(r.read()) == {"ok": True}


def test_results_are_ranked_by_relevance(search: AgentCoreWebSearch) -> None:
    hits = search.search(SearchRequest("installed renewable capacity by country"))
    assert hits[0].url == "https://openclimate-data.test/datasets/renewable-capacity-2025"
    assert hits[0].title == "Installed renewable capacity by country, 2025"
    assert hits[0].page_age == "2026-03-01T00:00:00+00:00"
    assert "gigawatts" in hits[0].text


def test_max_results_is_honoured(search: AgentCoreWebSearch) -> None:
    assert len(search.search(SearchRequest("the", max_results=25))) == 0  # stop words only
    assert len(search.search(SearchRequest("harbor city", max_results=3))) == 3


def test_allowed_domains_include_subdomains(search: AgentCoreWebSearch) -> None:
    hits = search.search(
        SearchRequest("harbor city", max_results=25, allowed_domains=("northwind-analytics.test",))
    )
    hosts = {h.url.split("/")[2] for h in hits}
    assert hosts and hosts <= {"docs.northwind-analytics.test", "blog.northwind-analytics.test"}


def test_blocked_domains_and_path_rules(search: AgentCoreWebSearch) -> None:
    hits = search.search(
        SearchRequest("harbor city", max_results=25, blocked_domains=("harborcity-news.test",))
    )
    assert hits and not any("harborcity-news.test" in h.url for h in hits)
    only = search.search(
        SearchRequest("harbor", max_results=25, allowed_domains=("harborcity-news.test/business",))
    )
    assert only and all(h.url.startswith("https://harborcity-news.test/business/") for h in only)


def test_date_filters_are_inclusive_and_validated(client: Any) -> None:
    reply = client.invoke_web_search(
        webSearchId="web-search.v1",
        searchQuery="harbor city",
        filters={
            "publishedDateFilter": {
                "publishedAfter": "2026-06-01T00:00:00Z",
                "publishedBefore": "2026-06-08T14:00:00Z",
            }
        },
    )
    urls = sorted(r["url"] for r in reply["results"])
    assert urls == [
        "https://harborcity-news.test/local/2026/06/ferry-schedule",
        "https://harborcity-news.test/sports/2026/06/marathon",
    ]
    with pytest.raises(ClientError) as caught:
        client.invoke_web_search(
            webSearchId="web-search.v1",
            searchQuery="harbor",
            filters={
                "publishedDateFilter": {
                    "publishedAfter": "2026-06-02T00:00:00Z",
                    "publishedBefore": "2026-06-01T00:00:00Z",
                }
            },
        )
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert caught.value.response["reason"] == "FieldValidationFailed"


def test_a_query_over_200_characters_is_query_too_long(search: AgentCoreWebSearch) -> None:
    with pytest.raises(WebToolError) as caught:
        search.search(SearchRequest("q" * 201))
    assert caught.value.error_code == "query_too_long"


def test_an_unknown_search_tool_is_unavailable(client: Any) -> None:
    with pytest.raises(WebToolError) as caught:
        AgentCoreWebSearch(client, web_search_id="web-search.v9").search(SearchRequest("harbor"))
    assert caught.value.error_code == "unavailable"


@pytest.mark.parametrize(
    ("exception", "code"),
    [("ThrottlingException", "too_many_requests"), ("ServiceUnavailableException", "unavailable")],
)
def test_service_failures_after_retries_are_what_the_model_sees(
    search: AgentCoreWebSearch, emulator_url: str, exception: str, code: str
) -> None:
    _fault(emulator_url, exception, 3)  # every attempt of the call (3)
    with pytest.raises(WebToolError) as caught:
        search.search(SearchRequest("harbor"))
    assert caught.value.error_code == code
    assert search.search(SearchRequest("harbor"))  # the faults are used up


def test_a_retried_throttle_succeeds(search: AgentCoreWebSearch, emulator_url: str) -> None:
    _fault(emulator_url, "ThrottlingException", 1)
    assert search.search(SearchRequest("harbor"))


def test_access_denied_ends_the_turn(search: AgentCoreWebSearch, emulator_url: str) -> None:
    _fault(emulator_url, "AccessDeniedException", 1)
    with pytest.raises(DependencyAccessDeniedError):
        search.search(SearchRequest("harbor"))


def test_published_date_bounds_are_passed_on(search: AgentCoreWebSearch) -> None:
    hits = search.search(
        SearchRequest(
            "harbor city",
            max_results=25,
            published_after="2026-06-01",
            published_before="2026-06-08T14:00:00Z",
        )
    )
    assert sorted(h.url.rsplit("/", 1)[-1] for h in hits) == ["ferry-schedule", "marathon"]
    with pytest.raises(WebToolError) as caught:
        search.search(SearchRequest("harbor", published_after="last week"))
    assert caught.value.error_code == "invalid_tool_input"
