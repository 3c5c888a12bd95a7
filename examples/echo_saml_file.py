#!/usr/bin/env python3
"""C-ECHO with a type 4 identity: a SAML 2.0 assertion read from a file that an agent rotates.

With no --host, the example starts an embedded PACS that trusts a demo issuer and writes a
short-lived (unsigned: the embedded PACS checks issuer, audience and validity, not signatures)
assertion to a temp file. The PACS's SAML response is recorded, not verified.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import _common

from providers import SamlFileProvider


def main(argv: list[str] | None = None) -> int:
    p = _common.parser(__doc__ or "")
    p.add_argument(
        "--saml-file", type=Path, help="file holding the assertion (required with --host)"
    )
    p.add_argument("--audience", help="refuse an assertion not restricted to this audience")
    args = p.parse_args(argv)
    if args.host and not args.saml_file:
        p.error("--saml-file is required with --host")
    with (
        _common.target(args, saml_issuer=_common.DEMO_SAML_ISSUER) as where,
        tempfile.TemporaryDirectory() as tmp,
    ):
        assertion_file, audience = args.saml_file, args.audience
        if where.embedded:
            assertion_file = Path(tmp) / "assertion.xml"
            _write_demo_assertion(assertion_file)
            audience = audience or _common.DEMO_AUDIENCE
        identity = SamlFileProvider(
            assertion_file, audience=audience, positive_response=args.pos_response or where.embedded
        )
        with _common.client(args, where, identity).associate() as session:
            _common.report(session, "C-ECHO", session.echo())
            print(f"  {session.outcome.detail}")
    return 0


def _write_demo_assertion(path: Path) -> None:
    def instant(ts: float) -> str:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    now = time.time()
    xml = (
        '<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" '
        f'ID="_{uuid.uuid4().hex}" Version="2.0" IssueInstant="{instant(now)}">'
        f"<saml:Issuer>{_common.DEMO_SAML_ISSUER}</saml:Issuer>"
        "<saml:Subject><saml:NameID>alice@example.org</saml:NameID></saml:Subject>"
        f'<saml:Conditions NotBefore="{instant(now - 60)}" NotOnOrAfter="{instant(now + 300)}">'
        f"<saml:AudienceRestriction><saml:Audience>{_common.DEMO_AUDIENCE}</saml:Audience>"
        "</saml:AudienceRestriction></saml:Conditions></saml:Assertion>\n"
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(xml)


if __name__ == "__main__":
    raise SystemExit(_common.run(main))
