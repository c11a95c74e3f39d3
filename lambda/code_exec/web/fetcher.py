"""The web fetcher: vetted targets only, bounded in redirects, bytes and time.

Every hop (the URL, then each redirect target) is vetted by :class:`~code_exec.web.guard.Guard`
and fetched with urllib3 (already in the bundle through botocore) by connecting to the
vetted address itself: ``Host`` and TLS SNI/verification use the name, the socket uses the
address, so nothing is resolved twice. A redirect is followed (at most
:data:`MAX_REDIRECTS`) only through the guard again. The body is read in chunks up to
``max_bytes`` (``content_too_large`` past it, decompressed size counted), the whole fetch
within :data:`FETCH_SECONDS` cut to the request's deadline (:mod:`code_exec.deadline`).

Failures become :class:`~code_exec.web.types.WebToolError` (an HTTP error status, a refused
connection, a timeout -> ``url_not_accessible``); only a request whose own deadline has
passed ends the turn (``DeadlineExceededError``).
"""

from __future__ import annotations

import json
import logging
import os
import time
import zlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from urllib.parse import urljoin

import urllib3
from botocore.httpsession import get_cert_path
from urllib3.exceptions import HTTPError

from code_exec import deadline
from code_exec.web.domains import parse_rules
from code_exec.web.extract import document
from code_exec.web.guard import Guard, LoopbackCorpus, Resolver, Target, system_resolver
from code_exec.web.types import FetchedDocument, WebToolError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "FETCH_SECONDS",
    "LOOPBACK_CORPUS_ENV",
    "MAX_REDIRECTS",
    "Fetcher",
    "make_fetcher",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 3 * 1024 * 1024  # a PDF's base64 still fits a 6 MB Lambda answer
HARD_MAX_BYTES = 10 * 1024 * 1024
MAX_REDIRECTS = 5
FETCH_SECONDS = 20.0
CONNECT_SECONDS = 5.0
_CHUNK = 64 * 1024
_REDIRECTS = {301, 302, 303, 307, 308}
USER_AGENT = "bedrock-code-execution-web-fetch/1.0"
_ACCEPT = "text/html,application/xhtml+xml,text/plain;q=0.9,application/pdf;q=0.8,*/*;q=0.1"
# LOCAL ONLY (make local, tests): JSON {"port": N, "domains": [".test" domains]}; never set
# by the stacks (tests/stacks check every function's environment).
LOOPBACK_CORPUS_ENV = "WEB_FETCH_LOOPBACK_CORPUS"


