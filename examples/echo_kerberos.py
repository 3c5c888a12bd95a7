#!/usr/bin/env python3
"""C-ECHO with a type 3 identity: a Kerberos service ticket, and the PACS's reply verified.

Against a real PACS: run kinit first (or pass --keytab and --principal for a service account),
and give --service-host, the host name the PACS is registered under in the KDC (the service
principal is SERVICE/HOST@REALM). With no --host, the example starts a throwaway MIT Kerberos
realm on 127.0.0.1 (the Kerberos tools must be installed), an embedded PACS holding the keytab of
dicom/localhost, and shows the mutual authentication verified.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import _common

from client_sdk.testing import throwaway_realm
from providers import KerberosProvider


@contextlib.contextmanager
def _realm_env(embedded: bool) -> Iterator[str | None]:
    """With no --host: a throwaway realm, its environment, and the PACS keytab."""
    if not embedded:
        yield None
        return
    with throwaway_realm() as realm:
        saved = dict(os.environ)
        os.environ.update(realm.env)
        try:
            print(f"throwaway Kerberos realm {realm.name}: {realm.user} has a ticket")
            yield realm.pacs_keytab
        finally:
            os.environ.clear()
            os.environ.update(saved)


def main(argv: list[str] | None = None) -> int:
    p = _common.parser(__doc__ or "")
    p.add_argument("--service", default="dicom", help="service part of the principal")
    p.add_argument("--service-host", help="host part of the principal (default: --host)")
    p.add_argument("--keytab", help="client keytab of a service account")
    p.add_argument("--principal", help="principal in the keytab or ticket cache")
    p.add_argument("--token-format", choices=["gssapi", "ap-req"], default="gssapi")
    p.add_argument(
        "--mutual-auth", choices=["required", "optional", "disabled"], default="required"
    )
    args = p.parse_args(argv)
    embedded = not args.host
    with (
        _realm_env(embedded) as keytab,
        _common.target(args, kerberos_keytab=keytab) as where,
    ):
        identity = KerberosProvider(
            service=args.service,
            hostname=args.service_host or ("localhost" if embedded else None),
            keytab=args.keytab,
            principal=args.principal,
            token_format=args.token_format,
            mutual_auth=args.mutual_auth,
        )
        with _common.client(args, where, identity).associate() as session:
            _common.report(session, "C-ECHO (Kerberos)", session.echo())
    return 0


if __name__ == "__main__":
    raise SystemExit(_common.run(main))
