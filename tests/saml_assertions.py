"""SAML assertions built for the tests (the issuer and audience the embedded PACS trusts), and the
atomic file write an agent would do."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ISSUER = "https://idp.hospital.example/saml"


AUDIENCE = "EMBEDDED_PACS"


NAME_ID = "alice@hospital.example"


# A value that only appears inside the assertion: it must never show up in logs or errors.
MARKER = "assertion-body-marker-7f3c2a"


SAML_NS = 'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"'


def instant(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_assertion(
    *,
    issuer: str = ISSUER,
    name_id: str = NAME_ID,
    audiences: tuple[tuple[str, ...], ...] = ((AUDIENCE,),),
    not_before: float | None = None,
    not_on_or_after: float | None = None,
    now: float | None = None,
    conditions: bool = True,
    assertion_id: str | None = None,
    padding: int = 0,
) -> bytes:
    now = time.time() if now is None else now
    not_before = now - 60 if not_before is None else not_before
    not_on_or_after = now + 300 if not_on_or_after is None else not_on_or_after
    restrictions = "".join(
        "<saml:AudienceRestriction>"
        + "".join(f"<saml:Audience>{a}</saml:Audience>" for a in group)
        + "</saml:AudienceRestriction>"
        for group in audiences
    )
    condition_xml = (
        f'<saml:Conditions NotBefore="{instant(not_before)}" '
        f'NotOnOrAfter="{instant(not_on_or_after)}">{restrictions}</saml:Conditions>'
        if conditions
        else ""
    )
    attribute = (
        '<saml:AttributeStatement><saml:Attribute Name="padding"><saml:AttributeValue>'
        + "x" * padding
        + "</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>"
        if padding
        else ""
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<saml:Assertion {SAML_NS} '
        f'ID="{assertion_id or "_" + uuid.uuid4().hex}" Version="2.0" '
        f'IssueInstant="{instant(now)}">'
        f"<saml:Issuer>{issuer}</saml:Issuer>"
        f'<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:'
        f'emailAddress">{name_id}</saml:NameID></saml:Subject>'
        f"{condition_xml}"
        f'<saml:AuthnStatement AuthnInstant="{instant(now)}" SessionIndex="{MARKER}"/>'
        f"{attribute}</saml:Assertion>\n"
    ).encode()


def write_file(path: Path, data: bytes, mode: int = 0o600) -> Path:
    """Atomic replacement, as an agent should do it: a temp file renamed into place."""
    temp = path.with_name(path.name + ".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(temp, path)
    return path
