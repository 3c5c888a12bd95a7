"""EmbeddedPacs: a pynetdicom SCP on 127.0.0.1 that verifies user identities.

It accepts Verification, every storage SOP class and Study Root C-FIND, C-GET and C-MOVE, verifies
the identity item of each association (usernames, passwords, Kerberos tokens, SAML assertions,
JWTs), answers it
according to a response mode, and records what happened per association so tests can assert on it
without sleeping.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self, cast

from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.events import Event

from client_sdk._pynetdicom.log_redaction import install_pynetdicom_redaction
from client_sdk._pynetdicom.testing_acse import use_conformant_acse
from client_sdk._pynetdicom.testing_handshake import BoundedHandshakes
from client_sdk._pynetdicom.testing_server import Server, pdu_type, set_nodelay
from client_sdk._pynetdicom.testing_shutdown import end_associations
from client_sdk._wire.constants import A_ABORT, A_RELEASE_RQ, CALLED_AE_TITLE_REJECTION
from client_sdk.testing._contexts import supported_contexts
from client_sdk.testing._identity_check import IdentityChecker
from client_sdk.testing._pacs_services import PacsServices
from client_sdk.testing._records import AssociationRecord, LiveRecord, RecordBook, ResponseSent
from client_sdk.testing._response_modes import (
    RESPONSE_MODES,
    ResponseMode,
    rejection_for,
    server_response,
)
from client_sdk.testing._storage import DatasetStore
from providers._safe_errors import total_repr

# Its 0.4 name: logging configurations may name it.
LOGGER = logging.getLogger("client_sdk.testing.pacs")


def _ae_title(value: object) -> str:
    return value.decode("ascii", "replace").strip() if isinstance(value, bytes) else str(value)


class EmbeddedPacs:
    """A pynetdicom SCP that verifies user identities; a context manager.

    ``users`` maps username to password (types 1 and 2); ``jwt_key`` is an HS256 secret or a PEM
    public key (type 5; tokens must carry ``exp`` and ``sub``), or ``jwt_jwks_url`` a JWKS (an
    OpenID Provider's ``jwks_uri``) whose keys are found by ``kid``, read again for an unknown
    one. ``kerberos_keytab`` enables type 3
    (needs python-gssapi: ``pip install 'dicom-identity[kerberos]'``): the primary field may be a
    GSS-API initial context token or a bare KRB_AP_REQ, tokens are checked against a replay cache,
    and ``kerberos_service`` (e.g. ``"dicom/localhost@REALM"``) limits acceptance to that
    principal of the keytab. ``saml_issuer`` enables type 4: a SAML 2.0 assertion from that
    issuer (and, with ``saml_audience``, for that audience) whose Conditions hold now; its XML
    signature is not verified. ``response_mode`` chooses what a verified identity gets back when the
    requestor asked for a positive response:

    * ``"standard"``: a zero-length server response for types 1, 2 and 5 (PS3.7 D.3.3.7), the
      AP-REP for type 3 (framed or bare, as the request was; zero-length without mutual auth), a
      small SAML Response naming the accepted assertion's ID for type 4;
    * ``"silent"``: never a response (like DCMTK and Orthanc);
    * ``"echo"``: zero-length for types 1/2, the requestor's own token for 3-5 (like dcm4che);
    * ``"pynetdicom"``: stock pynetdicom: a response for types 3-5 only (the AP-REP for type 3).

    A failed identity is rejected with (1, 2, 1), or (2, 2, 1) in ``"pynetdicom"`` mode.
    ``require_identity`` rejects an association that offers no identity, with the same triple.
    ``require_called_ae_title`` (default ``True``, like a real PACS) rejects a request whose called
    AE title is not ``ae_title`` with (1, 1, 7), "called AE title not recognised", before its
    identity is verified (in ``"pynetdicom"`` mode without ``require_identity``, stock pynetdicom:
    a failed identity's (2, 2, 1) wins); ``False`` accepts any called AE title.
    Type 4 without ``saml_issuer``, and type 3 without a keytab, are rejected.

    C-GET sends the instances an identifier selects back over the association (the requestor must
    have proposed the SCP role for their storage classes); C-MOVE sends them to an AE title of
    ``move_destinations`` (AE title -> (host, port)) over a new association, without an identity;
    an unknown title fails with 0xA801 "Move destination unknown". Either matches like C-FIND, on
    any key at any level; an identifier without a non-empty key fails with 0xA900. A C-STORE of
    a SOP Instance UID already stored replaces that copy: each instance is kept (and found,
    retrieved and moved) once.

    ``on_association_end`` is called (from the association's thread) with each record once its
    association ends. ``port=0`` binds an ephemeral port; ``port`` holds the real one after
    ``start()``.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ae_title: str = "EMBEDDED_PACS",
        users: Mapping[str, str] | None = None,
        jwt_key: str | bytes | None = None,
        jwt_algorithms: Sequence[str] = ("HS256", "RS256", "ES256"),
        jwt_audience: str | None = None,
        jwt_issuer: str | None = None,
        jwt_jwks_url: str | None = None,
        kerberos_keytab: str | os.PathLike[str] | None = None,
        kerberos_service: str | None = None,
        saml_issuer: str | None = None,
        saml_audience: str | None = None,
        response_mode: ResponseMode = "standard",
        require_identity: bool = False,
        require_called_ae_title: bool = True,
        storage_dir: str | os.PathLike[str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        network_timeout: float = 30,
        acse_timeout: float = 30,
        dimse_timeout: float = 30,
        move_destinations: Mapping[str, tuple[str, int]] | None = None,
        on_association_end: Callable[[AssociationRecord], None] | None = None,
    ) -> None:
        if response_mode not in RESPONSE_MODES:
            raise ValueError(
                f"response_mode must be one of {', '.join(RESPONSE_MODES)}, not {response_mode!r}"
            )
        self.host = host
        self.port = port
        self.ae_title = ae_title
        self.response_mode: ResponseMode = response_mode
        self.require_identity = require_identity
        self.require_called_ae_title = require_called_ae_title
        self.ssl_context = ssl_context
        self._timeouts = (network_timeout, acse_timeout, dimse_timeout)
        self.move_destinations = _destinations(move_destinations or {})
        self._checker = IdentityChecker(
            users=users,
            jwt_key=jwt_key,
            jwt_algorithms=jwt_algorithms,
            jwt_audience=jwt_audience,
            jwt_issuer=jwt_issuer,
            jwt_jwks_url=jwt_jwks_url,
            kerberos_keytab=kerberos_keytab,
            kerberos_service=kerberos_service,
            saml_issuer=saml_issuer,
            saml_audience=saml_audience,
            responder=ae_title,
        )
        self._store = DatasetStore(storage_dir)
        self._book = RecordBook(on_association_end)
        self._services = PacsServices(
            self._store, self._book, lambda title: self.move_destinations.get(title)
        )
        self._ae: AE | None = None
        self._server: Server | None = None
        self._handshakes: BoundedHandshakes | None = None

    def __repr__(self) -> str:
        def build() -> str:  # total (providers._safe_errors): it holds the users' passwords
            state = "running" if self._server is not None else "stopped"
            return (
                f"EmbeddedPacs({self.ae_title!r} on {self.host}:{self.port}, {state}, "
                f"mode={self.response_mode!r}, {self._checker!r})"
            )

        return total_repr(self, build)

    # Lifecycle -------------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind and serve in background threads; returns ``self``."""
        if self._server is not None:
            raise RuntimeError(f"{self!r} is already running")
        install_pynetdicom_redaction()
        self._store.prepare()
        ae = AE(ae_title=self.ae_title)
        ae.network_timeout, ae.acse_timeout, ae.dimse_timeout = self._timeouts
        ae.require_called_aet = self.require_called_ae_title
        ae.connection_timeout = ae.acse_timeout  # C-MOVE's association to the destination
        server = ae.start_server(
            (self.host, self.port),
            block=False,
            ssl_context=self.ssl_context,
            evt_handlers=self._handlers(),
            contexts=supported_contexts(),
        )
        assert server is not None
        if self.ssl_context is not None:
            self._handshakes = BoundedHandshakes(server, timeout=ae.acse_timeout)
        self._ae, self._server = ae, server
        self.port = int(server.server_address[1])
        LOGGER.info("embedded PACS %s listening on %s:%d", self.ae_title, self.host, self.port)
        return self

    def stop(self) -> None:
        """Close the listening socket, then abort open associations and close connections that
        never sent an A-ASSOCIATE-RQ (idempotent, bounded: a TLS handshake in progress is cut,
        pynetdicom's accept loop polls every 0.5 s and each abort takes about 0.1 s)."""
        ae, server, self._ae, self._server = self._ae, self._server, None, None
        handshakes, self._handshakes = self._handshakes, None
        if ae is None or server is None:
            return
        if handshakes is not None:
            handshakes.cut()  # a TLS handshake in progress would hold up server.shutdown()
        server.shutdown()  # first, so no association starts while the others end
        threads = list(ae.active_associations)
        # Not ae.shutdown(): its A-ABORT crashes pynetdicom's reactor for a bare connection.
        end_associations(threads, timeout=2.0)
        # Let each association thread finish its last log lines before the caller moves on
        # (a test's log capture closes right after): bounded, never a hang.
        for thread in threads:
            thread.join(timeout=2.0)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # What happened ---------------------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def datasets(self) -> list[Dataset]:
        """The datasets received by C-STORE so far (each with ``file_meta``): one per SOP
        Instance UID, its latest copy, in the order they were last stored."""
        return self._store.snapshot()

    @property
    def records(self) -> list[AssociationRecord]:
        """A snapshot of every association's record, oldest first."""
        return self._book.snapshot()

    def wait_for_records(
        self, count: int, *, ended: bool = True, timeout: float = 5.0
    ) -> list[AssociationRecord]:
        """Wait until at least ``count`` associations were requested and, if ``ended``, all of
        them have ended; returns the records. Raises :class:`TimeoutError` after ``timeout`` s."""
        return self._book.wait_for(count, ended=ended, timeout=timeout)

    def clear(self) -> None:
        """Forget all records and received datasets (files in ``storage_dir`` stay)."""
        self._book.clear()
        self._store.clear()

    # Event handlers --------------------------------------------------------------------------

    def _handlers(self) -> list[Any]:
        return [
            (evt.EVT_CONN_OPEN, self._on_conn_open),
            (evt.EVT_REQUESTED, self._on_requested),
            (evt.EVT_USER_ID, self._on_user_id),
            (evt.EVT_ACCEPTED, self._on_accepted),
            (evt.EVT_REJECTED, self._on_rejected),
            (evt.EVT_PDU_RECV, self._on_pdu_recv),
            (evt.EVT_RELEASED, self._on_released),
            (evt.EVT_ABORTED, self._on_aborted),
            (evt.EVT_CONN_CLOSE, self._on_conn_close),
            (evt.EVT_C_ECHO, self._services.on_echo),
            (evt.EVT_C_STORE, self._services.on_store),
            (evt.EVT_C_FIND, self._services.on_find),
            (evt.EVT_C_GET, self._services.on_get),
            (evt.EVT_C_MOVE, self._services.on_move),
        ]

    def _on_conn_open(self, event: Event) -> None:
        assoc = event.assoc
        if self.response_mode != "pynetdicom":
            use_conformant_acse(assoc, require_identity=self.require_identity)
        elif self.require_identity:
            use_conformant_acse(
                assoc,
                rejection=rejection_for("pynetdicom"),
                respond_to_all_types=False,
                require_identity=True,
            )
        set_nodelay(assoc)

    def _on_requested(self, event: Event) -> None:
        requestor = event.assoc.requestor
        primitive = requestor.primitive
        self._book.open(
            event.assoc,
            _ae_title(getattr(primitive, "calling_ae_title", "")),
            _ae_title(getattr(primitive, "called_ae_title", "")),
        )
        item = requestor.user_identity
        if item is not None:
            identity_type = int(item.user_identity_type or 0)
            requested = bool(item.positive_response_requested)

            def note(record: LiveRecord) -> None:
                record.identity_type = identity_type
                record.response_requested = requested

            self._book.update(event.assoc, note)

    def _on_user_id(self, event: Event) -> tuple[bool, bytes | None]:
        fields = cast(Any, event)
        identity_type = int(fields.user_id_type)
        primary = bytes(fields.primary_field or b"")
        verdict = self._checker.verify(identity_type, primary, bytes(fields.secondary_field or b""))

        def note(record: LiveRecord) -> None:
            record.verified = verdict.verified
            record.principal = verdict.principal
            record.failure = verdict.failure

        self._book.update(event.assoc, note)
        if not verdict.verified:
            LOGGER.info("identity type %d rejected: %s", identity_type, verdict.failure)
            return False, None
        return True, server_response(self.response_mode, identity_type, primary, verdict.response)

    def _on_accepted(self, event: Event) -> None:
        item = event.assoc.acceptor.user_identity
        if item is None:
            return
        response = bytes(item.server_response or b"")
        request = event.assoc.requestor.user_identity
        primary = bytes(request.primary_field or b"") if request is not None else b""
        sent: ResponseSent = "empty" if not response else "echo" if response == primary else "reply"

        def note(record: LiveRecord) -> None:
            record.response_sent = sent
            record.response_length = len(response)

        self._book.update(event.assoc, note)

    def _on_rejected(self, event: Event) -> None:
        primitive = event.assoc.acceptor.primitive
        triple = (
            int(getattr(primitive, "result", 0) or 0),
            int(getattr(primitive, "result_source", 0) or 0),
            int(getattr(primitive, "diagnostic", 0) or 0),
        )
        missing = self.require_identity and triple == rejection_for(self.response_mode)

        def note(record: LiveRecord) -> None:
            record.rejected = triple
            if triple == CALLED_AE_TITLE_REJECTION:
                record.failure = (
                    f"called AE title {record.called_ae_title!r} not recognised; "
                    f"this PACS is {self.ae_title!r}"
                )
            elif missing and record.identity_type is None:
                record.verified = False
                record.failure = "no user identity offered"

        self._book.update(event.assoc, note)
        self._book.end(event.assoc, "rejected")

    def _on_pdu_recv(self, event: Event) -> None:
        kind = pdu_type(event.pdu)
        if kind == A_ABORT:
            self._book.update(event.assoc, _mark_abort_pdu)
        elif kind == A_RELEASE_RQ:
            self._book.update(event.assoc, _mark_release_request)

    def _on_released(self, event: Event) -> None:
        self._book.end(event.assoc, "released")

    def _on_aborted(self, event: Event) -> None:
        # "aborted" if an A-ABORT PDU came in, else the connection dropped (or we aborted).
        self._book.end(event.assoc, "closed")

    def _on_conn_close(self, event: Event) -> None:
        self._book.end(event.assoc, "closed", forget=True)


def _mark_abort_pdu(record: LiveRecord) -> None:
    record.abort_pdu_received = True


def _mark_release_request(record: LiveRecord) -> None:
    record.release_requested = True


def _destinations(destinations: Mapping[str, tuple[str, int]]) -> dict[str, tuple[str, int]]:
    checked: dict[str, tuple[str, int]] = {}
    for title, (host, port) in destinations.items():
        name = title.strip()
        if not name or len(name) > 16:
            raise ValueError(f"move destination AE title must be 1-16 characters: {title!r}")
        if not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"move destination {name!r}: port must be 1-65535, not {port!r}")
        checked[name] = (str(host), port)
    return checked
