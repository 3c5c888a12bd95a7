"""Ad-hoc peers given as ``HOST:PORT`` (IPv6 in brackets: ``[::1]:104``)."""

from __future__ import annotations

import ipaddress

from client_sdk._config import values as v
from client_sdk._config.problems import InvalidConfig, Problems
from client_sdk._peer import Peer
from client_sdk._tls import TlsConfig
from providers._misplaced_secret import refuse_misplaced_secret

_FORM = "expected HOST:PORT, with an IPv6 address in brackets ([::1]:104)"


def peer_from_address(address: str, *, ae_title: str, tls: TlsConfig | None = None) -> Peer:
    """The peer at ``address``; :class:`ConfigError` (every problem at once) on a bad form.

    An address with a user part (``alice:pw@host:104``) is refused first, the secret masked."""
    refuse_misplaced_secret(address, "peer address", error=_invalid, address=True)
    problems = Problems(f"peer address {v.show(address)}")
    host_and_port = _split(address, problems)
    title = _title(ae_title, problems)
    if host_and_port is None or title is None:
        raise InvalidConfig(problems.lines)
    host, port = host_and_port
    return Peer(host, port, title, tls=tls)


def _invalid(message: str) -> InvalidConfig:
    return InvalidConfig([message])


def _title(ae_title: str, problems: Problems) -> str | None:
    try:
        return v.ae_title(ae_title)
    except v.Invalid as exc:
        problems.add("ae_title", str(exc))
        return None


def _split(address: str, problems: Problems) -> tuple[str, int] | None:
    if address.startswith("["):
        host, bracket, rest = address[1:].partition("]")
        if not bracket or not rest.startswith(":"):
            problems.add("", _FORM)
            return None
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            problems.add("", f"{v.show(host)} in brackets is not an IPv6 address; {_FORM}")
            return None
        port_text = rest[1:]
    else:
        host, colon, port_text = address.rpartition(":")
        if not colon or not host.strip() or any(c.isspace() for c in host):
            problems.add("", _FORM)
            return None
        if ":" in host:
            problems.add("", f"an IPv6 address goes in brackets ([{host}]:{port_text}); {_FORM}")
            return None
    if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
        problems.add("", f"the port must be an integer 1-65535, got {v.show(port_text)}")
        return None
    return host, int(port_text)
