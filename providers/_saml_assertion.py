"""Reading a SAML 2.0 assertion safely: what it says about who, for whom and when.

Parsed with defusedxml, with any DTD refused outright: an assertion never needs one, and a DTD is
how the XML attacks come in (entity expansion such as "billion laughs", external entities that
read local files or reach the network). Nothing here verifies the XML signature: the requestor
only reads its own assertion to refuse, before sending it, one that is expired, not yet valid or
for another audience; the peer (the identity provider's relying party) verifies the signature.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # only for ParseError and the Element type
from dataclasses import dataclass
from datetime import UTC, datetime

import defusedxml
import defusedxml.ElementTree

from providers._errors import CredentialError, CredentialExpired
from providers._outside_text import quoted
from providers._safe_errors import secret_safe

ASSERTION_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
PROTOCOL_NS = "urn:oasis:names:tc:SAML:2.0:protocol"
_A = f"{{{ASSERTION_NS}}}"
# The XML declaration's encoding, if any: only UTF-8 is accepted (PS3.7 asks for UTF-8 text).
_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*\bencoding\s*=\s*["']([^"']+)["']""")


class InvalidSamlAssertion(CredentialError):
    """The file does not hold a usable SAML 2.0 assertion; the message says what is wrong."""


class UnsafeXml(InvalidSamlAssertion):
    """The XML holds a DTD, entity declarations or external references: refused unexpanded."""


@dataclass(frozen=True)
class SamlAssertion:
    """What the requestor and the embedded PACS read from an assertion. None of it is secret."""

    assertion_id: str
    issuer: str
    name_id: str
    not_before: datetime | None
    not_on_or_after: datetime | None
    # One tuple per AudienceRestriction: each must name the relying party (SAML core 2.5.1.4).
    audience_restrictions: tuple[tuple[str, ...], ...]

    def allows_audience(self, audience: str) -> bool:
        return bool(self.audience_restrictions) and all(
            audience in restriction for restriction in self.audience_restrictions
        )

    @property
    def audiences(self) -> list[str]:
        return sorted({a for restriction in self.audience_restrictions for a in restriction})


