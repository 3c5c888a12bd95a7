"""A throwaway MIT Kerberos realm on 127.0.0.1 for tests, the demo and benchmarks (via k5test).

It needs MIT Kerberos' server programs (Debian: krb5-kdc, krb5-admin-server, krb5-user) and the
``k5test`` package. The realm has a user principal with a ticket cache, the PACS's service principal
``dicom/localhost`` with a keytab, and a service account ``svc-scu`` with a client keytab.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from providers._safe_errors import total_repr

_PROGRAMS = ("krb5kdc", "kdb5_util", "kadmin.local", "kinit", "klist")
_SBIN = ("/usr/sbin", "/usr/local/sbin", "/sbin")


def kerberos_tools_missing() -> str | None:
    """Why a realm cannot start here, or None when it can."""
    path = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN])
    missing = [p for p in _PROGRAMS if shutil.which(p, path=path) is None]
    if missing:
        return (
            f"MIT Kerberos programs missing ({', '.join(missing)}): "
            "apt-get install krb5-kdc krb5-admin-server krb5-user libkrb5-dev"
        )
    try:
        import gssapi  # noqa: F401
        import k5test  # noqa: F401
        import spnego  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed: pip install 'dicom-identity[kerberos,test]'"
    return None


@dataclass(frozen=True)
class KerberosRealm:
    """What a test needs to know of the realm. ``env`` points Kerberos at it."""

    name: str
    user: str
    user_password: str
    ccache: str
    service: str  # "dicom"
    service_host: str  # "localhost"
    pacs_keytab: str
    account: str  # a service account with a client keytab, e.g. svc-scu@KRBTEST.COM
    account_keytab: str
    env: Mapping[str, str]
    _k5: Any

    def __repr__(self) -> str:
        # Not the dataclass's: that one shows user_password. Total (providers._safe_errors).
        return total_repr(self, lambda: f"KerberosRealm({self.name!r}, user={self.user!r})")

    @property
    def service_principal(self) -> str:
        return f"{self.service}/{self.service_host}@{self.name}"

    def kinit(self, *, lifetime: str | None = None, ccache: str | None = None) -> str:
        """A fresh ticket for the user (``lifetime`` like "3s"); returns the ccache used."""
        target = ccache or self.ccache
        flags = ["-c", target] + (["-l", lifetime] if lifetime else [])
        self._k5.kinit(self.user, self.user_password, flags=flags, verbose=False)
        return target

    def stop_kdc(self) -> None:
        self._k5.stop_kdc()

    def start_kdc(self) -> None:
        self._k5.start_kdc()


def _free_port_base(count: int = 4) -> int:
    """A base port with ``count`` free TCP and UDP ports above it (k5test's default is fixed)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + count >= 65535:
            continue
        if all(_port_free(base + i) for i in range(count)):
            return base
    raise RuntimeError("no free port range for a Kerberos realm on 127.0.0.1")


def _port_free(port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


@contextlib.contextmanager
def throwaway_realm(realm: str = "KRBTEST.COM") -> Iterator[KerberosRealm]:
    """Start a KDC in a temp folder, yield the realm, stop and delete it."""
    why = kerberos_tools_missing()
    if why:
        raise RuntimeError(why)
    os.environ["PATH"] = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN])
    import k5test

    k5 = k5test.K5Realm(realm=realm, portbase=_free_port_base())
    try:
        tmp = Path(k5.tmpdir)
        pacs_keytab = str(tmp / "pacs.keytab")
        account_keytab = str(tmp / "svc-scu.keytab")
        k5.addprinc("dicom/localhost")
        k5.extract_keytab("dicom/localhost", pacs_keytab)
        account = f"svc-scu@{realm}"
        k5.addprinc(account)
        k5.extract_keytab(account, account_keytab)
        env = dict(k5.env)
        # No implicit fallbacks: a test that wants a keytab names it.
        env.pop("KRB5_CLIENT_KTNAME", None)
        env.pop("KRB5_KTNAME", None)
        yield KerberosRealm(
            name=realm,
            user=k5.user_princ,
            user_password=k5.password("user"),
            ccache=env["KRB5CCNAME"],
            service="dicom",
            service_host="localhost",
            pacs_keytab=pacs_keytab,
            account=account,
            account_keytab=account_keytab,
            env=env,
            _k5=k5,
        )
    finally:
        k5.stop()
        shutil.rmtree(k5.tmpdir, ignore_errors=True)
