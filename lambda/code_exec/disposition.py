"""The ``Content-Disposition`` of a download, safe for any file name.

File names come from code in the sandbox, so they are attacker-controlled: a quote, a
backslash or a CR/LF pasted into ``filename="..."`` would end the parameter or the header
(header injection), and a non-ASCII name is not valid in a quoted string at all. The header is
built per RFC 6266 section 4.3: an ASCII ``filename`` fallback for old clients, and the exact
name as ``filename*`` (RFC 5987/8187 ``UTF-8''`` percent-encoding), which clients prefer.
"""

from __future__ import annotations

import urllib.parse

__all__ = ["content_disposition"]

# RFC 5987 attr-char: ALPHA / DIGIT / "!" / "#" / "$" / "&" / "+" / "-" / "." / "^" / "_" /
# "`" / "|" / "~". Everything else is percent-encoded (quote() never encodes ALPHA/DIGIT/_.-~).
_ATTR_SAFE = "!#$&+^`|"
_FALLBACK = "download"


def _ascii_fallback(filename: str) -> str:
    """Printable ASCII with no quote or backslash (``_`` for anything else)."""
    text = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in filename)
    return text.strip() or _FALLBACK


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """``attachment; filename="<ascii>"; filename*=UTF-8''<percent-encoded>``.

    Args:
        filename: the file's name as stored (any Unicode; attacker-controlled).
        disposition: ``attachment`` (the default: never rendered inline) or ``inline``.
    """
    exact = urllib.parse.quote(filename or _FALLBACK, safe=_ATTR_SAFE, encoding="utf-8")
    return f"{disposition}; filename=\"{_ascii_fallback(filename)}\"; filename*=UTF-8''{exact}"
