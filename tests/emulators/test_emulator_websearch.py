"""The emulator's InvokeWebSearch: its ranking over the corpus fixture (no server), and its
validation errors on the wire (raw requests, which botocore's own validation would stop)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from emulators.code_interpreter.websearch import load_corpus

pytestmark = pytest.mark.sandbox


def test_the_corpus_has_pages_long_pages_with_tables_and_a_pdf() -> None:
    corpus = load_corpus()
    assert len(corpus.pages) >= 30
    hosts = {p.host for p in corpus.pages}
    assert len({".".join(h.split(".")[-2:]) for h in hosts}) >= 5
    assert all(h.endswith(".test") for h in hosts)
    long_pages = [p for p in corpus.pages if p.host == "openclimate-data.test"]
    assert len(long_pages) == 5 and all(len(p.text) > 15_000 for p in long_pages)
    assert any(p.url.endswith(".pdf") for p in corpus.pages)


def test_ranking_prefers_title_matches_then_newer_pages() -> None:
    ranked = load_corpus().search("ferry sailings")
    assert ranked[0][1].url == "https://harborcity-news.test/local/2026/06/ferry-schedule"
    scores = [s for s, _ in ranked]
    assert scores == sorted(scores, reverse=True)
    assert load_corpus().search("the of and") == []


def _post(url: str, body: Any, search_id: str = "web-search.v1") -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        f"{url}/web-search/{search_id}/invoke",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"searchQuery": ""}, "searchQuery"),
        ({"searchQuery": "x" * 201}, "searchQuery"),
        ({"searchQuery": "harbor", "maxResults": 0}, "maxResults"),
        ({"searchQuery": "harbor", "maxResults": 26}, "maxResults"),
        (
            {"searchQuery": "harbor", "filters": {"domainFilter": {"include": []}}},
            "filters.domainFilter.include",
        ),
        (
            {"searchQuery": "harbor", "filters": {"domainFilter": {"exclude": ["https://a.test"]}}},
            "filters.domainFilter.exclude",
        ),
        (
            {"searchQuery": "harbor", "filters": {"publishedDateFilter": {"publishedAfter": "x"}}},
            "filters.publishedDateFilter.publishedAfter",
        ),
    ],
)
def test_validation_errors_name_the_field(emulator_url: str, body: Any, field: str) -> None:
    status, data = _post(emulator_url, body)
    assert status == 400
    assert data["reason"] == "FieldValidationFailed"
    assert [f["name"] for f in data["fieldList"]] == [field]


def test_an_unknown_search_tool_is_not_found(emulator_url: str) -> None:
    status, data = _post(emulator_url, {"searchQuery": "harbor"}, search_id="web-search.v2")
    assert status == 404
    assert "web-search.v2" in data["message"]
