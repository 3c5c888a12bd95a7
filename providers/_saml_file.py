"""Type 4: a SAML 2.0 assertion from a file that an agent rotates.

The assertion is sent byte for byte as the file holds it (re-serialising XML would break its
signature), after a safe parse (:mod:`providers._saml_assertion`) that refuses DTDs and entities.
The peer's answer, a SAML response when it sends one, is recorded but NOT verified: the SDK checks
no SAML signature, so the outcome is ``present-unverified`` whatever came back.
"""

from __future__ import annotations

from dataclasses import dataclass

from providers._base import (
    MAX_ITEM_LENGTH,
    IdentityExchange,
    IdentityRequest,
    IdentityType,
    ResponseCheck,
    Target,
)
from providers._errors import CredentialError
from providers._outside_text import label
from providers._rotating_file import RotatingFile
from providers._safe_errors import secret_safe, total_repr
from providers._saml_assertion import (
    InvalidSamlAssertion,
    SamlAssertion,
    check_conditions,
    parse_assertion,
)
from providers._secret import Secret
from providers._token_file import TokenFileProvider

# The primary field and the item share one 16-bit length: type, flag and two lengths take 6 bytes.
MAX_ASSERTION_BYTES = MAX_ITEM_LENGTH - 6
_XML_SPACE = b" \t\r\n"
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class _Loaded:
    assertion: Secret
    parsed: SamlAssertion

    def __repr__(self) -> str:  # total: copy.deepcopy leaves a half-built one in a frame
        return total_repr(self, lambda: f"_Loaded({self.assertion!r}, {self.parsed!r})")


class SamlFileProvider(TokenFileProvider[_Loaded]):
    """Reads a SAML 2.0 assertion (UTF-8 XML) from ``path`` whenever the file changed.

    Before anything is sent, refuses an assertion whose ``Conditions`` NotBefore/NotOnOrAfter
    exclude now (± ``leeway`` seconds), or whose AudienceRestriction lacks ``audience`` when one is
    given, or that does not fit in an association (16-bit lengths). The signature is not checked
    here: the peer does that. The principal is the Subject's NameID.

    The server response (a SAML response) is recorded on the exchange (:attr:`SamlExchange.
    saml_response`) but not verified: its outcome is always ``present-unverified``.
    """

    identity_type = IdentityType.SAML

    def _open_file(self) -> RotatingFile[_Loaded]:
        return RotatingFile(
            self.path,
            self._parse,
            what="SAML assertion file",
            noun="assertion",
            max_bytes=MAX_ASSERTION_BYTES,
            too_large_hint=(
                f"at most {MAX_ASSERTION_BYTES} bytes fit in a user identity item (16-bit "
                "lengths): ask the identity provider for a smaller assertion (fewer attributes)"
            ),
        )

    @secret_safe  # the file's text and the XML parser's frames: none may ride out on an error
    def negotiate(self, target: Target) -> SamlExchange:
        loaded = self._file.load()
        try:
            check_conditions(loaded.parsed, self._clock(), self.leeway, self.audience)
        except CredentialError as exc:
            raise type(exc)(f"SAML assertion file {self.path}: {exc}; nothing was sent") from None
        request = IdentityRequest(
            IdentityType.SAML,
            loaded.assertion,
            positive_response_requested=self.positive_response,
            # Labels for logs and audit, read from the file: one printable line each.
            principal=label(loaded.parsed.name_id),
            source=f"SAML assertion file {self.path} (issuer {label(loaded.parsed.issuer)})",
        )
        return SamlExchange(request)

    def _parse(self, raw: bytes) -> _Loaded:
        text = raw.removeprefix(_BOM).strip(_XML_SPACE)
        if not text:
            raise InvalidSamlAssertion(
                f"SAML assertion file {self.path} is empty; the agent may not have written it yet. "
                "Check that it runs, and that it replaces the file atomically (a temp file, then "
                "a rename)"
            )
        try:
            parsed = parse_assertion(text)
        except InvalidSamlAssertion as exc:
            raise type(exc)(
                f"SAML assertion file {self.path}: {exc}; check what the agent writes to it "
                "(the identity provider's signed <saml:Assertion>, as UTF-8 XML)"
            ) from None
        return _Loaded(Secret(text), parsed)


class SamlExchange(IdentityExchange):
    """A SAML identity for one association; the peer's SAML response is kept, not verified."""

    def __init__(self, request: IdentityRequest) -> None:
        super().__init__(request)
        self.saml_response: bytes | None = None

    def __repr__(self) -> str:
        return total_repr(self, lambda: f"SamlExchange(principal={self.request.principal!r})")

    def _check(self, server_response: bytes | None) -> ResponseCheck:
        check = super()._check(server_response)
        if server_response is None or check.echoed:
            return check
        self.saml_response = server_response
        return ResponseCheck(
            check.status,
            length=check.length,
            detail=(
                f"SAML response of {len(server_response)} bytes recorded, not verified "
                "(the SDK checks no SAML signature)"
                if server_response
                else "empty response recorded, not verified"
            ),
        )
