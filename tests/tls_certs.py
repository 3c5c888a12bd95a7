"""A throwaway certificate authority, a server certificate for 127.0.0.1 and a client
certificate, made at test time.

Nothing is checked in: each call makes a fresh CA (P-256 keys, one day of validity), a server
certificate for ``localhost`` and ``127.0.0.1`` and a client certificate (for mutual TLS), both
signed by it, as PEM files in a folder the caller owns. ``server_context()`` is what
:class:`client_sdk.testing.EmbeddedPacs` takes as ``ssl_context`` (``client_ca=`` makes it demand
a client certificate from that CA); clients verify with
``TlsConfig(ca_file=certs.ca_file, server_hostname="localhost")`` and present theirs with
``cert_file=certs.client_cert_file, key_file=certs.client_key_file``.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CertificateFiles", "make_certificates"]


@dataclass(frozen=True)
class CertificateFiles:
    ca_file: Path
    cert_file: Path
    key_file: Path
    client_cert_file: Path
    client_key_file: Path
    hostname: str = "localhost"

    def server_context(
        self,
        *,
        client_ca: Path | None = None,
        maximum_version: ssl.TLSVersion | None = None,
    ) -> ssl.SSLContext:
        """A TLS 1.2+ server context presenting the server certificate.

        ``client_ca``: demand a client certificate issued by that CA (mutual TLS).
        ``maximum_version``: cap the version; ``TLSv1_1`` also lowers the minimum and OpenSSL's
        security level, which otherwise refuses anything older than TLS 1.2.
        """
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.cert_file, self.key_file)
        if client_ca is not None:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(client_ca)
        if maximum_version is not None:
            with warnings.catch_warnings():  # TLS 1.0/1.1 are deprecated: that is the point
                warnings.simplefilter("ignore", DeprecationWarning)
                if maximum_version < ssl.TLSVersion.TLSv1_2:
                    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
                    ctx.minimum_version = maximum_version
                ctx.maximum_version = maximum_version
        return ctx


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dicom-identity tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf(
    subject: str,
    usage: x509.ObjectIdentifier,
    names: list[x509.GeneralName],
    ca: tuple[ec.EllipticCurvePrivateKey, x509.Name, x509.SubjectKeyIdentifier],
    validity: tuple[datetime.datetime, datetime.datetime],
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    ca_key, ca_name, ca_ski = ca
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.touch(mode=0o600)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def make_certificates(directory: Path, hostname: str = "localhost") -> CertificateFiles:
    """Write ``ca.pem``, ``server.pem``, ``server.key``, ``client.pem`` and ``client.key`` (keys
    mode 0600) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    valid_from, valid_to = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("dicom-identity test CA")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_to)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    ca = (ca_key, ca_name, ca_ski)
    validity = (valid_from, valid_to)
    server_names: list[x509.GeneralName] = [
        x509.DNSName(hostname),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    cert, key = _leaf(hostname, ExtendedKeyUsageOID.SERVER_AUTH, server_names, ca, validity)
    client_cert, client_key = _leaf(
        "dicom-identity test client", ExtendedKeyUsageOID.CLIENT_AUTH, [], ca, validity
    )

    ca_file = directory / "ca.pem"
    cert_file = directory / "server.pem"
    key_file = directory / "server.key"
    client_cert_file = directory / "client.pem"
    client_key_file = directory / "client.key"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    client_cert_file.write_bytes(client_cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key_file, key)
    _write_key(client_key_file, client_key)
    return CertificateFiles(
        ca_file, cert_file, key_file, client_cert_file, client_key_file, hostname
    )


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertificateFiles:
    """One CA, server and client certificate set for the whole run (loaded by conftest); the
    tests read the files and never change them."""
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def stranger_certs(tmp_path_factory: pytest.TempPathFactory) -> CertificateFiles:
    """Certificates from another throwaway CA: trusted by nobody here (a client that trusts only
    it refuses the PACS's certificate)."""
    return make_certificates(tmp_path_factory.mktemp("stranger"))
