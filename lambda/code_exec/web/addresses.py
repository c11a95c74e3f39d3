"""Which IP addresses a fetch may connect to: public unicast only.

Checked on the exact address the fetcher connects to, after name resolution and after every
redirect (:mod:`code_exec.web.guard`). Refused: every address that is not globally routable
(Python's ``is_global`` is not enough on its own: it lets through IPv4-mapped, 6to4, Teredo
and NAT64 forms that embed an address), plus the cloud metadata addresses by name
(169.254.169.254, fd00:ec2::254) so the reason logged says what was attempted.

Host spellings that C resolvers read as IPv4 (``2130706433``, ``0x7f000001``, ``0177.0.0.1``,
``127.1``) are refused outright: a host whose last label is a number is an address
(the WHATWG URL rule), and only the canonical dotted quad is accepted as one.
"""

from __future__ import annotations

import ipaddress
import re

__all__ = ["IPAddress", "host_literal", "refusal"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_METADATA = {
    ipaddress.ip_address("169.254.169.254"): "the EC2/ECS metadata endpoint",
    ipaddress.ip_address("fd00:ec2::254"): "the EC2 IPv6 metadata endpoint",
    ipaddress.ip_address("169.254.170.2"): "the ECS task credentials endpoint",
}
_V4_DENY = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this network", 0.0.0.0 reaches the local host
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, metadata
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, broadcast
    )
)
_V6_DENY = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "::/96",  # unspecified, loopback, IPv4-compatible
        "::ffff:0:0/96",  # IPv4-mapped
        "::ffff:0:0:0/96",  # IPv4-translated
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard
        "2001::/23",  # IETF special purpose (Teredo 2001::/32 among them)
        "2001:db8::/32",  # documentation
        "2002::/16",  # 6to4: embeds an IPv4 address
        "fc00::/7",  # unique local (fd00:ec2::254 among them)
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)", re.IGNORECASE)


def refusal(address: IPAddress) -> str | None:
    """Why a fetch may not connect to ``address``; None when it may (public unicast)."""
    if address in _METADATA:
        return _METADATA[address]
    if isinstance(address, ipaddress.IPv6Address):
        if address in _NAT64:  # well-known NAT64 prefix: judge the IPv4 address it embeds
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
            why = refusal(embedded)
            return None if why is None else f"NAT64 of a non-public address ({why})"
        if address.scope_id:
            return "an IPv6 address with a zone"
        for net in _V6_DENY:
            if address in net:
                return f"a non-public IPv6 address ({net})"
    else:
        for net4 in _V4_DENY:
            if address in net4:
                return f"a non-public IPv4 address ({net4})"
    if not address.is_global or address.is_multicast:
        return "not a global unicast address"
    return None


def host_literal(host: str) -> IPAddress | None:
    """The address a URL host spells, None for a name to resolve.

    Raises:
        ValueError: a host that is an address in a non-canonical spelling (integer, octal,
            hex, shortened) or an invalid one: resolvers disagree on those, so none is used.
    """
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if ":" in bare:
        try:
            return ipaddress.IPv6Address(bare)
        except ValueError as e:
            raise ValueError(f"not a valid IPv6 address: {bare[:60]!r}") from e
    last = bare.rstrip(".").rsplit(".", 1)[-1]
    if not _NUMERIC_LABEL.fullmatch(last):
        return None
    try:
        address = ipaddress.IPv4Address(bare)
    except ValueError as e:
        raise ValueError(f"a non-canonical IPv4 address: {bare[:60]!r}") from e
    if str(address) != bare:
        raise ValueError(f"a non-canonical IPv4 address: {bare[:60]!r}")
    return address
