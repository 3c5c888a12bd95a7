"""Text a DICOM peer sends, made fit to show: the one way it reaches a message or the CLI.

A peer chooses every byte of what it sends: a DIMSE Error Comment, the identifiers a C-FIND
returns, the SOP Instance UIDs of a C-GET or a failed sub-operation list, the text of a decoding
error that quotes its data. It may put our own passcode or token there (it received them), and a
newline that forges a second line of output ("C-ECHO: ... decision=confirmed"). :func:`shown`
is the only way such a value is shown:

1. every secret of the association (the passcode, the JWT, the SAML assertion, the Kerberos
   token: :attr:`providers.IdentityRequest.secrets`) and every secret in flight is removed, in
   every encoding the shared scrubber knows (:mod:`providers._scrub`: raw, URL-encoded, hex,
   base64 at every alignment, ``repr``/JSON escapes);
2. every character that is not printable (CR, LF, ESC, the other C0 and C1 controls, line
   separators, bidirectional overrides) becomes a space: one line that cannot forge another;
3. the text is cut to the maximum length of its VR (PS3.5 Table 6.2-1: AE 16, LO 64, UI 64,
   ST 1024 ...), so a peer cannot flood a message.

:class:`PeerText` carries one association's secrets (as ``Secret`` values, which show nothing)
for the session that runs on it; it compiles them into a scrubber only while it is used.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydicom import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from providers import IdentityExchange, Secret
from providers._scrub import REDACTED, SecretForms, server_text

# PS3.5 Table 6.2-1, in characters. PN: three component groups of 64 and their two "=".
VR_LENGTHS = {
    "AE": 16,
    "AS": 4,
    "CS": 16,
    "DA": 8,
    "DS": 16,
    "DT": 26,
    "IS": 12,
    "LO": 64,
    "LT": 10240,
    "PN": 3 * 64 + 2,
    "SH": 16,
    "ST": 1024,
    "TM": 16,
    "UI": 64,
}
_UNBOUNDED = 1024  # UC, UR, UT (and unknown VRs): no short maximum, so a line's worth
_NUMBER = 32  # a binary number (US, UL, FD ...) as text
_BINARY = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}
_NUMBERS = {"US", "SS", "UL", "SL", "UV", "SV", "FL", "FD"}
_CUT = "..."
_GROWTH = 4096  # room for "[redacted]" in place of short secrets, before our own cut
MAX_VALUES = 16  # values of a multi-valued element shown; the rest is "\..."

SecretsGiven = SecretForms | Iterable[Secret]


def shown(value: object, vr: str = "LO", secrets: SecretsGiven = ()) -> str:
    """``value`` (a peer's element value, or any text it sent) as one printable line of at
    most its VR's length, without ``secrets`` nor any secret in flight, in any encoding."""
    forms = secrets if isinstance(secrets, SecretForms) else SecretForms(secrets)
    if isinstance(value, MultiValue | list | tuple):
        values = list(value)[: MAX_VALUES + 1]
        # A secret split over two values is shown by none of them, but read across them.
        room = VR_LENGTHS.get(vr.upper(), _UNBOUNDED) + forms.margin
        texts = [_text(item)[:room] for item in values]
        if _found(forms, "".join(texts)) > sum(_found(forms, text) for text in texts):
            return REDACTED
        parts = [_one(item, vr, forms) for item in values[:MAX_VALUES]]
        return "\\".join(parts + (["..."] if len(values) > MAX_VALUES else []))
    return _one(value, vr, forms)


def _found(forms: SecretForms, text: str) -> int:
    """How many secrets ``forms`` finds in ``text``."""
    return forms.remove(text).count(REDACTED) - text.count(REDACTED)


def _one(value: object, vr: str, forms: SecretForms) -> str:
    if value is None:
        return ""
    if isinstance(value, Sequence | Dataset):
        return f"<sequence of {len(value)} item(s)>"
    vr = vr.upper()
    if isinstance(value, bytes | bytearray) and vr in _BINARY:
        return f"<{len(value)} bytes>"
    limit = _NUMBER if vr in _NUMBERS else VR_LENGTHS.get(vr, _UNBOUNDED)
    return _scrubbed(value, forms, limit)


def _scrubbed(value: object, forms: SecretForms, limit: int) -> str:
    text = _text(value)
    # Cut before scrubbing (a peer may send megabytes), keeping whole any secret that starts
    # within the limit; server_text then removes the secrets in flight and makes one printable
    # line (its own cut is not needed: the text is bounded already), and the cut shows.
    text = forms.remove(text[: limit + forms.margin + 1])
    text = server_text(text, limit=len(text) + _GROWTH)
    return text if len(text) <= limit else text[: max(limit - len(_CUT), 0)] + _CUT


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    try:
        return str(value)
    except Exception:  # a value pydicom cannot convert: say what it is, not what it holds
        return f"<{type(value).__name__}>"


class PeerText:
    """The secrets of one association, to show what its peer says (:func:`shown`).

    Holds them as :class:`~providers.Secret` values only (which show nothing, and refuse to be
    copied or serialized); :meth:`scrubber` compiles them for a batch of values, in the
    caller's frame, so that no compiled form outlives its use.
    """

    __slots__ = ("_secrets",)

    def __init__(self, secrets: Iterable[Secret] = ()) -> None:
        self._secrets = tuple(secret for secret in secrets if secret)

    @classmethod
    def of(cls, exchange: IdentityExchange | None) -> PeerText:
        """For an association that sent ``exchange``'s identity (none: nothing to remove)."""
        return cls(exchange.request.secrets if exchange is not None else ())

    def scrubber(self) -> SecretForms:
        """The secrets compiled once, for :func:`shown` over many values."""
        return SecretForms(self._secrets)

    def shown(self, value: object, vr: str = "LO") -> str:
        return shown(value, vr, self._secrets)

    def fields(self, dataset: Dataset) -> dict[str, str]:
        return fields(dataset, self._secrets)

    def __repr__(self) -> str:
        return "PeerText(...)"


def fields(dataset: Dataset, secrets: SecretsGiven = ()) -> dict[str, str]:
    """Top-level keywords and values of ``dataset`` (a peer's identifier), each :func:`shown`;
    sequences and private elements are left out."""
    forms = secrets if isinstance(secrets, SecretForms) else SecretForms(secrets)
    return {
        element.keyword: shown(element.value, element.VR, forms)
        for element in dataset
        if element.keyword and element.VR != "SQ"
    }
