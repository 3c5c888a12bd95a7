#!/usr/bin/env python3
"""C-STORE with a type 2 identity whose password comes from the OS keyring.

Against a real PACS, store the password first: ``keyring set SERVICE USER``. With no --host, the
example starts an embedded PACS and uses a throwaway file keyring (keyrings.alt) in a temp folder.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import _common

from client_sdk.testing import ct_dataset
from providers import KeyringPasswordProvider

SERVICE = "dicom-identity-demo"


def main(argv: list[str] | None = None) -> int:
    p = _common.parser(__doc__ or "")
    p.add_argument("--service", default=SERVICE, help="keyring service name")
    p.add_argument("--user", default=_common.DEMO_USER, help="keyring user name")
    p.add_argument("files", nargs="*", type=Path, help="DICOM files (default: one generated CT)")
    args = p.parse_args(argv)
    users = {_common.DEMO_USER: _common.DEMO_PASSWORD}
    with _common.target(args, users=users) as where, tempfile.TemporaryDirectory() as tmp:
        backend = None
        if where.embedded:
            from keyrings.alt.file import PlaintextKeyring

            backend = PlaintextKeyring()
            backend.file_path = str(Path(tmp) / "demo-keyring.cfg")
            backend.set_password(args.service, args.user, _common.DEMO_PASSWORD)
        identity = KeyringPasswordProvider(
            args.service, args.user, positive_response=True, backend=backend
        )
        if args.files:
            items, sop_classes = list(args.files), None  # the common storage classes
        else:
            generated = ct_dataset(patient_id="DEMO-1")
            items, sop_classes = [generated], [generated.SOPClassUID]
        with _common.client(args, where, identity).associate(sop_classes=sop_classes) as session:
            for item in items:
                _common.report(session, "C-STORE", session.store(item))
    return 0


if __name__ == "__main__":
    raise SystemExit(_common.run(main))
