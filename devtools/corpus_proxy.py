"""The web corpus behind an HTTPS forward proxy, for clients that fetch pages themselves.

Claude Code's WebFetch fetches a page in the CLI's own process (and upgrades ``http://`` to
``https://``), honouring ``HTTPS_PROXY`` and ``NODE_EXTRA_CA_CERTS``. :class:`CorpusProxy`
gives such a client the corpus and nothing else: a ``CONNECT`` proxy on ``127.0.0.1`` that
tunnels only to the corpus's own host names, each tunnel ending at the corpus server
(:class:`emulators.web_corpus.CorpusServer`) over TLS with a certificate that a throwaway CA
(:attr:`CorpusProxy.ca_file`) signs for those names. No name is resolved and no packet leaves
loopback; every ``CONNECT`` target is recorded (:attr:`CorpusProxy.connects`), refused ones too.
"""

from __future__ import annotations

import datetime
import logging
import socket
import ssl
import threading
from contextlib import suppress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from devtools.socket_bridge import pipe
from emulators.web_corpus import CorpusServer

__all__ = ["CorpusProxy"]

logger = logging.getLogger(__name__)

_HEAD_LIMIT = 8192


class CorpusProxy:
    """A ``CONNECT`` proxy on ``127.0.0.1`` (any free port) whose tunnels reach only the corpus.

    Use as a context manager; :attr:`port` is the proxy's, :attr:`corpus` the server (its
    :attr:`~emulators.web_corpus.CorpusServer.requests` are what was fetched).
    """

    def __init__(self, workdir: Path) -> None:
        self.corpus = CorpusServer()
        self.hosts = tuple(sorted({host for host, _ in self.corpus.pages}))
        self.ca_file = workdir / "corpus-ca.pem"
        self.connects: list[tuple[str, bool]] = []  # (CONNECT target, tunnelled)
        cert, key = _certificates(self.hosts, self.ca_file, workdir)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        httpd = self.corpus.httpd
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()

    def __enter__(self) -> CorpusProxy:
        self.corpus.__enter__()
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._listener.close()
        self.corpus.__exit__(*exc)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        """Answer one ``CONNECT host:443``: a tunnel to the corpus for its hosts, else 403."""
        head = b""
        while b"\r\n\r\n" not in head and len(head) < _HEAD_LIMIT:
            chunk = client.recv(1024)
            if not chunk:
                break
            head += chunk
        if not head:  # a probe that only connects (the bridge's readiness check)
            client.close()
            return
        method, _, rest = head.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
        target = rest.split(" ", 1)[0]
        host, _, port = target.rpartition(":")
        allowed = method == "CONNECT" and port == "443" and host.lower() in self.hosts
        with self._lock:
            self.connects.append((target, allowed))
        if not allowed:
            logger.info("refused %s %s", method, target)
            with suppress(OSError):
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            client.close()
            return
        upstream = socket.create_connection(("127.0.0.1", self.corpus.port))
        client.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=pipe, args=(a, b), daemon=True).start()


def _certificates(hosts: tuple[str, ...], ca_file: Path, workdir: Path) -> tuple[Path, Path]:
    """A throwaway CA (written to ``ca_file``) and a server certificate it signs for ``hosts``:
    the certificate's and its key's paths."""
    now = datetime.datetime.now(datetime.UTC)
    valid = (now - datetime.timedelta(days=1), now + datetime.timedelta(days=1))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "web corpus test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file, key_file = workdir / "corpus-cert.pem", workdir / "corpus-key.pem"
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file
