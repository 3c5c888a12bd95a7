"""The SDK error for a DICOMweb exchange that failed: an HTTP status the server answered, or a
``requests`` exception. The requests exception holds the prepared request, Authorization header
included, so it is never chained to ours (the caller raises ours outside its handler)."""

from __future__ import annotations

import socket
import ssl

import requests

from client_sdk._errors import (
    AssociationAborted,
    AuthenticationRejected,
    DicomIdentityError,
    InsecureTransport,
    NotAuthorized,
    PeerUnreachable,
    TlsHandshakeFailed,
    UntrustedCertificate,
)
from providers._http_auth_errors import InsecureHttpAuth
from providers._http_deadline import Deadline, PlainHttpOffLoopback
from providers._www_authenticate import Challenge, parse_challenges

__all__ = ["HttpAuthenticationRejected", "failure_of", "status_failure"]


class HttpAuthenticationRejected(AuthenticationRejected):
    """The DICOMweb server answered 401 after the credential was sent (and, where meaningful,
    renewed once). ``challenges`` are its parsed ``WWW-Authenticate`` challenges. There is no
    A-ASSOCIATE-RJ over HTTP: the rejection codes (``triple``) are all 0."""

    def __init__(self, message: str, *, challenges: list[Challenge], url: str) -> None:
        super().__init__(message, result=0, source=0, reason=0)
        self.challenges = challenges
        self.url = url


def status_failure(response: requests.Response, where: str) -> DicomIdentityError | None:
    """The error for a 401 or a 403 from ``where``; None for any other status."""
    status = response.status_code
    if status == 401:
        challenges = parse_challenges(response.headers.get("WWW-Authenticate"))
        offered = ", ".join(_describe(c) for c in challenges) or "no WWW-Authenticate challenge"
        return HttpAuthenticationRejected(
            f"{where} answered 401 Unauthorized: the credential was not accepted (the server "
            f"offers: {offered}). Check the user, password, token or Kerberos ticket, and that "
            "the scheme is the one this server expects",
            challenges=challenges,
            url=where,
        )
    if status == 403:
        error = NotAuthorized(
            f"{where} answered 403 Forbidden: the identity was authenticated but is not "
            "allowed this request. Ask the server's administrator for access",
            status=None,
        )
        error.http_status = 403  # type: ignore[attr-defined]
        return error
    return None


def _describe(challenge: Challenge) -> str:
    params = ", ".join(
        f"{key}={value!r}" for key, value in challenge.params.items() if key != "error_description"
    )
    return f"{challenge.scheme}({params})" if params else challenge.scheme


def failure_of(exc: Exception, where: str, deadline: Deadline) -> DicomIdentityError | None:
    """The error for a requests/urllib3 exception of a request to ``where``; None for an
    exception that is already ours or is no transport failure."""
    if isinstance(exc, PlainHttpOffLoopback):
        return InsecureTransport(
            f"refusing plain HTTP to {where}: {exc.host!r} led to {exc.address}, not a loopback "
            "address, so the connection was closed and nothing was sent. Use https://, or set "
            "Policy(allow_insecure_transport=True) if the network is otherwise protected"
        )
    if isinstance(exc, InsecureHttpAuth):
        return InsecureTransport(
            f"{exc} Nothing was sent. Use https://, or set "
            "Policy(allow_insecure_transport=True) if the network is otherwise protected"
        )
    if not isinstance(exc, requests.exceptions.RequestException):
        return None
    root = _root(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        reason = getattr(root, "reason", None)
        text = reason if isinstance(reason, str) else type(root).__name__
        if isinstance(root, ssl.SSLCertVerificationError):
            return UntrustedCertificate(
                f"the certificate of {where} does not verify ({root.verify_message}). Check "
                "ca_file (the CA that signed the server's certificate) and the host name "
                "(the URL's, or TlsConfig.server_hostname)",
                reason=text,
            )
        return TlsHandshakeFailed(f"TLS to {where} failed ({text})", reason=text)
    if deadline.passed or isinstance(exc, requests.exceptions.Timeout):
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return PeerUnreachable(
                f"cannot reach {where}: no connection within the deadline of "
                f"{deadline.seconds:g} s. Check the URL and that the server is running"
            )
        return AssociationAborted(
            f"{where} did not complete its answer within the deadline of {deadline.seconds:g} s "
            "(connect, headers and body). Check the server, or raise the timeout if it is "
            "only slow"
        )
    if isinstance(root, ConnectionRefusedError):
        return PeerUnreachable(
            f"cannot reach {where}: connection refused: nothing listens on that port. Check "
            "the URL and that the server is running"
        )
    if isinstance(root, socket.gaierror | ConnectionAbortedError) or (
        isinstance(root, OSError) and not isinstance(root, ConnectionError | TimeoutError)
    ):
        # Before any byte was exchanged: name lookup, no route, network unreachable.
        why = getattr(root, "strerror", None) or type(root).__name__
        return PeerUnreachable(f"cannot reach {where}: {why}. Check the URL and the network")
    return AssociationAborted(
        f"the connection to {where} broke during the exchange ({type(root).__name__}); the "
        "server closed it or stopped. Try again; if it persists, check the server's log"
    )


def _root(exc: BaseException) -> BaseException:
    """The innermost cause (urllib3 wraps the socket error in its own errors)."""
    seen: set[int] = set()
    current = exc
    while id(current) not in seen:
        seen.add(id(current))
        inner = current.__cause__ or current.__context__
        if inner is None and current.args and isinstance(current.args[0], BaseException):
            inner = current.args[0]
        reason = getattr(current, "reason", None)
        if inner is None and isinstance(reason, BaseException):
            inner = reason
        if inner is None:
            return current
        current = inner
    return current
