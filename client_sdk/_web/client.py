"""``DicomWebClient``: the methods of :class:`client_sdk.Client` over DICOMweb, for what
applies (echo, find, get, store, store_many), with the same identities, policy, TLS settings,
errors and audit trail. QIDO-RS, WADO-RS and STOW-RS are dicomweb-client's
(``DICOMwebClient(url, session=...)``) on the session of :mod:`client_sdk._web.session`.

One audit event per method call (a request batch), in the DIMSE events' form: the identity is
the provider's claim (HTTP has no user identity response), the peer the DICOMweb origin (no AE
titles). An HTTP 401 is recorded as a rejection with codes (0, 0, 0).
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pydicom
import requests
from pydicom import Dataset

from client_sdk._audit.attempt import AuditAttempt
from client_sdk._audit.event import EventOutcome
from client_sdk._audit.sinks import AuditSink, audit_unavailable
from client_sdk._errors import AuditUnavailable, DicomIdentityError, DimseFailure
from client_sdk._operations.bulk_results import (
    AssociationUse,
    StoreManyReport,
    StoreProgress,
    StoreResult,
)
from client_sdk._operations.dicom_file_check import StoreInput, load_dataset
from client_sdk._operations.identifier import as_dataset
from client_sdk._operations.retrieve import RetrieveResult, UnsafeFileName, write_instance
from client_sdk._outcome import Decision, IdentityOutcome
from client_sdk._policy import Policy
from client_sdk._tls import TlsConfig
from client_sdk._web.session import DEFAULT_TIMEOUT, web_session
from providers._base import IdentityProvider, IdentityType, ResponseStatus
from providers._http_origin import Origin
from providers._kerberos import KerberosProvider
from providers._safe_errors import total_repr

try:
    from dicomweb_client import DICOMwebClient
except ImportError as missing:  # an optional dependency: the dicomweb extra
    raise ImportError(
        "DicomWebClient needs dicomweb-client: pip install 'dicom-identity[dicomweb]'"
    ) from missing

__all__ = ["DicomWebClient"]

_T = TypeVar("_T")
log = logging.getLogger(__name__)
_LEVELS = ("STUDY", "SERIES", "IMAGE")
_UID_KEYS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
_FAILURE_REASON = 0x00081197


class DicomWebClient:
    """A DICOMweb peer at ``url`` (its root, e.g. ``https://pacs.example.org/dicom-web``),
    authenticated as ``identity`` (Basic for a password, Bearer for a JWT or token endpoint,
    Negotiate for Kerberos; None: no authentication).

    ``policy.allow_insecure_transport`` lets a password or token go over plain HTTP off
    loopback; ``tls`` verifies ``https://`` (CA file, client certificate); ``timeout`` is one
    deadline for each HTTP request as a whole; ``proxy`` an explicit proxy (none is taken from
    the environment); ``kerberos_hostname`` the host of the ``HTTP/host`` principal when it is
    not the URL's. ``audit``: the sink that records one event per call; ``audit_required``
    refuses to start a call its event cannot be recorded for.
    """

    def __init__(
        self,
        url: str,
        identity: IdentityProvider | None = None,
        *,
        policy: Policy | None = None,
        tls: TlsConfig | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        proxy: str | None = None,
        kerberos_hostname: str | None = None,
        audit: AuditSink | None = None,
        audit_required: bool = False,
    ) -> None:
        self.url = url.rstrip("/")
        self.identity = identity
        self.policy = policy or Policy()
        self.audit = audit
        self.audit_required = audit_required
        self._origin = Origin.of(self.url)
        self.session = web_session(
            self.url,
            identity,
            tls=tls,
            policy=self.policy,
            timeout=timeout,
            proxy=proxy,
            kerberos_hostname=kerberos_hostname,
        )
        self._dicomweb = DICOMwebClient(self.url, session=self.session)
        # dicomweb-client retries every failed request up to 5 times, 30 s of back-off in all,
        # on any exception: a refused credential sent again only locks accounts, and every
        # wait has one deadline. One attempt.
        self._dicomweb.set_http_retry_params(retry=False)

    def __repr__(self) -> str:
        return total_repr(
            self, lambda: f"DicomWebClient(url={self.url!r}, identity={self.identity!r})"
        )

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> DicomWebClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- the operations --------------------------------------------------------------------

    def echo(self) -> int:
        """A minimal QIDO (studies, limit 1): 0x0000 when the server answered it."""
        search = self._dicomweb.search_for_studies
        self._audited("QIDO-RS echo", lambda: self._call("QIDO-RS echo", lambda: search(limit=1)))
        return 0x0000

    def find(self, query: Dataset | Mapping[str, Any], *, level: str = "STUDY") -> list[Dataset]:
        """QIDO-RS at ``level`` (STUDY, SERIES or IMAGE): a key with a value filters, an empty
        one is asked for. Returns the matches as datasets, like ``Client.find``."""
        return self._audited(f"QIDO-RS {level}", lambda: self._find(query, level))

    def get(
        self,
        query: Dataset | Mapping[str, Any],
        *,
        level: str = "STUDY",
        output_dir: str | os.PathLike[str] | None = None,
    ) -> RetrieveResult:
        """WADO-RS of every study, series or instance matching ``query`` at ``level``. Without
        ``output_dir`` the result's ``datasets`` holds them; with it each is written as
        ``output_dir/<SOPInstanceUID>.dcm`` and ``paths`` lists the files."""
        return self._audited(f"WADO-RS {level}", lambda: self._get(query, level, output_dir))

    def store(self, *items: StoreInput) -> list[int]:
        """STOW-RS each dataset or DICOM file (files checked completely first, as for C-STORE:
        nothing of a broken one is sent). Returns 0x0000 per stored instance, or raises."""

        def send() -> list[int]:
            datasets = [load_dataset(item) for item in items]
            return [self._stow(ds) for ds in datasets]

        return self._audited("STOW-RS", send)

    def store_many(
        self,
        items: Iterable[StoreInput],
        *,
        workers: int = 1,
        progress: StoreProgress | None = None,
        sop_classes: Iterable[str] | None = None,
        transfer_syntaxes: Iterable[str] = (),
    ) -> StoreManyReport:
        """STOW-RS every input, one request each, in order; one that fails the file check or
        is refused is a failed :class:`StoreResult` and the run goes on. An error of the
        session itself (authentication, transport) stops the run and is raised. ``workers``,
        ``sop_classes`` and ``transfer_syntaxes`` are taken for ``Client.store_many``'s
        signature and unused (HTTP negotiates no presentation contexts; requests go one at a
        time). The report's one ``AssociationUse`` stands for the session (:meth:`outcome`)."""
        del workers, sop_classes, transfer_syntaxes

        def send() -> StoreManyReport:
            results: list[StoreResult] = []
            for index, item in enumerate(items):
                path = None if isinstance(item, Dataset) else Path(item)
                result = self._store_one(index, path, item)
                results.append(result)
                if progress is not None:
                    progress(result)
            sent = [r for r in results if r.status is not None]
            last = sent[-1].status if sent else None
            use = AssociationUse(self.outcome(), files=len(sent), last_status=last)
            return StoreManyReport(results=results, associations=[use])

        return self._audited("STOW-RS batch", send)

    def outcome(self) -> IdentityOutcome:
        """What the identity came to in a call that succeeded, in the DIMSE vocabulary. HTTP
        has no user identity response: a Negotiate exchange with mutual authentication
        required had every server token verified (the auth object refuses otherwise), so it is
        ``verified``; any other scheme is ``not-requested``."""
        provider = self.identity
        if provider is None:
            status, decision = ResponseStatus.NO_IDENTITY, Decision.NO_IDENTITY
            return IdentityOutcome(self.url, None, "", "", False, None, status, decision)
        declared = getattr(provider, "identity_type", None)
        kind = declared if isinstance(declared, IdentityType) else None
        verified = isinstance(provider, KerberosProvider) and provider.mutual_auth == "required"
        if isinstance(provider, KerberosProvider):
            kind = IdentityType.KERBEROS
        return IdentityOutcome(
            self.url,
            kind,
            self.principal(),
            type(provider).__name__,
            verified,
            None,
            ResponseStatus.VERIFIED if verified else ResponseStatus.NOT_REQUESTED,
            Decision.CONFIRMED if verified else Decision.NOT_REQUESTED,
        )

    # --- how ---------------------------------------------------------------------------------

    def _find(self, query: Dataset | Mapping[str, Any], level: str) -> list[Dataset]:
        level = _level(level)
        filters: dict[str, str] = {}
        fields: list[str] = []
        for element in as_dataset(query):
            keyword = element.keyword
            if not keyword or keyword == "QueryRetrieveLevel":
                continue
            value = "" if element.value is None else str(element.value)
            if value:
                filters[keyword] = value
            else:
                fields.append(keyword)
        web = self._dicomweb
        search: Callable[..., list[dict[str, Any]]] = (
            web.search_for_studies
            if level == "STUDY"
            else web.search_for_series
            if level == "SERIES"
            else web.search_for_instances
        )
        found = self._call(
            f"QIDO-RS {level}",
            lambda: search(fields=fields or None, search_filters=filters, get_remaining=True),
        )
        return [Dataset.from_json(match) for match in found]

    def _get(
        self,
        query: Dataset | Mapping[str, Any],
        level: str,
        output_dir: str | os.PathLike[str] | None,
    ) -> RetrieveResult:
        level = _level(level)
        keys = _UID_KEYS[: _LEVELS.index(level) + 1]
        asked = as_dataset(query)
        for key in keys:
            if key not in asked:
                setattr(asked, key, "")
        directory = None if output_dir is None else Path(output_dir)
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        datasets: list[Dataset] = []
        paths: list[Path] = []
        for match in self._find(asked, level):
            uids = [str(match.get(key, "")) for key in keys]
            for ds in self._retrieve(level, uids):
                if directory is None:
                    datasets.append(ds)
                else:
                    paths.append(_write(directory, ds))
        count = len(datasets) + len(paths)
        return RetrieveResult(
            status=0x0000,
            completed=count,
            failed=0,
            warning=0,
            datasets=tuple(datasets),
            paths=tuple(paths),
        )

    def _retrieve(self, level: str, uids: list[str]) -> list[Dataset]:
        web = self._dicomweb
        if level == "STUDY":
            return self._call("WADO-RS study", lambda: web.retrieve_study(uids[0]))
        if level == "SERIES":
            return self._call("WADO-RS series", lambda: web.retrieve_series(uids[0], uids[1]))
        return [
            self._call("WADO-RS instance", lambda: web.retrieve_instance(uids[0], uids[1], uids[2]))
        ]

    def _stow(self, ds: Dataset) -> int:
        if getattr(ds, "preamble", None) is None:
            # Without a preamble dicomweb-client writes no "DICM", and Orthanc stores a file it
            # cannot serve again by WADO.
            ds.preamble = b"\0" * 128
        answer = self._call("STOW-RS", lambda: self._dicomweb.store_instances([ds]))
        for failed in answer.get("FailedSOPSequence", []):
            reason = failed.get(_FAILURE_REASON)
            status = int(reason.value) if reason is not None else None
            uid = failed.get("ReferencedSOPInstanceUID", "?")
            raise DimseFailure(
                f"STOW-RS to {self.url} refused instance {uid}"
                + (f" (failure reason 0x{status:04X})" if status is not None else ""),
                status=status,
            )
        return 0x0000

    def _store_one(self, index: int, path: Path | None, item: StoreInput) -> StoreResult:
        uid: str | None = None
        try:
            ds = load_dataset(item)
            uid = str(ds.get("SOPInstanceUID", "")) or None
            status = self._stow(ds)
        except DimseFailure as error:  # the file check, or this instance refused
            return StoreResult(index, path, uid, error.status, error)
        return StoreResult(index, path, uid, status)

    def _call(self, operation: str, call: Callable[[], _T]) -> _T:
        """``call()``; a status dicomweb-client raised for (404, 5xx) becomes a
        :class:`DimseFailure` (401 and 403 are the session's already)."""
        try:
            return call()
        except requests.HTTPError as exc:
            response = exc.response
            status = response.status_code if response is not None else 0
            reason = response.reason if response is not None else ""
            failure = DimseFailure(
                f"{operation} to {self.url} failed: HTTP {status} {reason}. Check the query "
                "and the server's log",
                status=None,
            )
        raise failure  # outside the handler: the requests error holds the request

    def _audited(self, operation: str, call: Callable[[], _T]) -> _T:
        attempt = AuditAttempt(
            self.audit,
            required=self.audit_required,
            target=self._origin.target,
            provider=self.identity,
        )
        attempt.check_sink()
        try:
            result = call()
        except DicomIdentityError as error:
            _record(attempt, error, self.principal())
            raise
        _record(attempt, None, self.principal())
        return result

    def principal(self) -> str:
        """Who the identity is, for the audit event ("" when it cannot say)."""
        if isinstance(self.identity, KerberosProvider):
            try:
                return self.identity.client_principal()
            except Exception:
                return ""
        claimed = getattr(self.identity, "username", None)
        if isinstance(claimed, str):
            return claimed
        named = getattr(self.session.auth, "principal", "")  # a bearer token's subject
        return named if isinstance(named, str) else ""


def _record(attempt: AuditAttempt, error: DicomIdentityError | None, principal: str) -> None:
    """The event of a call. HTTP has no user identity response, so no ``Decision`` is made: a
    call that succeeded is a SUCCESS (the server accepted the credential, or asked for none)
    with the decision left empty. A required audit trail that cannot take the event of a
    successful call fails it, as an established association's would."""
    sink = attempt.sink
    if sink is None or isinstance(error, AuditUnavailable):
        return
    event = attempt.event(error)
    if error is None:
        event = dataclasses.replace(event, outcome=EventOutcome.SUCCESS)
    if principal and not event.principal:
        event = dataclasses.replace(event, principal=principal)
    try:
        sink.record(event)
    except Exception as exc:
        failure = exc
    else:
        return
    if error is None and attempt.required:
        raise audit_unavailable(sink, failure, established=True)
    log.error(
        "audit: %r could not record the DICOMweb call to %s (%s: %s); the call goes on",
        sink,
        attempt.target,
        type(failure).__name__,
        failure,
    )


def _level(level: str) -> str:
    level = level.upper()
    if level not in _LEVELS:
        raise ValueError(
            f"DICOMweb query level must be one of {', '.join(_LEVELS)}: {level!r} (QIDO-RS "
            "has no patient level: query studies by PatientID)"
        )
    return level


def _write(directory: Path, ds: Dataset) -> Path:
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    uid = str(ds.get("SOPInstanceUID", ""))
    try:
        return write_instance(directory, uid, buffer.getvalue())
    except UnsafeFileName:
        raise DimseFailure(
            f"a WADO-RS instance has SOP Instance UID {uid[:80]!r}, which is no UID: not written",
            status=None,
        ) from None
