"""The files ``dicom-identity pacs`` reads: users, JWT key, keytab, TLS certificate, key and CA.

Each is read and checked before the PACS starts; a missing, unreadable or malformed one raises
:class:`~client_sdk.ConfigError` naming the file, the option and what is wrong (with the
line and column for JSON), never quoting what the file holds (passwords, keys). Every error is
raised ``from None``: a ``JSONDecodeError`` or ``UnicodeDecodeError`` carries the whole text.
"""

from __future__ import annotations

import json
import ssl
import stat
import sys
from pathlib import Path
from typing import NoReturn

from client_sdk._errors import ConfigError

_MAX_BYTES = 1 << 20  # every one of these files is small; a larger one is the wrong file
_KEYTAB_VERSIONS = (b"\x05\x01", b"\x05\x02")  # the first two bytes of an MIT krb5 keytab


def warn_if_shared(path: Path) -> None:
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        print(f"warning: {path} is accessible by group or others; chmod 600 it", file=sys.stderr)


def _read(path: Path, option: str, *, secret: bool) -> bytes:
    """The bytes of a regular file of at most 1 MiB, else a ConfigError naming it; a ``secret``
    one (passwords, a private key) gets a warning if others may read it."""
    where = f"{option} {str(path)!r}"
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{where} is not a file. Give the path of the file itself")
        if info.st_size > _MAX_BYTES:
            raise ConfigError(f"{where} is {info.st_size} bytes, more than such a file can be")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{where} does not exist. Check the path") from None
    except PermissionError:
        raise ConfigError(
            f"{where} cannot be read: permission denied. Make it readable by this user"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"{where} cannot be read ({exc.strerror or type(exc).__name__})"
        ) from None
    if secret:
        warn_if_shared(path)
    return data


def load_users(path: Path) -> dict[str, str]:
    """``--users-file``: a UTF-8 JSON object of username to password (both strings)."""
    where = f"--users-file {str(path)!r}"
    raw = _read(path, "--users-file", secret=True)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where} is not UTF-8 text (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        # exc.msg and the position only: exc.doc is the whole file, passwords included.
        raise ConfigError(
            f"{where} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}. "
            'Expected an object such as {"alice": "password"}'
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{where} holds a JSON {_json_kind(data)}, not an object of username to password, "
            'such as {"alice": "password"}'
        )
    for name, password in data.items():
        if not isinstance(password, str):
            raise ConfigError(
                f"{where}: the password of user {name!r} is a JSON {_json_kind(password)}, "
                "not a string"
            )
        if not name:
            raise ConfigError(f"{where}: a username is empty")
    return data


def _json_kind(value: object) -> str:
    kinds = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number"}
    kinds[float] = "number"
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def load_jwt_key(path: Path) -> bytes:
    """``--jwt-key-file``: a PEM public key (RS256/ES256), or an HS256 secret (trailing newlines
    stripped)."""
    where = f"--jwt-key-file {str(path)!r}"
    key = _read(path, "--jwt-key-file", secret=False)
    if key.lstrip().startswith(b"-----BEGIN"):
        _check_public_key(key, where)
        return key
    secret = key.rstrip(b"\r\n")
    if not secret:
        raise ConfigError(f"{where} is empty. Put the HS256 secret or a PEM public key in it")
    warn_if_shared(path)  # an HS256 secret
    return secret


def _check_public_key(pem: bytes, where: str) -> None:
    try:
        from cryptography.hazmat.primitives.serialization import load_pem_public_key
    except ImportError:
        raise ConfigError(
            f"{where} is a PEM key, which needs the cryptography package (RS256/ES256): "
            "pip install cryptography"
        ) from None
    try:
        load_pem_public_key(pem)
    except (ValueError, TypeError):
        kind = "a private key" if b"PRIVATE KEY" in pem else "not a usable PEM public key"
        raise ConfigError(
            f"{where} is {kind}. Give the PEM public key that verifies the tokens "
            "(-----BEGIN PUBLIC KEY-----)"
        ) from None


def check_keytab(path: Path) -> None:
    """``--kerberos-keytab``: a readable MIT keytab file (GSS-API checks its keys later)."""
    data = _read(path, "--kerberos-keytab", secret=True)
    if data[:2] not in _KEYTAB_VERSIONS:
        raise ConfigError(
            f"--kerberos-keytab {str(path)!r} is not a Kerberos keytab (it does not start like "
            "one). Export the PACS's service key with kadmin's ktadd or ktutil"
        )


class _EncryptedKey(Exception):
    """Raised from the password callback: the PACS never prompts for a key passphrase."""


def _no_passphrase() -> NoReturn:
    raise _EncryptedKey


def server_tls_context(
    cert_file: Path, key_file: Path | None = None, ca_file: Path | None = None
) -> ssl.SSLContext:
    """A TLS 1.2+ server context presenting ``cert_file`` (its key in ``key_file``, or in
    ``cert_file`` itself); with ``ca_file``, clients must present a certificate that CA issued."""
    certificate = _pem(cert_file, "--tls-cert-file", b"CERTIFICATE")
    if key_file is not None:
        _pem(key_file, "--tls-key-file", b"PRIVATE KEY")
        warn_if_shared(key_file)
    elif b"PRIVATE KEY-----" not in certificate:
        raise ConfigError(
            f"--tls-cert-file {str(cert_file)!r} holds no private key, and no --tls-key-file "
            "was given. Give the certificate's key with --tls-key-file"
        )
    else:
        warn_if_shared(cert_file)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    pair = f"--tls-cert-file {str(cert_file)!r}" + (
        f" and --tls-key-file {str(key_file)!r}" if key_file is not None else ""
    )
    try:
        context.load_cert_chain(cert_file, key_file, password=_no_passphrase)
    except _EncryptedKey:
        raise ConfigError(
            f"{pair}: the private key is encrypted, and the PACS never prompts. Store it "
            "unencrypted in a file only you can read (chmod 600)"
        ) from None
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"{pair}: {_tls_reason(exc)}") from None
    if ca_file is not None:
        _pem(ca_file, "--tls-ca-file", b"CERTIFICATE")
        try:
            context.load_verify_locations(cafile=ca_file)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                f"--tls-ca-file {str(ca_file)!r} holds no usable CA certificate "
                f"({_why(exc)}). Give the PEM certificate of the CA that issues client "
                "certificates"
            ) from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _pem(path: Path, option: str, label: bytes) -> bytes:
    data = _read(path, option, secret=False)  # the caller warns about a shared key
    if b"-----BEGIN " not in data or label + b"-----" not in data:
        what = "certificate" if label == b"CERTIFICATE" else "private key"
        raise ConfigError(
            f"{option} {str(path)!r} holds no PEM {what} "
            f"(-----BEGIN {label.decode()}-----). Give a PEM file"
        )
    return data


def _tls_reason(exc: BaseException) -> str:
    why = _why(exc)
    if "key values mismatch" in why:
        return "the private key is not the certificate's own (key values mismatch)"
    return f"not a usable certificate and key ({why}). Both must be PEM"


def _why(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str):
        return reason.lower().replace("_", " ")
    strerror = getattr(exc, "strerror", None)
    return str(strerror or exc)
