"""An ACSE that answers user identity negotiation the way PS3.7 D.3.3.7 asks.

Stock pynetdicom (3.0.4) differs from the standard in two places, both in ``pynetdicom/acse.py``:

* ``ACSE._check_user_identity`` (lines 248-253) only ever sends a server response for identity types
  3-5, so a requestor of type 1 or 2 that asked for a positive response gets none;
* ``ACSE._negotiate_as_acceptor`` (lines 349-352) rejects a failed identity with (2, 2, 1),
  rejected-transient, where an authorisation failure "shall" be rejected-permanent, (1, 2, 1).

It also verifies the identity of a request it is about to reject for its called AE title (lines
338-350), and then sends the identity's rejection instead.

:class:`ConformantACSE` rejects an unknown called AE title first, with (1, 1, 7), and fixes the two
above, for one association. The embedded PACS installs it from an ``EVT_CONN_OPEN`` handler, which
the server fires before the association thread starts (``pynetdicom/transport.py`` lines
711-723), through :func:`use_conformant_acse`. The response modes
(``client_sdk.testing._response_modes``) choose what the server sends back.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, cast

from pynetdicom import evt
from pynetdicom.acse import ACSE
from pynetdicom.pdu_primitives import A_ASSOCIATE, UserIdentityNegotiation

from client_sdk._wire.constants import (
    CALLED_AE_TITLE_REJECTION,
    CONFORMANT_IDENTITY_REJECTION,
    STOCK_IDENTITY_REJECTION,
)

if TYPE_CHECKING:
    from pynetdicom.association import Association


# Its 0.4 name: logging configurations may name it.
LOGGER = logging.getLogger("client_sdk.testing.acse")


class ConformantACSE(ACSE):
    """ACSE for one acceptor association with a chosen identity answer and rejection.

    ``respond_to_all_types``: send the handler's response for any identity type (the stock code
    drops it for types 1 and 2). ``rejection``: the triple sent when the identity fails or, with
    ``require_identity``, when none was offered; any other rejection is left alone. With the AE's
    ``require_called_aet``, a request for another called AE title is rejected with
    ``CALLED_AE_TITLE_REJECTION`` before its identity is looked at.
    """

    def __init__(
        self,
        assoc: Association,
        *,
        rejection: tuple[int, int, int] = CONFORMANT_IDENTITY_REJECTION,
        respond_to_all_types: bool = True,
        require_identity: bool = False,
    ) -> None:
        super().__init__(assoc)
        self._rejection = rejection
        self._respond_to_all_types = respond_to_all_types
        self._require_identity = require_identity
        self._identity_failed = False

    def _negotiate_as_acceptor(self) -> None:
        request = cast(A_ASSOCIATE, self.requestor.primitive)
        called = request.called_ae_title
        if self.assoc.ae.require_called_aet and called != self.acceptor.ae_title.strip():
            LOGGER.info("Rejecting association: called AE title %r not recognised", called)
            self._reject_before_negotiation(request, CALLED_AE_TITLE_REJECTION)
            return
        if self._require_identity and self.requestor.user_identity is None:
            LOGGER.info("Rejecting association: no user identity offered")
            self._identity_failed = True
            self._reject_before_negotiation(request, self._rejection)
            return
        super()._negotiate_as_acceptor()

    def _reject_before_negotiation(
        self, request: A_ASSOCIATE, triple: tuple[int, int, int]
    ) -> None:
        self.requestor.ae_title = request.calling_ae_title
        self.send_reject(*triple)
        evt.trigger(self.assoc, evt.EVT_REJECTED, {})
        self.assoc.kill()

    def _check_user_identity(self) -> tuple[bool, UserIdentityNegotiation | None]:
        if not self._respond_to_all_types:
            verified, response_item = super()._check_user_identity()
            self._identity_failed = not verified
            return verified, response_item

        request = self.requestor.user_identity
        if request is None:
            return True, None

        # Same as stock: an abort() inside the handler must not block this thread.
        self.assoc.abort = self.assoc._abort_nonblocking  # type: ignore[method-assign]
        try:
            outcome = evt.trigger(
                self.assoc,
                evt.EVT_USER_ID,
                {
                    "user_id_type": request.user_identity_type,
                    "primary_field": request.primary_field,
                    "secondary_field": request.secondary_field,
                },
            )
        except Exception as exc:
            # Only the type: an exception's text could quote the fields.
            LOGGER.error("Exception in handler bound to 'evt.EVT_USER_ID': %s", type(exc).__name__)
            outcome = (False, None)
        finally:
            self.assoc.abort = self.assoc._abort_blocking  # type: ignore[method-assign]

        verified, response = cast(tuple[bool, bytes | None], outcome)
        if not verified:
            self._identity_failed = True
            return False, None
        if not request.positive_response_requested or response is None:
            return True, None
        item = UserIdentityNegotiation()
        item.server_response = response
        return True, item

    def send_reject(self, result: int, source: int, diagnostic: int) -> None:
        if self._identity_failed and (result, source, diagnostic) == STOCK_IDENTITY_REJECTION:
            result, source, diagnostic = self._rejection
        super().send_reject(result, source, diagnostic)


def use_conformant_acse(
    assoc: Association,
    *,
    rejection: tuple[int, int, int] = CONFORMANT_IDENTITY_REJECTION,
    respond_to_all_types: bool = True,
    require_identity: bool = False,
) -> None:
    """Give the acceptor ``assoc`` a :class:`ConformantACSE` (from its ``EVT_CONN_OPEN``)."""
    assoc.acse = ConformantACSE(
        assoc,
        rejection=rejection,
        respond_to_all_types=respond_to_all_types,
        require_identity=require_identity,
    )
