#!/usr/bin/env python3
"""The demo: every example against an embedded PACS on 127.0.0.1."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common
import demo_login_device
import dicomweb_login_demo
import echo_kerberos
import echo_username
import find_jwt_file
import store_keyring_password

from client_sdk.testing import kerberos_tools_missing

EXAMPLES = [
    ("type 1, username", echo_username.main),
    ("type 2, password from the keyring", store_keyring_password.main),
    ("type 5, JWT from a rotating file", find_jwt_file.main),
]
KERBEROS = ("type 3, Kerberos ticket with mutual authentication", echo_kerberos.main)


def main() -> int:
    extra = sys.argv[1:]
    examples = list(EXAMPLES)
    missing = kerberos_tools_missing()
    if missing:
        print(f"(skipping the Kerberos example: {missing})")
    else:
        examples.insert(2, KERBEROS)
    for title, run in examples:
        print(f"\n=== {title} ===")
        code = _common.run(run, extra)
        if code:
            return code
    why = demo_login_device.missing()
    if why:
        print(f"(skipping the OpenID Connect login example: {why})")
    else:
        print("\n=== type 5, interactive login (OpenID Connect device flow) ===")
        code = demo_login_device.main(extra)
        if code:
            return code
    why = dicomweb_login_demo.missing()
    if why:
        print(f"(skipping the DICOMweb login example: {why})")
    else:
        print("\n=== DICOMweb, bearer token of an OpenID Connect login (Apache mod_oauth2) ===")
        code = dicomweb_login_demo.main([])  # its own arguments, not the DIMSE ones
        if code:
            return code
    print("\nAll examples ran (the embedded PACS; Orthanc behind Apache for DICOMweb).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
