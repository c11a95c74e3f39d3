"""URL -> operation. Implemented operations by hand; every other operation of the
``bedrock-agentcore`` model is recognised (from botocore's own service model) so it
fails loudly with ``NotImplementedException`` instead of a fake 200."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

__all__ = ["IMPLEMENTED", "Route", "match"]

IMPLEMENTED = {
    ("PUT", "/code-interpreters/{codeInterpreterIdentifier}/sessions/start"): (
        "StartCodeInterpreterSession"
    ),
    ("GET", "/code-interpreters/{codeInterpreterIdentifier}/sessions/get"): (
        "GetCodeInterpreterSession"
    ),
    ("PUT", "/code-interpreters/{codeInterpreterIdentifier}/sessions/stop"): (
        "StopCodeInterpreterSession"
    ),
    ("POST", "/code-interpreters/{codeInterpreterIdentifier}/sessions/list"): (
        "ListCodeInterpreterSessions"
    ),
    ("POST", "/code-interpreters/{codeInterpreterIdentifier}/tools/invoke"): (
        "InvokeCodeInterpreter"
    ),
}


@dataclass(frozen=True)
class Route:
    """A matched request: the operation name, URI parameters, and whether we implement it."""

    operation: str
    params: dict[str, str]
    implemented: bool


def _compile(template: str) -> re.Pattern[str]:
    out, pos = "", 0
    for m in re.finditer(r"\{(\w+)(\+?)\}", template):
        out += re.escape(template[pos : m.start()])
        out += f"(?P<{m.group(1)}>.+)" if m.group(2) else f"(?P<{m.group(1)}>[^/]+)"
        pos = m.end()
    return re.compile("^" + out + re.escape(template[pos:]) + "$")


@functools.cache
def _table() -> list[tuple[str, re.Pattern[str], str, bool]]:
    table = [(m, _compile(uri), op, True) for (m, uri), op in IMPLEMENTED.items()]
    try:
        import botocore.session

        model = botocore.session.get_session().get_service_model("bedrock-agentcore")
        for name in model.operation_names:
            http = model.operation_model(name).http
            if name not in IMPLEMENTED.values():
                uri = http["requestUri"].split("?")[0]
                table.append((http["method"], _compile(uri), name, False))
    except Exception:  # botocore missing or model changed: implemented ops still route
        pass
    return table


def match(method: str, path: str) -> Route | None:
    """Find the operation for ``method`` + ``path`` (already URL-decoded per segment)."""
    from urllib.parse import unquote

    for m, pattern, op, implemented in _table():
        if m != method:
            continue
        hit = pattern.match(path)
        if hit:
            params = {k: unquote(v) for k, v in hit.groupdict().items()}
            return Route(op, params, implemented)
    return None
