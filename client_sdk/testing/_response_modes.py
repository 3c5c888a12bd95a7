"""What the embedded PACS answers to a user identity: the response modes, and the rejection.

``standard`` is what PS3.7 D.3.3.7 asks; the others reproduce real peers (DCMTK and Orthanc,
dcm4che, stock pynetdicom). ``client_sdk._pynetdicom.testing_acse`` carries them out.
"""

from __future__ import annotations

from typing import Literal, get_args

from client_sdk._wire.constants import CONFORMANT_IDENTITY_REJECTION, STOCK_IDENTITY_REJECTION

ResponseMode = Literal["standard", "silent", "echo", "pynetdicom"]
RESPONSE_MODES: tuple[ResponseMode, ...] = get_args(ResponseMode)


def rejection_for(mode: ResponseMode) -> tuple[int, int, int]:
    """The A-ASSOCIATE-RJ triple used for an identity failure in ``mode``."""
    return STOCK_IDENTITY_REJECTION if mode == "pynetdicom" else CONFORMANT_IDENTITY_REJECTION


def server_response(
    mode: ResponseMode, identity_type: int, primary: bytes, reply: bytes | None = None
) -> bytes | None:
    """The server response for a verified identity (``None``: no 59H item), before the
    "was a positive response requested" check. ``reply`` is the verifier's own answer (type 3:
    the AP-REP, ``b""`` when the initiator asked for no mutual authentication).

    * ``standard``: the verifier's reply if it has one (type 3, PS3.15 B.6), else a zero-length
      response for types 1, 2 and 5 (type 4 would carry the SAML response; not supported yet);
    * ``silent``: never a response (DCMTK, Orthanc);
    * ``echo``: zero-length for types 1 and 2, the requestor's own primary field for types 3-5
      (dcm4che's default acceptor): a Kerberos client must fail mutual authentication on it;
    * ``pynetdicom``: the reply (else ``b""``) handed to stock pynetdicom, which drops it for
      types 1 and 2.
    """
    if mode == "silent":
        return None
    if mode == "pynetdicom":
        return b"" if reply is None else reply
    if identity_type in (1, 2):
        return b""
    if mode == "echo":
        return primary
    if reply is not None:
        return reply
    return b"" if identity_type == 5 else None
