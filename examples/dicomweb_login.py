#!/usr/bin/env python3
"""Interactive login (OpenID Connect device flow), then DICOMweb with the access token sent as
HTTP Bearer: STOW-RS of the files given with --store, then QIDO-RS of --patient-id's studies.
The same OidcLoginProvider works over DIMSE as a type 5 identity (login_device.py): one login,
one refresh token in the OS keyring, both protocols.

    python examples/dicomweb_login.py --issuer https://idp.hospital.example/realms/pacs \\
        --client-id dicom-cli --url https://pacs.hospital.example/dicom-web \\
        --ca-file hospital-ca.pem --patient-id 12345

The verification URL and user code go to stderr, for the person to enter on any device; the
example waits for them (bounded), says who logged in (never a token) and then calls the server.

What it needs: a DICOMweb server that accepts the issuer's access tokens (Apache mod_oauth2 or
mod_auth_openidc verifying them against the issuer's jwks_uri in front of Orthanc or
dcm4chee-arc, Keycloak's own gatekeeper, a cloud archive), and a public client of the issuer
allowed the device grant. To see it run with nothing installed by hand but the project's Debian
packages: ``python examples/dicomweb_login_demo.py`` (part of ``scripts/demo``) starts
oidc-provider, Orthanc with its DICOMweb plugin and Apache with mod_oauth2 checking the
provider's JWKS, all on 127.0.0.1, runs this example against them and approves the code from a
second client, as the person would on their phone.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# Run from a checkout without installing: make the project importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from client_sdk import DicomIdentityError, DicomWebClient, TlsConfig
from providers import OidcLoginProvider
from providers._token_answer import iso_time


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--issuer", required=True, help="the OpenID Provider (its discovery URL base)")
    p.add_argument("--client-id", required=True, help="the public client registered for devices")
    p.add_argument("--scope", default="openid offline_access", help="space-separated scopes")
    p.add_argument("--audience", help="refuse an access token not issued for this audience")
    p.add_argument("--resource", help="the resource indicator (RFC 8707) to ask a token for")
    p.add_argument("--poll-interval", type=float, default=5.0, help="seconds between polls")
    p.add_argument("--url", required=True, help="DICOMweb root, e.g. https://host/dicom-web")
    p.add_argument("--ca-file", help="PEM file of the CA that signed the server's certificate")
    p.add_argument("--store", nargs="*", default=[], help="DICOM files to send by STOW-RS first")
    p.add_argument("--patient-id", default="*", help="PatientID to search for (default: *)")
    p.add_argument("--timeout", type=float, default=30, help="deadline per request, seconds")
    p.add_argument("--logout", action="store_true", help="log out at the end")
    args = p.parse_args(argv)
    provider = OidcLoginProvider(
        args.issuer,
        client_id=args.client_id,
        scopes=args.scope.split(),
        audience=args.audience,
        resource=args.resource,
        flow="device",
        interactive=sys.stdin.isatty(),
        login_command="python examples/dicomweb_login.py ...",
        poll_interval=args.poll_interval,
        ca_file=args.ca_file,
    )
    tls = TlsConfig(ca_file=args.ca_file) if args.ca_file else None
    try:
        status = provider.login()
        until = iso_time(status.expires_at) if status.expires_at else "unknown"
        print(f"logged in as {status.principal!r} at {status.issuer}, token valid until {until}")
        with DicomWebClient(args.url, provider, tls=tls, timeout=args.timeout) as client:
            if args.store:
                report = client.store_many(args.store)
                print(f"STOW-RS: {client.outcome().summary()} stored={report.stored}")
                for failed in report.failed:
                    print(f"  not stored: {failed.path}: {failed.error}")
            studies = client.find({"PatientID": args.patient_id, "StudyInstanceUID": ""})
            print(f"QIDO-RS: {client.outcome().summary()} studies={len(studies)}")
            for study in studies:
                print(f"  StudyInstanceUID={study.StudyInstanceUID}")
        if args.logout:
            result = provider.logout()
            print(f"logged out: refresh token revoked {result.revoked}, deleted {result.deleted}")
    except DicomIdentityError as error:
        print(f"error ({type(error).__name__}): {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
