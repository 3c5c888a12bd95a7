"""GSS-API framing of Kerberos messages (RFC 2743 section 3.1, RFC 4121 section 4.1).

An initial context token is ``60 <DER length> 06 09 <krb5 OID> <TOK_ID> <Kerberos message>``. The
``"ap-req"`` token format sends the bare KRB_AP_REQ (and expects a bare KRB_AP_REP back); the
GSS-API side always needs the framed form, so both ends convert here.
"""

from __future__ import annotations

# 1.2.840.113554.1.2.2, DER-encoded with its tag and length.
KRB5_OID = bytes.fromhex("06092a864886f712010202")
AP_REQ = b"\x01\x00"
AP_REP = b"\x02\x00"
KRB_ERROR = b"\x03\x00"


class FramingError(ValueError):
    """The bytes are not a GSS-API Kerberos token of the expected kind."""


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def frame(tok_id: bytes, message: bytes) -> bytes:
    """Wrap a bare Kerberos message (AP-REQ, AP-REP, KRB-ERROR) in GSS-API framing."""
    inner = KRB5_OID + tok_id + message
    return b"\x60" + _der_length(len(inner)) + inner


def unframe(token: bytes) -> tuple[bytes, bytes]:
    """Split a framed token into (TOK_ID, bare Kerberos message)."""
    if len(token) < 2 or token[0] != 0x60:
        raise FramingError("not a GSS-API token (no 60H application tag)")
    first = token[1]
    if first < 0x80:
        length, offset = first, 2
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or len(token) < 2 + count:
            raise FramingError("bad DER length in the GSS-API token")
        length, offset = int.from_bytes(token[2 : 2 + count], "big"), 2 + count
    if offset + length != len(token):
        raise FramingError("the GSS-API token length does not match its size")
    inner = token[offset:]
    if not inner.startswith(KRB5_OID):
        raise FramingError("the GSS-API token is not for the Kerberos 5 mechanism")
    tok_id = inner[len(KRB5_OID) : len(KRB5_OID) + 2]
    message = inner[len(KRB5_OID) + 2 :]
    if len(tok_id) != 2 or not message:
        raise FramingError("the GSS-API token carries no Kerberos message")
    return tok_id, message
