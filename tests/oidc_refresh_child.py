"""A second process that refreshes the same login (tests/test_oidc_refresh.py).

``python -m tests.oidc_refresh_child SETTINGS_JSON``: builds an OidcLoginProvider on the same
keyring file and lock folder as the test, prints ``ready``, waits for a line on stdin (so that
every process starts its refresh at once), negotiates, and prints one JSON line: the access
token's SHA-256 and principal, or the error's type and message. Never the token itself.
"""

from __future__ import annotations

import hashlib
import json
import sys

from keyrings.alt.file import PlaintextKeyring

from providers import IdentityError, OidcLoginProvider, Target


def main() -> int:
    settings = json.loads(sys.argv[1])
    keyring = PlaintextKeyring()
    keyring.file_path = settings.pop("keyring_file")
    provider = OidcLoginProvider(
        settings.pop("issuer"), keyring_backend=keyring, prompt=lambda p: None, **settings
    )
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        request = provider.negotiate(Target("127.0.0.1", 11112, "PACS", "SCU")).request
    except IdentityError as exc:
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)}), flush=True)
        return 1
    digest = hashlib.sha256(request.primary.reveal()).hexdigest()
    print(json.dumps({"sha256": digest, "principal": request.principal}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
