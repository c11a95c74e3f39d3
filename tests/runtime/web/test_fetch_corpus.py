"""The fetcher against the loopback corpus: content types, limits, redirects, domain rules."""

from __future__ import annotations

import base64

import pytest
from code_exec import deadline
from code_exec.exceptions import DeadlineExceededError
from code_exec.web.fetcher import Fetcher, loopback_corpus, make_fetcher
from code_exec.web.guard import Guard, LoopbackCorpus
from code_exec.web.types import WebToolError

from emulators.web_corpus import CorpusServer

from .conftest import stub_resolver

pytestmark = pytest.mark.cdk

OC = "https://openclimate-data.test"


def _code(fetcher: Fetcher, url: str, **kwargs: object) -> str:
    with pytest.raises(WebToolError) as caught:
        fetcher.fetch(url, **kwargs)  # type: ignore[arg-type]
    return caught.value.error_code


def test_an_html_page_becomes_text_with_its_title_and_tables(fetcher, canary) -> None:
    doc = fetcher.fetch(f"{OC}/reports/emissions-by-sector")
    assert doc.media_type == "text/plain"
    assert doc.title == "Global greenhouse gas emissions by sector, 2020-2025"
    assert "| Electricity and heat |" in (doc.text or "")
    assert "Privacy | Terms" not in (doc.text or "")  # the footer is boilerplate
    assert doc.url == f"{OC}/reports/emissions-by-sector"
    assert doc.retrieved_at.endswith("Z")
    assert canary.requests == [("openclimate-data.test", "GET", "/reports/emissions-by-sector")]


def test_a_text_page_is_returned_as_is(fetcher) -> None:
    doc = fetcher.fetch("https://status.northwind-analytics.test/status.txt")
    assert doc.media_type == "text/plain"
    assert (doc.text or "").startswith("All Northwind systems operational.")


def test_a_pdf_is_a_base64_document(fetcher) -> None:
    doc = fetcher.fetch("https://northwind-analytics.test/investors/annual-report-2025.pdf")
    assert doc.media_type == "application/pdf"
    assert doc.text is None
    assert base64.b64decode(doc.data_base64 or "").startswith(b"%PDF-1.4")


@pytest.mark.parametrize("ct", ["image/png", "application/zip", "video/mp4"])
def test_other_content_types_are_unsupported(fetcher, ct: str) -> None:
    assert _code(fetcher, f"{OC}/_type?ct={ct}") == "unsupported_content_type"


def test_a_body_over_the_limit_is_content_too_large(fetcher) -> None:
    assert _code(fetcher, f"{OC}/_big?bytes=5000", max_bytes=4096) == "content_too_large"
    assert fetcher.fetch(f"{OC}/_big?bytes=4096", max_bytes=4096).text == "x" * 4096


def test_an_http_error_is_url_not_accessible(fetcher) -> None:
    assert _code(fetcher, f"{OC}/no/such/page") == "url_not_accessible"


def test_an_unknown_name_is_url_not_accessible(fetcher, canary) -> None:
    assert _code(fetcher, "https://unknown-name.example/") == "url_not_accessible"
    assert canary.requests == []


def test_a_redirect_inside_the_corpus_is_followed(fetcher, canary) -> None:
    doc = fetcher.fetch(f"{OC}/_redirect?to=https://pyforge.test/guides/regex&code=301")
    assert doc.url == "https://pyforge.test/guides/regex"
    assert [r[0] for r in canary.requests] == ["openclimate-data.test", "pyforge.test"]


def test_redirects_are_bounded(fetcher, canary) -> None:
    loop = f"{OC}/_redirect"
    assert _code(fetcher, loop) == "url_not_accessible"
    assert len(canary.requests) == 6  # the first request and five redirects, no more


def test_the_fetch_is_bounded_in_time(canary) -> None:
    quick = Fetcher(
        Guard(stub_resolver, corpus=LoopbackCorpus(canary.port, canary.domains)), seconds=0.3
    )
    assert _code(quick, f"{OC}/_slow?seconds=3") == "url_not_accessible"


def test_a_passed_deadline_ends_the_turn(fetcher, canary) -> None:
    with deadline.bound(deadline.Deadline.after(0)), pytest.raises(DeadlineExceededError):
        fetcher.fetch(f"{OC}/reports/emissions-by-sector")
    assert canary.requests == []


def test_domain_rules_refuse_before_any_request(fetcher, canary) -> None:
    url = f"{OC}/reports/emissions-by-sector"
    assert _code(fetcher, url, allowed_domains=["pyforge.test"]) == "url_not_allowed"
    assert _code(fetcher, url, blocked_domains=["openclimate-data.test"]) == "url_not_allowed"
    assert canary.requests == []
    assert fetcher.fetch(url, allowed_domains=["openclimate-data.test/reports"]).title


def test_a_redirect_out_of_the_allowed_domains_is_refused(fetcher, canary) -> None:
    url = f"{OC}/_redirect?to=https://pyforge.test/guides/regex"
    assert _code(fetcher, url, allowed_domains=["openclimate-data.test"]) == "url_not_allowed"
    assert [r[0] for r in canary.requests] == ["openclimate-data.test"]


def test_the_deployed_fetcher_has_no_loopback_allowance(monkeypatch) -> None:
    monkeypatch.delenv("WEB_FETCH_LOOPBACK_CORPUS", raising=False)
    assert make_fetcher().guard.corpus is None


def test_the_loopback_allowance_is_127_0_0_1_and_test_domains_only() -> None:
    with pytest.raises(ValueError, match=r"only \.test"):
        LoopbackCorpus(8080, ("example.com",))
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        LoopbackCorpus(8080, ("a.test",), address="10.0.0.1")
    spec = '{"port": 9, "domains": ["a.test"]}'
    corpus = loopback_corpus({"WEB_FETCH_LOOPBACK_CORPUS": spec})
    assert corpus == LoopbackCorpus(9, ("a.test",))
    assert corpus.covers("docs.a.test") and not corpus.covers("ba.test")


def test_no_stack_environment_sets_the_loopback_allowance() -> None:
    from bedrock_code_execution.runtime_env import (
        RuntimeWiring,
        runtime_environment,
        streaming_environment,
    )
    from stacks.settings import Settings

    env = runtime_environment(Settings(), RuntimeWiring("ci", "bucket", "table", "arn"))
    assert "WEB_FETCH_LOOPBACK_CORPUS" not in env
    assert "WEB_FETCH_LOOPBACK_CORPUS" not in streaming_environment(env)


def test_corpus_server_reports_its_domains(corpus: CorpusServer) -> None:
    assert "openclimate-data.test" in corpus.domains
    assert all(d.endswith(".test") for d in corpus.domains)


def test_a_compressed_body_is_bounded_by_its_decompressed_size(fetcher) -> None:
    assert fetcher.fetch(f"{OC}/_gzip?bytes=10000").text == "a" * 10000
    # 20 MB of "a" is about 20 KB gzipped: the limit applies to what it inflates to
    bomb = f"{OC}/_gzip?bytes=20000000"
    assert _code(fetcher, bomb, max_bytes=1024 * 1024) == "content_too_large"
