"""The hostile-URL suite (issue 17): every URL is refused with the right code, and the canary
on 127.0.0.1 (the corpus server, which records every request) proves nothing was fetched.

Name resolution is stubbed (conftest.STUB_DNS); every socket connect of these tests is
audited and must go to loopback (the ``canary`` fixture). The only requests the canary may
see are the redirecting pages the redirect tests ask for.
"""

from __future__ import annotations

import pytest
from code_exec.web.fetcher import Fetcher
from code_exec.web.types import WebToolError

from emulators.web_corpus import CorpusServer

from .conftest import connects

PORT = "{port}"  # the canary's port, filled in per test

HOSTILE: list[tuple[str, str]] = [
    # loopback and "this host", every spelling
    ("http://127.0.0.1:{port}/", "url_not_allowed"),
    (
        "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next",
        "url_not_allowed",
    ),  # Lambda Runtime API
    ("http://localhost:{port}/", "url_not_allowed"),
    ("http://LOCALHOST.:{port}/", "url_not_allowed"),
    ("http://[::1]:{port}/", "url_not_allowed"),
    ("http://[::]:{port}/", "url_not_allowed"),
    ("http://0.0.0.0:{port}/", "url_not_allowed"),
    ("http://0:{port}/", "url_not_allowed"),
    ("http://2130706433:{port}/", "url_not_allowed"),
    ("http://0177.0.0.1:{port}/", "url_not_allowed"),
    ("http://0x7f000001:{port}/", "url_not_allowed"),
    ("http://0x7f.0.0.1:{port}/", "url_not_allowed"),
    ("http://127.1:{port}/", "url_not_allowed"),
    ("http://[::ffff:127.0.0.1]:{port}/", "url_not_allowed"),
    ("http://[::ffff:7f00:1]:{port}/", "url_not_allowed"),
    ("http://[::127.0.0.1]:{port}/", "url_not_allowed"),  # IPv4-compatible
    ("http://[64:ff9b::7f00:1]:{port}/", "url_not_allowed"),  # NAT64 of loopback
    ("http://[64:ff9b::a00:1]/", "url_not_allowed"),  # NAT64 of 10.0.0.1
    ("http://[2002:7f00:1::]/", "url_not_allowed"),  # 6to4 of loopback
    # metadata and link-local
    ("http://169.254.169.254/latest/meta-data/iam/security-credentials/", "url_not_allowed"),
    ("http://[fd00:ec2::254]/latest/meta-data/", "url_not_allowed"),
    ("http://169.254.170.2/v2/credentials", "url_not_allowed"),
    ("http://[fe80::1%25eth0]/", "url_not_allowed"),
    # private, CGNAT, multicast, reserved, documentation
    ("http://10.0.0.1/", "url_not_allowed"),
    ("http://172.16.5.4/", "url_not_allowed"),
    ("http://192.168.1.1/", "url_not_allowed"),
    ("http://100.64.0.1/", "url_not_allowed"),
    ("http://224.0.0.1/", "url_not_allowed"),
    ("http://240.0.0.1/", "url_not_allowed"),
    ("http://255.255.255.255/", "url_not_allowed"),
    ("http://[fc00::1]/", "url_not_allowed"),
    ("http://[ff02::1]/", "url_not_allowed"),
    # names that resolve (stub) to non-public addresses, or to a mixed answer
    ("http://loopback.attacker.test:{port}/", "url_not_allowed"),
    ("http://private.attacker.test/", "url_not_allowed"),
    ("http://mixed.attacker.test:{port}/", "url_not_allowed"),
    ("http://metadata.attacker.test/latest/meta-data/", "url_not_allowed"),
    ("http://v6.attacker.test:{port}/", "url_not_allowed"),
    ("http://mapped.attacker.test:{port}/", "url_not_allowed"),
    ("http://cgnat.attacker.test/", "url_not_allowed"),
    ("http://ula.attacker.test/", "url_not_allowed"),
    # user info tricks
    ("http://evil@127.0.0.1:{port}/", "url_not_allowed"),
    ("https://openclimate-data.test@127.0.0.1:{port}/", "url_not_allowed"),
    ("https://user:pass@openclimate-data.test/reports/emissions-by-sector", "url_not_allowed"),
    # schemes other than http(s)
    ("file:///etc/passwd", "url_not_allowed"),
    ("gopher://127.0.0.1:{port}/_GET%20/", "url_not_allowed"),
    ("ftp://127.0.0.1:{port}/", "url_not_allowed"),
    ("dict://127.0.0.1:{port}/info", "url_not_allowed"),
    ("data:text/html,<h1>hi</h1>", "url_not_allowed"),
    # malformed and overlong
    ("https://openclimate-data.test/" + "a" * 300, "url_too_long"),
    ("http://127.0.0.1:{port}/\r\nHost: evil", "invalid_tool_input"),
    ("http:///nohost", "invalid_tool_input"),
]


def _refused(fetcher: Fetcher, url: str) -> str:
    with pytest.raises(WebToolError) as caught:
        fetcher.fetch(url)
    return caught.value.error_code


def test_the_suite_has_at_least_twenty_urls() -> None:
    assert len(HOSTILE) >= 20


@pytest.mark.parametrize(("url", "code"), HOSTILE)
def test_a_hostile_url_is_refused_and_nothing_is_fetched(
    fetcher: Fetcher, canary: CorpusServer, url: str, code: str
) -> None:
    assert _refused(fetcher, url.format(port=canary.port)) == code
    assert canary.requests == []
    assert connects() == []  # refused before any socket was opened


REDIRECT_TARGETS = [
    "http://10.0.0.1/",
    "http://127.0.0.1:{port}/",
    "http://[::1]:{port}/",
    "http://169.254.169.254/latest/meta-data/",
    "http://loopback.attacker.test:{port}/",
    "http://2130706433:{port}/",
    "file:///etc/passwd",
]


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("target", REDIRECT_TARGETS)
def test_a_redirect_to_a_hostile_url_is_refused_after_the_one_intended_request(
    fetcher: Fetcher, canary: CorpusServer, code: int, target: str
) -> None:
    to = target.format(port=canary.port)
    url = f"https://openclimate-data.test/_redirect?code={code}&to={to}"
    assert _refused(fetcher, url) == "url_not_allowed"
    # only the redirecting page was requested; the canary saw nothing else
    assert [(h, p.split("?")[0]) for h, _, p in canary.requests] == [
        ("openclimate-data.test", "/_redirect")
    ]
    assert connects() == [("127.0.0.1", canary.port)]  # one connection: the redirecting page


def test_the_canary_does_record_a_request(fetcher: Fetcher, canary: CorpusServer) -> None:
    """The proof above is only worth something if the canary sees what is fetched."""
    fetcher.fetch("https://pyforge.test/guides/regex")
    assert canary.requests == [("pyforge.test", "GET", "/guides/regex")]
    assert connects() == [("127.0.0.1", canary.port)]  # and the connect audit sees connects
