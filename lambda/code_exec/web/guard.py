"""Where a fetch may go: URL checks, name resolution and the address actually connected to.

Each URL (the first and every redirect target) passes :meth:`Guard.check`, which returns the
one address the fetcher connects to (:class:`Target`); the fetcher never resolves a name
itself, so a name that resolves differently on a second lookup (DNS rebinding) cannot change
where it connects. Refused before any packet leaves:

* not ``http``/``https``, user info in the URL (``http://evil@127.0.0.1``), a URL longer
  than Anthropic's limit (``url_too_long``), a host outside ``allowed_domains`` or inside
  ``blocked_domains`` (``url_not_allowed``);
* an address host that is not public, or spelled in a non-canonical form
  (:mod:`code_exec.web.addresses`);
* a name with ANY non-public address among its answers (a mixed answer is refused whole).

Name resolution is a function (:data:`Resolver`) so tests and ``make local`` resolve
without the network. The one exception to the loopback refusal is :class:`LoopbackCorpus`:
a local-only mapping of the corpus fixture's reserved ``.test`` domains to one
``127.0.0.1:port`` (plain HTTP), read from ``WEB_FETCH_LOOPBACK_CORPUS`` by
:func:`code_exec.web.fetcher.make_fetcher`; the stacks never set it (a stack test checks).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from code_exec.web.addresses import host_literal, refusal
from code_exec.web.domains import DomainRule, allowed, normalize_host
from code_exec.web.types import WebToolError

__all__ = ["MAX_URL_CHARS", "Guard", "LoopbackCorpus", "Resolver", "Target", "system_resolver"]

logger = logging.getLogger(__name__)

# Anthropic's web fetch answers ``url_too_long`` past 250 characters.
MAX_URL_CHARS = 250
_SCHEMES = {"http": 80, "https": 443}

Resolver = Callable[[str, int], Sequence[str]]
"""``(host, port) -> addresses`` (strings); raises ``OSError`` when the name does not resolve."""


def system_resolver(host: str, port: int) -> list[str]:
    """The platform's resolver (``getaddrinfo``), every answer, in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class LoopbackCorpus:
    """LOCAL ONLY: the corpus fixture's domains served by one server on ``127.0.0.1:port``.

    Only names under ``domains`` (each under the reserved ``.test`` top-level domain, which no
    real host can have) map there; an address host, any other name and any other loopback
    port stay refused.
    """

    port: int
    domains: tuple[str, ...]
    address: str = "127.0.0.1"

    def __post_init__(self) -> None:
        if self.address != "127.0.0.1" or not 0 < self.port < 65536:
            raise ValueError("the loopback corpus must be 127.0.0.1 with a port")
        if not self.domains or not all(d.endswith(".test") for d in self.domains):
            raise ValueError("the loopback corpus serves only .test domains")

    def covers(self, host: str) -> bool:
        """Whether ``host`` (normalized) is one of the corpus's domains or a subdomain."""
        return any(host == d or host.endswith("." + d) for d in self.domains)


@dataclass(frozen=True)
class Target:
    """A vetted URL: connect to ``address``:``port``, send ``host_header``, verify TLS
    against ``host`` (``tls`` False: plain HTTP)."""

    url: str
    host: str
    host_header: str
    address: str
    port: int
    tls: bool
    path: str  # path and query, as sent in the request line


class Guard:
    """Vets URLs for the fetcher (see the module docstring).

    Args:
        resolver: name -> addresses (default: the platform's).
        corpus: the local-only loopback corpus mapping; None in every deployment.
    """

    def __init__(
        self, resolver: Resolver = system_resolver, *, corpus: LoopbackCorpus | None = None
    ) -> None:
        self._resolve = resolver
        self.corpus = corpus

    def check(
        self,
        url: str,
        allow: Sequence[DomainRule] = (),
        block: Sequence[DomainRule] = (),
    ) -> Target:
        """The target to connect to for ``url``, or ``WebToolError`` naming why not."""
        parts = _split(url)
        host, port = _host_port(parts)
        if not allowed(url, allow, block):
            raise WebToolError("url_not_allowed", f"{host} is outside the domain rules")
        try:
            literal = host_literal(host)
        except ValueError as e:
            raise WebToolError("url_not_allowed", str(e)) from e
        default_port = _SCHEMES[parts.scheme.lower()]
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        tls = parts.scheme.lower() == "https"
        if literal is not None:
            _refuse(literal, url)
            host_header = _host_header(host, literal, port, default_port)
            return Target(url, host, host_header, str(literal), port, tls, path)
        try:
            name = normalize_host(host)  # IDNA: the Host header and SNI are ASCII
        except ValueError as e:
            raise WebToolError("invalid_tool_input", str(e)) from e
        host_header = _host_header(name, None, port, default_port)
        if self.corpus is not None and self.corpus.covers(name):
            return Target(
                url, name, host_header, self.corpus.address, self.corpus.port, False, path
            )
        address = self._resolve_one(name, port, url)
        return Target(url, name, host_header, address, port, tls, path)

    def _resolve_one(self, name: str, port: int, url: str) -> str:
        """The address to connect to: the first answer, once every answer is public."""
        try:
            answers = list(self._resolve(name, port))
        except (OSError, UnicodeError) as e:
            raise WebToolError("url_not_accessible", f"{name} does not resolve") from e
        if not answers:
            raise WebToolError("url_not_accessible", f"{name} does not resolve")
        addresses = []
        for answer in answers:
            try:
                address = ipaddress.ip_address(answer)
            except ValueError as e:
                raise WebToolError("url_not_accessible", f"{name}: bad answer") from e
            _refuse(address, url, name)
            addresses.append(address)
        return str(addresses[0])


def _split(url: str) -> SplitResult:
    if not isinstance(url, str) or not url:
        raise WebToolError("invalid_tool_input", "the URL is empty")
    if len(url) > MAX_URL_CHARS:
        raise WebToolError("url_too_long", f"the URL has {len(url)} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url) or "\\" in url:
        raise WebToolError("invalid_tool_input", "the URL has whitespace or control characters")
    try:
        parts = urlsplit(url)
    except ValueError as e:
        raise WebToolError("invalid_tool_input", "the URL does not parse") from e
    if parts.scheme.lower() not in _SCHEMES:
        raise WebToolError("url_not_allowed", f"scheme {parts.scheme[:20]!r} is not http(s)")
    if "@" in parts.netloc:
        raise WebToolError("url_not_allowed", "user info in the URL")
    return parts


def _host_port(parts: SplitResult) -> tuple[str, int]:
    host = parts.hostname or ""
    if not host:
        raise WebToolError("invalid_tool_input", "the URL has no host")
    try:
        port = parts.port or _SCHEMES[parts.scheme.lower()]
    except ValueError as e:
        raise WebToolError("invalid_tool_input", "the URL's port is not valid") from e
    return host, port


def _host_header(host: str, literal: object, port: int, default_port: int) -> str:
    shown = f"[{host}]" if isinstance(literal, ipaddress.IPv6Address) else host
    return shown if port == default_port else f"{shown}:{port}"


def _refuse(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, url: str, name: str = ""
) -> None:
    why = refusal(address)
    if why is not None:
        logger.warning("web fetch refused: %s%s is %s", name and f"{name} -> ", address, why)
        raise WebToolError("url_not_allowed", f"{name or address} is {why}")
