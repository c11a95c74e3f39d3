"""URL -> operation, derived from botocore's ``bedrock-agentcore`` service model.

Every operation of the model is routed by its own HTTP method and ``requestUri``, so no
URL is written here by hand and a request for an operation the emulator does not
implement is still recognised: the server answers it with ``NotImplementedException``
(501), never a fake 200. Which operations are implemented is decided by the server's
operation table (``responses.OPERATIONS``), so implementing one more is one entry there.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from urllib.parse import unquote

import botocore.session
from botocore.model import ServiceModel

__all__ = ["SERVICE", "Route", "match", "request_path", "service_model"]

SERVICE = "bedrock-agentcore"
_LABEL = re.compile(r"\{(\w+)(\+?)\}")


@functools.cache
def service_model() -> ServiceModel:
    """The service model botocore ships (the pinned botocore is the reference)."""
    return botocore.session.get_session().get_service_model(SERVICE)


@dataclass(frozen=True)
class Route:
    """A matched request: the model's operation name and its URI labels (decoded)."""

    operation: str
    params: dict[str, str]


def _uri(operation: str) -> str:
    """The operation's ``requestUri`` without its query part."""
    return str(service_model().operation_model(operation).http["requestUri"]).split("?")[0]


def _compile(template: str) -> re.Pattern[str]:
    out, pos = "", 0
    for m in _LABEL.finditer(template):
        out += re.escape(template[pos : m.start()])
        out += f"(?P<{m.group(1)}>.+)" if m.group(2) else f"(?P<{m.group(1)}>[^/]+)"
        pos = m.end()
    return re.compile("^" + out + re.escape(template[pos:]) + "$")


@functools.cache
def _table() -> tuple[tuple[str, re.Pattern[str], str], ...]:
    model = service_model()
    rows = []
    for name in model.operation_names:
        uri = _uri(name)
        literal = len(_LABEL.sub("", uri))  # more literal text first: the most specific wins
        rows.append((literal, model.operation_model(name).http["method"], _compile(uri), name))
    rows.sort(key=lambda row: -row[0])
    return tuple((method, pattern, name) for _, method, pattern, name in rows)


def match(method: str, path: str) -> Route | None:
    """The operation for ``method`` + ``path`` (labels percent-decoded), or None."""
    for m, pattern, operation in _table():
        if m != method:
            continue
        hit = pattern.match(path)
        if hit:
            return Route(operation, {k: unquote(v) for k, v in hit.groupdict().items()})
    return None


def request_path(operation: str, **labels: str) -> tuple[str, str]:
    """``(method, path)`` of ``operation`` with its URI labels filled in (for tests)."""
    from urllib.parse import quote

    def fill(m: re.Match[str]) -> str:
        return quote(labels[m.group(1)], safe="/" if m.group(2) else "")

    http = service_model().operation_model(operation).http
    return str(http["method"]), _LABEL.sub(fill, _uri(operation))
