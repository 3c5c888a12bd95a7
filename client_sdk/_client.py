"""The client: a peer, an identity, a policy, and bounded timeouts."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pydicom import Dataset

from client_sdk._association.context_memory import ContextMemory
from client_sdk._association.flow import open_session
from client_sdk._association.services import service_sop_classes
from client_sdk._audit.sinks import DEFAULT_AUDIT_SINK, AuditSink, reports_failures
from client_sdk._client_settings import ClientSettings
from client_sdk._config.client_class import register_client_class
from client_sdk._config.load import load_config
from client_sdk._config.model import Config
from client_sdk._operations.dicom_file_check import StoreInput, load_encoded
from client_sdk._operations.retrieve import RetrieveResult
from client_sdk._operations.session import Session
from client_sdk._peer import DEFAULT_CALLING_AE_TITLE, Peer
from client_sdk._policy import Policy
from client_sdk._sop import STUDY_ROOT_FIND, STUDY_ROOT_GET, STUDY_ROOT_MOVE, VERIFICATION
from client_sdk._timeouts import Timeouts
from providers import IdentityProvider, Target
from providers._safe_errors import total_repr

if TYPE_CHECKING:
    from client_sdk._operations.bulk_results import StoreManyReport, StoreProgress


def _checked_audit_required(required: object, audit: AuditSink | None) -> bool:
    if not isinstance(required, bool):
        raise TypeError(f"audit_required must be True or False: {required!r}")
    if required and (audit is None or not reports_failures(audit)):
        raise ValueError(
            f"audit_required=True needs an audit sink that reports a failed write, such as "
            f"XmlFileAuditSink(path); {audit!r} cannot (logging handlers report their own errors "
            "and go on)"
        )
    return required


class Client:
    """Opens associations to one peer carrying one identity, under one policy.

    Thread-safe: every association gets its own pynetdicom AE and its own identity exchange.
    """

    def __init__(
        self,
        peer: Peer,
        *,
        identity: IdentityProvider | None = None,
        policy: Policy | None = None,
        calling_ae_title: str = DEFAULT_CALLING_AE_TITLE,
        timeouts: Timeouts | None = None,
        audit: AuditSink | None = DEFAULT_AUDIT_SINK,
        audit_required: bool = False,
    ) -> None:
        if identity is not None and not isinstance(identity, IdentityProvider):
            raise TypeError(f"identity must have a negotiate(target) method: {identity!r}")
        if audit is not None and not isinstance(audit, AuditSink):
            raise TypeError(f"audit must have a record(event) method, or be None: {audit!r}")
        self.peer = peer
        self.identity = identity
        self.policy = policy if policy is not None else Policy()
        self.calling_ae_title = calling_ae_title
        self.timeouts = timeouts if timeouts is not None else Timeouts()
        # One audit event per association attempt (client_sdk/_audit); None records nothing.
        self.audit = audit
        # Required: no association goes on without its event on record (AuditUnavailable).
        self.audit_required = _checked_audit_required(audit_required, audit)
        # What each peer accepted of the default proposal (associate() with no SOP classes).
        self._context_memory = ContextMemory()

    @classmethod
    def from_config(cls, peer: str, config: Config | None = None) -> Client:
        """A client for ``peer`` of the configuration (loaded from its usual place when None)."""
        return (config if config is not None else load_config()).client(peer)

    @classmethod
    def from_settings(cls, settings: ClientSettings) -> Client:
        return cls(
            settings.peer,
            identity=settings.identity,
            policy=settings.policy,
            calling_ae_title=settings.calling_ae_title,
            timeouts=settings.timeouts,
            audit=settings.audit,
            audit_required=settings.audit_required,
        )

    @property
    def settings(self) -> ClientSettings:
        """What this client is made of now (its attributes may be changed between associations)."""
        return ClientSettings(
            self.peer,
            identity=self.identity,
            policy=self.policy,
            calling_ae_title=self.calling_ae_title,
            timeouts=self.timeouts,
            audit=self.audit,
            audit_required=self.audit_required,
        )

    @property
    def target(self) -> Target:
        return self.settings.target

    def associate(
        self,
        *,
        sop_classes: Iterable[str] | None = None,
        transfer_syntaxes: Iterable[str] = (),
        retrieve: bool = False,
        services: str | Iterable[str] | None = None,
    ) -> Session:
        """Open an association; use it as ``with client.associate() as session:``.

        ``sop_classes`` limits the presentation contexts proposed (default: Verification, Study
        Root C-FIND and C-MOVE, and the common storage classes); ``transfer_syntaxes`` are
        proposed for each, in contexts of their own: always for a compressed syntax, and for an
        uncompressed one as many as fit in 128 (so that a dataset goes in the syntax it was read
        in when the peer accepts it, rather than re-encoded).

        ``retrieve=True`` makes the association fit for ``session.get()`` (C-GET): it also
        proposes Study Root C-GET and, for as many storage SOP classes as fit in the 128 contexts,
        the SCP role (SCP/SCU role selection), and takes the C-STORE sub-operations the peer sends
        back. C-MOVE needs none of this: the peer sends to the move destination.

        ``services`` names what the session will do instead of (or besides) ``sop_classes``, and
        proposes only that: ``"echo"``, ``"find"``, ``"move"`` (with C-FIND), ``"get"`` (as
        ``retrieve=True``), ``"store"`` (the default storage classes), ``"store:CT"`` (a
        modality), ``"store:CTImageStorage"`` or ``"store:<SOP Class UID>"``; e.g.
        ``client.associate(services={"echo", "store:CT"})`` proposes 3 contexts, not 123.

        With no ``sop_classes`` the client remembers, in memory, which of the default contexts
        (and which transfer syntax of each) the peer accepted, per peer address, AE titles and
        ``transfer_syntaxes``, and the next such association to it proposes only those. An
        operation that needs a SOP class left out that way fails as it did with the full list
        (the peer refused it then), and the next association proposes the full list again.
        """
        if services is not None:
            named, get = service_sop_classes(services)
            sop_classes = [*(sop_classes or ()), *named]
            retrieve = retrieve or get
        return open_session(
            self.settings,
            sop_classes,
            transfer_syntaxes,
            retrieve=retrieve,
            memory=self._context_memory,
        )

    def echo(self) -> int:
        """Associate, C-ECHO, release. Returns the DIMSE status (0x0000)."""
        with self.associate(sop_classes=[VERIFICATION]) as session:
            return session.echo()

    def store(self, *items: StoreInput) -> list[int]:
        """Associate, C-STORE each dataset or file, release. Returns the statuses.

        Every file is checked before the association opens (a broken one opens none); each is
        read again when it is sent, and goes as read when its transfer syntax was accepted:
        none is decoded, and none is held in memory while the others are sent."""
        sop_classes: set[str] = set()
        syntaxes: set[str] = set()
        for item in items:
            ds, encoded = load_encoded(item)
            sop_classes.add(str(ds.SOPClassUID))
            meta = getattr(ds, "file_meta", None)
            if encoded is not None:
                syntaxes.add(encoded.transfer_syntax)
            elif meta is not None and "TransferSyntaxUID" in meta:
                syntaxes.add(str(meta.TransferSyntaxUID))
        with self.associate(sop_classes=sop_classes, transfer_syntaxes=syntaxes) as session:
            return [session.store(item) for item in items]

    def find(self, query: Dataset | Mapping[str, Any], *, level: str = "STUDY") -> list[Dataset]:
        """Associate, Study Root C-FIND, release. Returns the matching identifiers."""
        with self.associate(sop_classes=[STUDY_ROOT_FIND]) as session:
            return session.find(query, level=level)

    def get(
        self,
        query: Dataset | Mapping[str, Any],
        *,
        level: str = "STUDY",
        output_dir: str | os.PathLike[str] | None = None,
    ) -> RetrieveResult:
        """Associate, Study Root C-GET, release. See :meth:`Session.get`."""
        with self.associate(sop_classes=[STUDY_ROOT_GET], retrieve=True) as session:
            return session.get(query, level=level, output_dir=output_dir)

    def move(
        self, query: Dataset | Mapping[str, Any], *, destination: str, level: str = "STUDY"
    ) -> RetrieveResult:
        """Associate, Study Root C-MOVE to AE title ``destination``, release. See
        :meth:`Session.move`."""
        # The FIND context too: some archives (dcmqrscp --require-find) refuse MOVE without it.
        with self.associate(sop_classes=[STUDY_ROOT_FIND, STUDY_ROOT_MOVE]) as session:
            return session.move(query, destination=destination, level=level)

    def __repr__(self) -> str:
        # Total (providers._safe_errors): a reporter that shows locals may meet a half-built one.
        return total_repr(
            self,
            lambda: f"Client(peer={self.peer}, identity={self.identity!r}, policy={self.policy!r})",
        )

    def store_many(
        self,
        items: Iterable[StoreInput],
        *,
        workers: int = 1,
        progress: StoreProgress | None = None,
        sop_classes: Iterable[str] | None = None,
        transfer_syntaxes: Iterable[str] = (),
        processes: int = 1,
    ) -> StoreManyReport:
        """C-STORE every dataset or file of ``items`` over up to ``workers`` associations.

        Each association carries one identity exchange. ``items`` is consumed lazily (a
        generator works; at most ``workers`` datasets are in memory). ``progress`` is called
        with each input's :class:`~client_sdk.StoreResult` as soon as it is done, one call
        at a time, from a worker thread. Returns every result in input order, and the
        associations used.

        Proposed: ``sop_classes`` (default: the common storage classes, since lazy input is not
        scanned first) with pynetdicom's uncompressed transfer syntaxes, plus one context per
        extra ``transfer_syntaxes`` entry (for compressed files; then name the few
        ``sop_classes`` too, as at most 128 contexts fit). The uncompressed syntaxes of the first
        inputs (one per worker) also get contexts of their own, for their SOP classes first, so
        that files like them are sent as they were read instead of re-encoded.

        Each file is read and checked completely before it is sent (``dicom_file_check``):
        one that is unreadable, truncated, broken or whose SOP UIDs disagree with its meta
        header gets an ``InvalidDicomFile`` in its result, and the run goes on; so does a file
        with no accepted presentation context or that the peer refuses. An association lost
        mid-way fails the file in flight (not resent) and the worker opens a new one; three lost
        in a row stop the run. Failing to open an association (authentication rejected, a
        credential error, the peer unreachable) stops the run at once and raises that error
        after the other workers have released theirs; it is never retried. Ctrl-C lets the
        files in flight finish (a second one aborts them) and raises KeyboardInterrupt. Every
        input taken gets one result, passed to ``progress``: ``result`` is ``"stored"``,
        ``"failed"`` or ``"not-sent"`` (taken, then the run stopped before sending it).

        ``processes=N`` (N > 1) uses more than one core: N worker processes of ``workers``
        associations each (N x ``workers`` in all). Each builds its own provider from the
        provider's :class:`~providers.ProviderRecipe` and fetches the secret itself (a
        :class:`~providers.PasswordProvider`, whose password exists only here, is refused with
        :class:`~providers.ProviderNotRebuildable` before any input is taken). Results,
        ``progress`` (then called from one thread of this process), the audit events (recorded
        by this client's sink), failures and Ctrl-C behave as above; an input handed to a
        worker ahead of time that it never took is ``"not-sent"``.
        """
        # Loaded when used: the worker pools (multiprocessing) are not part of a one-shot echo.
        from client_sdk._operations.bulk import store_many

        if processes != 1:
            # Imported when used: multiprocessing and the workers' module.
            from client_sdk._operations.process_pool import store_many_in_processes

            return store_many_in_processes(
                self.settings,
                items,
                processes=processes,
                workers=workers,
                progress=progress,
                sop_classes=sop_classes,
                transfer_syntaxes=transfer_syntaxes,
            )
        return store_many(
            self,
            items,
            workers=workers,
            progress=progress,
            sop_classes=sop_classes,
            transfer_syntaxes=transfer_syntaxes,
        )


register_client_class(Client.from_settings)  # what Config.client() makes
