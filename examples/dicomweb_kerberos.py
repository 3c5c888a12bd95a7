#!/usr/bin/env python3
"""QIDO-RS with Kerberos single sign-on: the ticket of ``kinit`` sent as HTTP Negotiate to a
DICOMweb server behind Apache's mod_auth_gssapi (or any SPNEGO proxy), every reply's mutual
authentication token verified. The same KerberosProvider also works over DIMSE
(echo_kerberos.py).

    kinit alice@HOSPITAL.EXAMPLE
    python examples/dicomweb_kerberos.py --url https://pacs.hospital.example/dicom-web \\
        --ca-file hospital-ca.pem --patient-id 12345

The service principal is HTTP/HOST (--service-host, default: the URL's host).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# Run from a checkout without installing: make the project importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from client_sdk import DicomIdentityError, DicomWebClient, TlsConfig
from providers import KerberosProvider


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--url", required=True, help="DICOMweb root, e.g. https://host/dicom-web")
    p.add_argument("--service-host", help="host of the HTTP/HOST principal (default: URL host)")
    p.add_argument("--ca-file", help="PEM file of the CA that signed the server's certificate")
    p.add_argument("--patient-id", default="*", help="PatientID to search for (default: *)")
    p.add_argument("--timeout", type=float, default=30, help="deadline per request, seconds")
    args = p.parse_args(argv)
    tls = TlsConfig(ca_file=args.ca_file) if args.ca_file else None
    client = DicomWebClient(
        args.url,
        KerberosProvider(),
        tls=tls,
        timeout=args.timeout,
        kerberos_hostname=args.service_host,
        audit=None,
    )
    try:
        with client:
            studies = client.find({"PatientID": args.patient_id, "StudyInstanceUID": ""})
            print(f"QIDO-RS: {client.outcome().summary()} studies={len(studies)}")
            for study in studies:
                print(f"  StudyInstanceUID={study.StudyInstanceUID}")
    except DicomIdentityError as error:
        print(f"error ({type(error).__name__}): {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
