"""The guard on its own (no packet is sent: ``Guard.check`` only resolves, with a stub):
what it lets through, and that it resolves a name once and hands the fetcher that address."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from code_exec.web.addresses import host_literal, refusal
from code_exec.web.domains import parse_rules
from code_exec.web.guard import Guard
from code_exec.web.types import WebToolError

PUBLIC = {
    "www.example.org": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
    "xn--mnchen-3ya.example": ["93.184.216.35"],
}


class CountingResolver:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append(host)
        return PUBLIC[host]


def test_a_public_name_is_resolved_once_and_its_address_is_the_target() -> None:
    resolver = CountingResolver()
    target = Guard(resolver).check("https://www.example.org/a?b=1")
    assert resolver.calls == ["www.example.org"]
    assert (target.address, target.port, target.tls) == ("93.184.216.34", 443, True)
    assert (target.host, target.host_header, target.path) == (
        "www.example.org",
        "www.example.org",
        "/a?b=1",
    )


def test_an_international_name_is_sent_in_its_ascii_form() -> None:
    target = Guard(CountingResolver()).check("http://münchen.example:8080/")
    assert target.host == "xn--mnchen-3ya.example"
    assert target.host_header == "xn--mnchen-3ya.example:8080"


@pytest.mark.parametrize(
    ("url", "address", "header"),
    [
        ("http://93.184.216.34/", "93.184.216.34", "93.184.216.34"),
        (
            "https://[2606:4700:4700::1111]:8443/",
            "2606:4700:4700::1111",
            "[2606:4700:4700::1111]:8443",
        ),
        (
            "http://[64:ff9b::5db8:d822]/",
            "64:ff9b::5db8:d822",
            "[64:ff9b::5db8:d822]",
        ),  # NAT64 of public
    ],
)
def test_public_address_hosts_pass_without_resolution(url: str, address: str, header: str) -> None:
    resolver = CountingResolver()
    target = Guard(resolver).check(url)
    assert (target.address, target.host_header) == (address, header)
    assert resolver.calls == []


def test_domain_rules_apply_to_address_hosts_too() -> None:
    guard = Guard(CountingResolver())
    with pytest.raises(WebToolError, match="domain rules") as caught:
        guard.check("http://93.184.216.34/", parse_rules(["example.org"]))
    assert caught.value.error_code == "url_not_allowed"


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "169.254.169.254",
        "::1",
        "::ffff:8.8.8.8",
        "fd00:ec2::254",
        "100.64.1.1",
    ],
)
def test_non_public_addresses_have_a_reason(address: str) -> None:
    import ipaddress

    assert refusal(ipaddress.ip_address(address))


def test_public_addresses_have_none() -> None:
    import ipaddress

    assert refusal(ipaddress.ip_address("8.8.8.8")) is None
    assert refusal(ipaddress.ip_address("2001:4860:4860::8888")) is None


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "0177.0.0.1", "127.1", "1.2.3.08"])
def test_non_canonical_ipv4_spellings_are_refused(host: str) -> None:
    with pytest.raises(ValueError, match="non-canonical"):
        host_literal(host)


def test_names_are_not_addresses() -> None:
    assert host_literal("www.example.org") is None
    assert host_literal("1.2.3.4.nip.test") is None
