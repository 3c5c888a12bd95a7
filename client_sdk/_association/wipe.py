"""What pynetdicom keeps of the identity exchange, wiped, and the secrets its logs must not show.

pynetdicom keeps both A-ASSOCIATE primitives for the association's life (``assoc.requestor`` and
``assoc.acceptor``, public): the request's password or token, and the peer's answer, whose
``str()`` prints it.
"""

from __future__ import annotations

from pynetdicom.association import Association
from pynetdicom.pdu_primitives import UserIdentityNegotiation

from providers import IdentityExchange, IdentityType

WIPED = b"[wiped]"


def secrets_of(exchange: IdentityExchange | None) -> list[bytes]:
    """The bytes to scrub from logs: passcodes, and the primary field of tokens and tickets."""
    if exchange is None:
        return []
    request = exchange.request
    secrets = [request.secondary.reveal()] if request.secondary is not None else []
    if request.identity_type not in (IdentityType.USERNAME, IdentityType.USERNAME_PASSCODE):
        secrets.append(request.primary.reveal())
    return secrets


def wipe_request(assoc: Association) -> None:
    """pynetdicom keeps the request primitive (password included) for the association's life."""
    primitive = assoc.requestor.primitive
    items = primitive.user_information if primitive is not None else []
    for item in items:
        if isinstance(item, UserIdentityNegotiation) and item.server_response is None:
            if item.user_identity_type not in (1, 2):
                item.primary_field = WIPED
            item.secondary_field = b""


def wipe_identity_answer(assoc: Association) -> None:
    """Replace the server response of the peer's user identity item (59H) on ``assoc``.

    pynetdicom keeps the A-ASSOCIATE-AC primitive for the association's life
    (``assoc.acceptor.primitive``, public); its ``user_information`` list holds the one
    ``UserIdentityNegotiation`` that ``assoc.acceptor.user_identity`` returns and whose ``str()``
    prints the response. The PDU it was decoded from is not kept (``dul._recv_pdu`` is emptied
    when the state machine turns it into this primitive: ``tests/test_echoed_secrets.py`` walks
    the association to prove that nothing else holds a copy)."""
    primitive = assoc.acceptor.primitive
    items = primitive.user_information if primitive is not None else []
    for item in items:
        if isinstance(item, UserIdentityNegotiation) and item.server_response is not None:
            item.server_response = WIPED
