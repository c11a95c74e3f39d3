"""Fixtures of the web backend tests: the corpus server on loopback (the canary that records
every request), a stub resolver, and an audit of every socket connect (loopback only)."""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading
from collections.abc import Iterator, Sequence

import pytest
from code_exec.web.fetcher import Fetcher
from code_exec.web.guard import Guard, LoopbackCorpus

from emulators.web_corpus import CorpusServer

# Names the stub resolver answers; anything else fails as an unknown name would.
STUB_DNS: dict[str, list[str]] = {
    "localhost": ["127.0.0.1", "::1"],
    "loopback.attacker.test": ["127.0.0.1"],
    "private.attacker.test": ["10.1.2.3"],
    "mixed.attacker.test": ["93.184.216.34", "127.0.0.1"],
    "metadata.attacker.test": ["169.254.169.254"],
    "v6.attacker.test": ["::1"],
    "mapped.attacker.test": ["::ffff:127.0.0.1"],
    "cgnat.attacker.test": ["100.100.1.1"],
    "ula.attacker.test": ["fd12:3456::1"],
}
CONNECTS: list[tuple[str, int]] = []
_AUDITING = threading.Event()  # set while a test that uses ``canary`` runs


def _audit(event: str, args: tuple[object, ...]) -> None:
    if event == "socket.connect" and _AUDITING.is_set():
        address = args[1]
        if isinstance(address, tuple) and len(address) >= 2:
            CONNECTS.append((str(address[0]), int(address[1])))  # type: ignore[call-overload]


sys.addaudithook(_audit)


def connects() -> list[tuple[str, int]]:
    """Every (address, port) a socket of the current test connected to."""
    return list(CONNECTS)


def stub_resolver(host: str, port: int) -> Sequence[str]:
    if host in STUB_DNS:
        return STUB_DNS[host]
    raise socket.gaierror(socket.EAI_NONAME, "stub resolver: unknown name")


@pytest.fixture(scope="session")
def corpus() -> Iterator[CorpusServer]:
    with CorpusServer() as server:
        yield server


@pytest.fixture
def canary(corpus: CorpusServer) -> Iterator[CorpusServer]:
    """The corpus server with its request log emptied, and every connect of the test checked
    to go to loopback only."""
    corpus.requests.clear()
    CONNECTS.clear()
    _AUDITING.set()
    try:
        yield corpus
    finally:
        _AUDITING.clear()
    outside = [a for a in CONNECTS if not ipaddress.ip_address(a[0].split("%")[0]).is_loopback]
    assert outside == [], f"a connect left loopback: {outside}"


@pytest.fixture
def fetcher(canary: CorpusServer) -> Fetcher:
    corpus_map = LoopbackCorpus(canary.port, canary.domains)
    return Fetcher(Guard(stub_resolver, corpus=corpus_map), seconds=5.0)