class Fetcher:
    """:class:`~code_exec.web.fetch.WebFetcher` over urllib3, guarded (module docstring).

    Args:
        guard: vets each hop; its resolver is the only name resolution the fetch does.
        max_bytes: default body limit (a call may ask for less, never for more than
            ``HARD_MAX_BYTES``).
        seconds: the whole fetch's time limit, redirects included.
        clock: monotonic seconds (tests inject one).
    """

    def __init__(
        self,
        guard: Guard,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        seconds: float = FETCH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.guard = guard
        self.max_bytes = max_bytes
        self.seconds = seconds
        self._clock = clock

    def fetch(
        self,
        url: str,
        *,
        allowed_domains: Sequence[str] = (),
        blocked_domains: Sequence[str] = (),
        max_bytes: int | None = None,
    ) -> FetchedDocument:
        """Fetch ``url`` (see :class:`~code_exec.web.fetch.WebFetcher`)."""
        allow = parse_rules(allowed_domains, name="allowed_domains")
        block = parse_rules(blocked_domains, name="blocked_domains")
        limit = min(max_bytes or self.max_bytes, HARD_MAX_BYTES)
        ends = self._clock() + self._budget()
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            target = self.guard.check(current, allow, block)
            pool = _pool(target, self._left(ends))
            response = None
            try:
                response = self._request(pool, target, ends)
                if response.status in _REDIRECTS:
                    location = response.headers.get("Location")
                    if not location:
                        raise WebToolError("url_not_accessible", "a redirect without Location")
                    current = urljoin(current, location.strip())
                    continue
                if response.status >= 400:
                    raise WebToolError("url_not_accessible", f"HTTP {response.status}")
                if response.status != 200:
                    raise WebToolError("url_not_accessible", f"unexpected HTTP {response.status}")
                body = self._read(response, limit, ends)
                content_type = response.headers.get("Content-Type")
            finally:
                if response is not None:
                    response.close()
                pool.close()  # one connection per hop, never reused
            stamp = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
            return document(current, content_type, body, stamp)
        raise WebToolError("url_not_accessible", f"more than {MAX_REDIRECTS} redirects")

    def _budget(self) -> float:
        bound = deadline.current()
        if bound is not None:
            bound.check("the web fetch")
            return bound.call_seconds(self.seconds)
        return self.seconds

    def _left(self, ends: float) -> float:
        left = ends - self._clock()
        if left <= 0:
            bound = deadline.current()
            if bound is not None:
                bound.check("the web fetch")
            raise WebToolError("url_not_accessible", "the fetch timed out")
        return left

    def _request(
        self, pool: urllib3.HTTPConnectionPool, target: Target, ends: float
    ) -> urllib3.BaseHTTPResponse:
        headers = {
            "Host": target.host_header,
            "User-Agent": USER_AGENT,
            "Accept": _ACCEPT,
            "Accept-Encoding": "gzip, deflate",
        }
        try:
            return pool.urlopen(
                "GET",
                target.path,
                headers=headers,
                redirect=False,
                retries=False,
                preload_content=False,
                decode_content=False,
                assert_same_host=False,
                release_conn=False,
            )
        except HTTPError as e:
            self._left(ends)  # a passed deadline ends the turn
            logger.info("web fetch of %s failed: %s", target.host, type(e).__name__)
            raise WebToolError("url_not_accessible", f"{type(e).__name__}") from e

    def _read(self, response: urllib3.BaseHTTPResponse, limit: int, ends: float) -> bytes:
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise WebToolError("content_too_large", f"{declared} bytes declared")
        decoder = _decoder(response.headers.get("Content-Encoding"))
        out = bytearray()
        while True:
            self._left(ends)
            try:
                chunk = response.read1(_CHUNK)  # what has arrived: time is checked per chunk
            except HTTPError as e:
                self._left(ends)
                raise WebToolError("url_not_accessible", type(e).__name__) from e
            if not chunk:
                break
            out += decoder(chunk, limit + 1 - len(out)) if decoder else chunk
            if len(out) > limit:
                raise WebToolError("content_too_large", f"more than {limit} bytes")
        return bytes(out)


def _pool(target: Target, left: float) -> urllib3.HTTPConnectionPool:
    """A one-connection pool to the vetted address: the socket goes to ``target.address``,
    TLS verifies ``target.host`` (SNI and certificate) with botocore's CA bundle."""
    timeout = urllib3.Timeout(connect=min(CONNECT_SECONDS, left), read=left)
    if target.tls:
        return urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            timeout=timeout,
            maxsize=1,
            retries=False,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            ca_certs=get_cert_path(True),
        )
    return urllib3.HTTPConnectionPool(
        target.address, target.port, timeout=timeout, maxsize=1, retries=False
    )


def _decoder(encoding: str | None) -> Callable[[bytes, int], bytes] | None:
    """A bounded decoder for ``Content-Encoding`` (never more than ``room`` bytes a call,
    so a compression bomb stops at the limit)."""
    name = (encoding or "identity").strip().lower()
    if name in ("identity", ""):
        return None
    if name not in ("gzip", "x-gzip", "deflate"):
        raise WebToolError("unsupported_content_type", f"content encoding {name[:20]!r}")
    inflate = zlib.decompressobj(47)  # 32 + 15: gzip or zlib header, detected

    def decode(chunk: bytes, room: int) -> bytes:
        try:
            return inflate.decompress(chunk, max(1, room))
        except zlib.error as e:
            raise WebToolError("url_not_accessible", "the body does not decompress") from e

    return decode


def loopback_corpus(environ: dict[str, str] | None = None) -> LoopbackCorpus | None:
    """The local-only corpus mapping from ``WEB_FETCH_LOOPBACK_CORPUS`` (None when unset)."""
    raw = (os.environ if environ is None else environ).get(LOOPBACK_CORPUS_ENV, "")
    if not raw:
        return None
    try:
        spec = json.loads(raw)
        corpus = LoopbackCorpus(int(spec["port"]), tuple(str(d) for d in spec["domains"]))
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{LOOPBACK_CORPUS_ENV} must be {{'port': N, 'domains': [...]}}") from e
    logger.warning("web fetch: LOCAL loopback corpus on 127.0.0.1:%s", corpus.port)
    return corpus


def make_fetcher(resolver: Resolver = system_resolver) -> Fetcher:
    """The deployment's fetcher (the loopback corpus only where the local env names it)."""
    return Fetcher(Guard(resolver, corpus=loopback_corpus()))
