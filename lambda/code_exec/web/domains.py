"""``allowed_domains`` / ``blocked_domains`` as Anthropic documents them for both web tools.

A rule is a domain without scheme, optionally followed by a path: ``example.com`` matches
``example.com`` and every subdomain (``docs.example.com``) but not ``badexample.com``;
``docs.example.com`` matches that subdomain only (and its own subdomains);
``example.com/blog`` matches URLs on those hosts whose path starts with ``/blog``; one ``*``
in the path matches any run of characters. Hosts compare case-insensitively, without a
trailing dot, in IDNA (punycode) form.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from code_exec.web.types import WebToolError

__all__ = ["DomainRule", "allowed", "normalize_host", "parse_rules"]

_MAX_RULES = 100  # InvokeWebSearch's DomainList limit; more is not a sensible policy
# InvokeWebSearch's DomainName pattern (letters, digits, hyphens; dot-separated labels).
_HOST = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")


def normalize_host(host: str) -> str:
    """Lower-case, no trailing dot, IDNA-encoded (a non-encodable host raises ValueError)."""
    host = host.strip().rstrip(".").lower()
    if not host:
        raise ValueError("empty host")
    try:
        encoded = host.encode("idna").decode("ascii")
    except UnicodeError as e:
        raise ValueError(f"not a valid host name: {host[:100]!r}") from e
    if len(encoded) > 253 or not _HOST.fullmatch(encoded):
        raise ValueError(f"not a valid host name: {host[:100]!r}")
    return encoded


@dataclass(frozen=True)
class DomainRule:
    """One ``allowed_domains`` / ``blocked_domains`` entry."""

    host: str
    path: str = ""  # "" matches every path

    def matches(self, host: str, path: str) -> bool:
        """Whether a URL with this (normalized) host and path falls under the rule."""
        if host != self.host and not host.endswith("." + self.host):
            return False
        if not self.path:
            return True
        path = path or "/"
        if "*" in self.path:
            return fnmatch.fnmatchcase(path, self.path) or fnmatch.fnmatchcase(
                path, self.path + "*"
            )
        return path.startswith(self.path)


def parse_rules(entries: Iterable[str], *, name: str = "allowed_domains") -> tuple[DomainRule, ...]:
    """Parse rule strings; a malformed one raises ``WebToolError('invalid_tool_input')``."""
    rules: list[DomainRule] = []
    for entry in entries:
        text = str(entry).strip()
        if "://" in text or not text:
            raise WebToolError("invalid_tool_input", f"{name}: {text[:100]!r} is not a domain")
        host, _, rest = text.partition("/")
        try:
            rules.append(DomainRule(normalize_host(host), "/" + rest if rest else ""))
        except ValueError as e:
            raise WebToolError("invalid_tool_input", f"{name}: {e}") from e
    if len(rules) > _MAX_RULES:
        raise WebToolError("invalid_tool_input", f"{name}: more than {_MAX_RULES} domains")
    return tuple(rules)


def allowed(
    url: str, allowed_rules: Iterable[DomainRule], blocked_rules: Iterable[DomainRule]
) -> bool:
    """Whether ``url`` passes the rules: blocked by any blocked rule, and, when there are
    allowed rules, allowed only by one of them. A host that is no domain name (an IPv6
    literal) matches no rule."""
    parts = urlsplit(url)
    try:
        host = normalize_host(parts.hostname or "")
    except ValueError:
        host = (parts.hostname or "").lower()
    path = parts.path or "/"
    if any(rule.matches(host, path) for rule in blocked_rules):
        return False
    allow = tuple(allowed_rules)
    return not allow or any(rule.matches(host, path) for rule in allow)