@secret_safe  # ``raw`` is a bearer credential: no error may keep it in its frames or chain
def parse_assertion(raw: bytes) -> SamlAssertion:
    """Parse one ``<saml:Assertion>`` (UTF-8); raises :class:`UnsafeXml` or
    :class:`InvalidSamlAssertion` with a message that quotes no part of the document."""
    declared = _DECLARED_ENCODING.match(raw)
    if declared is not None and declared.group(1).lower().replace(b"_", b"-") not in (
        b"utf-8",
        b"utf8",
    ):
        raise InvalidSamlAssertion(
            f"the XML declares encoding {quoted(declared.group(1).decode('ascii', 'replace'))}; "
            "a SAML assertion in a DICOM identity must be UTF-8"
        )
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidSamlAssertion("the assertion is not valid UTF-8") from None
    try:
        root = defusedxml.ElementTree.fromstring(
            raw, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except defusedxml.DTDForbidden:
        raise UnsafeXml(
            "the XML holds a document type declaration (<!DOCTYPE>), which a SAML assertion "
            "never needs and which carries entity-expansion and external-entity attacks; "
            "refused without expanding anything"
        ) from None
    except defusedxml.EntitiesForbidden:
        raise UnsafeXml("the XML declares entities; refused without expanding them") from None
    except defusedxml.ExternalReferenceForbidden:
        raise UnsafeXml("the XML refers to an external resource; refused unfetched") from None
    except defusedxml.DefusedXmlException as exc:  # any other construct defusedxml refuses
        raise UnsafeXml(f"the XML was refused by defusedxml ({type(exc).__name__})") from None
    except ET.ParseError as exc:  # expat's message: the error and its line and column only
        raise InvalidSamlAssertion(f"the XML is not well-formed ({quoted(str(exc))})") from None
    return _read(root)


def _read(root: ET.Element) -> SamlAssertion:
    if root.tag == f"{{{PROTOCOL_NS}}}Response":
        raise InvalidSamlAssertion(
            "this is a SAML protocol Response, not an Assertion; store the <saml:Assertion> "
            "element on its own (signed by the identity provider)"
        )
    if root.tag == f"{_A}EncryptedAssertion":
        raise InvalidSamlAssertion(
            "the assertion is encrypted; its conditions cannot be checked before sending"
        )
    if root.tag != f"{_A}Assertion":
        raise InvalidSamlAssertion(
            f"the root element is {quoted(root.tag)}, not a SAML 2.0 Assertion "
            f"({{{ASSERTION_NS}}}Assertion)"
        )
    if root.get("Version") != "2.0":
        raise InvalidSamlAssertion(
            f"the assertion's Version is {quoted(root.get('Version'))}, not 2.0"
        )
    assertion_id = root.get("ID") or ""
    if not assertion_id:
        raise InvalidSamlAssertion("the assertion has no ID attribute")
    issuer = (root.findtext(f"{_A}Issuer") or "").strip()
    if not issuer:
        raise InvalidSamlAssertion("the assertion has no Issuer")
    name_id = (root.findtext(f"{_A}Subject/{_A}NameID") or "").strip()
    if not name_id:
        raise InvalidSamlAssertion(
            "the assertion's Subject has no NameID (an EncryptedID is not supported): it names "
            "no one to authenticate"
        )
    conditions = root.findall(f"{_A}Conditions")
    if len(conditions) > 1:
        raise InvalidSamlAssertion("the assertion has more than one Conditions element")
    not_before = not_on_or_after = None
    restrictions: tuple[tuple[str, ...], ...] = ()
    if conditions:
        element = conditions[0]
        not_before = _instant(element.get("NotBefore"), "NotBefore")
        not_on_or_after = _instant(element.get("NotOnOrAfter"), "NotOnOrAfter")
        restrictions = tuple(
            tuple((a.text or "").strip() for a in restriction.findall(f"{_A}Audience"))
            for restriction in element.findall(f"{_A}AudienceRestriction")
        )
    return SamlAssertion(assertion_id, issuer, name_id, not_before, not_on_or_after, restrictions)


def _instant(value: str | None, name: str) -> datetime | None:
    """An xs:dateTime in UTC (SAML core 1.3.3); one without a zone is taken as UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except ValueError:
        problem = "is not an xs:dateTime"
    except OverflowError:  # 9999-12-31T23:00:00-05:00 is in the year 10000 once in UTC
        problem = "is outside the years 1 to 9999 once converted to UTC"
    raise InvalidSamlAssertion(
        f"Conditions {name} {problem}: {quoted(value, 60)}; the identity provider must issue "
        "an assertion with valid dates"
    )


def check_conditions(
    assertion: SamlAssertion, now: float, leeway: float, audience: str | None
) -> None:
    """Refuse an assertion that is not valid at ``now`` (± ``leeway`` s) or not for ``audience``.

    Raises :class:`CredentialExpired` for the time window and :class:`InvalidSamlAssertion` for
    the audience; messages name the times and audiences, never the assertion itself.
    """
    if assertion.not_before is not None and now + leeway < assertion.not_before.timestamp():
        raise CredentialExpired(
            f"the SAML assertion is not valid before {_iso(assertion.not_before.timestamp())} "
            f"(now {_iso(now)}, leeway {leeway:g} s); check this machine's clock"
        )
    if (
        assertion.not_on_or_after is not None
        and now - leeway >= assertion.not_on_or_after.timestamp()
    ):
        raise CredentialExpired(
            f"the SAML assertion expired at {_iso(assertion.not_on_or_after.timestamp())} "
            f"(now {_iso(now)}, leeway {leeway:g} s); get a fresh one from the identity provider"
        )
    if audience is not None and not assertion.allows_audience(audience):
        raise InvalidSamlAssertion(
            f"the SAML assertion is for audience {assertion.audiences or 'none'}, not "
            f"{audience!r}: every AudienceRestriction must name it. Request an assertion "
            f"for {audience!r}"
        )


def _iso(ts: float) -> str:
    try:
        return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
    except (OverflowError, ValueError, OSError):  # a clock or leeway beyond datetime's years
        return f"{ts:g} s since 1970"
