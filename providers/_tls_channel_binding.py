"""TLS channel bindings for Kerberos over HTTPS: ``tls-server-end-point`` (RFC 5929 section 4).

The binding is the hash of the server's certificate (DER) as the TLS connection presented it,
with the hash algorithm of the certificate's signature (SHA-256 in place of MD5 or SHA-1). A
Kerberos token bound to it is only accepted by a server that sees the same certificate on its
side of the connection, so a token relayed through a man in the middle who terminates TLS with
another certificate fails at a server that checks bindings.
"""

from __future__ import annotations

from typing import Any

PREFIX = b"tls-server-end-point:"


def certificate_binding(certificate: bytes) -> bytes | None:
    """The ``application_data`` of the channel bindings for this DER certificate; None when
    RFC 5929 defines none (a signature without a hash, such as Ed25519's)."""
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes

    cert = x509.load_der_x509_certificate(certificate)
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return None
    if algorithm is None:
        return None
    if isinstance(algorithm, hashes.MD5 | hashes.SHA1):
        algorithm = hashes.SHA256()
    digest = hashes.Hash(algorithm)
    digest.update(certificate)
    return PREFIX + digest.finalize()


def peer_certificate(response: Any) -> bytes | None:
    """The DER certificate of the TLS connection a ``requests`` response came over, read before
    its body (the connection goes back to the pool once the body is read); None over plain
    HTTP or when the connection is gone."""
    raw = getattr(response, "raw", None)  # urllib3's response
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is None:
        # An answer that closes its connection: http.client handed the socket over to the
        # response (what requests-kerberos reads as well).
        stream = getattr(getattr(getattr(raw, "_fp", None), "fp", None), "raw", None)
        sock = getattr(stream, "_sock", None)
    getpeercert = getattr(sock, "getpeercert", None)
    if getpeercert is None:
        return None
    try:
        der = getpeercert(binary_form=True)
    except (OSError, ValueError):
        return None
    return der if isinstance(der, bytes) and der else None
