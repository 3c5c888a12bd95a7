#!/usr/bin/env python3
"""C-FIND (Study Root) with a type 5 identity: a JWT read from a file that an agent rotates.

With no --host, the example starts an embedded PACS that trusts a demo HS256 key, stores one
generated study in it, writes a short-lived token signed with that key to a temp file, and
queries with it.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import _common
import jwt

from client_sdk import Client, Peer
from client_sdk.testing import ct_dataset
from providers import JwtFileProvider, PasswordProvider


def main(argv: list[str] | None = None) -> int:
    p = _common.parser(__doc__ or "")
    p.add_argument("--jwt-file", type=Path, help="file holding the token (required with --host)")
    p.add_argument("--audience", help="refuse a token not issued for this audience")
    p.add_argument("--patient-id", default="*", help="PatientID to match (default *)")
    args = p.parse_args(argv)
    if args.host and not args.jwt_file:
        p.error("--jwt-file is required with --host")
    users = {_common.DEMO_USER: _common.DEMO_PASSWORD}
    with (
        _common.target(args, users=users, jwt_key=_common.DEMO_JWT_KEY) as where,
        tempfile.TemporaryDirectory() as tmp,
    ):
        token_file, audience = args.jwt_file, args.audience
        if where.embedded:
            _seed_study(where)
            token_file = Path(tmp) / "token.jwt"
            _write_demo_token(token_file)
            audience = audience or _common.DEMO_AUDIENCE
        identity = JwtFileProvider(token_file, audience=audience, positive_response=True)
        query = {"PatientID": args.patient_id, "StudyInstanceUID": "", "StudyDate": ""}
        with _common.client(args, where, identity).associate() as session:
            found = session.find(query, level="STUDY")
            # find() raises on any failure status: reaching here means 0x0000 (success).
            _common.report(session, f"C-FIND ({len(found)} studies)", 0x0000)
            for ds in found:
                print(f"  study {ds.StudyInstanceUID} patient {ds.PatientID} {ds.StudyDate}")
    return 0


def _seed_study(where: _common.Target) -> None:
    # The embedded PACS starts empty: store one study in it first (as alice, with a password).
    seed = Client(
        Peer(where.host, where.port, where.ae_title),
        identity=PasswordProvider(_common.DEMO_USER, _common.DEMO_PASSWORD),
    )
    seed.store(ct_dataset(patient_id="DEMO-1", patient_name="Demo^Patient"))


def _write_demo_token(path: Path) -> None:
    now = int(time.time())
    claims = {
        "sub": "alice@example.org",
        "aud": _common.DEMO_AUDIENCE,
        "iat": now,
        "exp": now + 300,
    }
    token = jwt.encode(claims, _common.DEMO_JWT_KEY, algorithm="HS256")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")


if __name__ == "__main__":
    raise SystemExit(_common.run(main))
