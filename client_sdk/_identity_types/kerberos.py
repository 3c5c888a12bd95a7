"""``type = "kerberos"`` / ``--kerberos [SERVICE@HOST]``: a type-3 Kerberos ticket from the
ticket cache or a keytab."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, get_args

from client_sdk._config import values as v
from client_sdk._config.problems import Problems
from client_sdk._identity_types.entry import BuildMember, IdentityConfig, IdentityTypeEntry, Option
from providers import IdentityProvider, KerberosProvider
from providers._kerberos import MutualAuth, TokenFormat


@dataclass(frozen=True)
class KerberosIdentity(IdentityConfig):
    """``type = "kerberos"``: :class:`providers.KerberosProvider`."""

    type_name = "kerberos"
    service: str = "dicom"
    hostname: str | None = None
    principal: str | None = None
    ccache: str | None = None
    keytab: str | None = None
    mutual_auth: MutualAuth = "required"
    token_format: TokenFormat = "gssapi"
    positive_response: bool = True


def _build(identity: KerberosIdentity, _member: BuildMember) -> IdentityProvider:
    return KerberosProvider(
        service=identity.service,
        hostname=identity.hostname,
        principal=identity.principal,
        ccache=identity.ccache,
        keytab=identity.keytab,
        mutual_auth=identity.mutual_auth,
        token_format=identity.token_format,
        positive_response=identity.positive_response,
    )


def _cross_check(
    path: tuple[str, ...], values: dict[str, Any], invalid: set[str], problems: Problems
) -> None:
    """The constructor's own rules, checked here to be reported with the rest."""
    if values["keytab"] is not None and values["ccache"] is not None:
        problems.add(v.dotted((*path, "ccache")), "give a keytab or a ccache, not both")
    if invalid & {"mutual_auth", "positive_response"}:
        return  # already reported; a default in their place would only confuse
    if values["mutual_auth"] == "required" and values["positive_response"] is False:
        problems.add(
            v.dotted((*path, "positive_response")),
            'must be true with mutual_auth = "required" (the peer only sends its AP-REP when '
            'asked); or set mutual_auth = "optional"',
        )


def _from_flags(args: argparse.Namespace) -> IdentityProvider | None:
    if args.kerberos is None:
        return None
    service, _, host = (args.kerberos or "dicom").partition("@")
    return KerberosProvider(service=service or "dicom", hostname=host or None)


def _flag_changes(value: str) -> dict[str, str]:
    """``--kerberos SERVICE@HOST`` changes what it names; a bare ``--kerberos`` changes nothing."""
    service, _, host = value.partition("@")
    changes = {"service": service} if service else {}
    if host:
        changes["hostname"] = host
    return changes


KERBEROS = IdentityTypeEntry(
    config=KerberosIdentity,
    provider=lambda: KerberosProvider,
    key_checks={
        "service": v.text,
        "hostname": v.text,
        "principal": v.text,
        "ccache": v.text,
        "keytab": v.text,
        "mutual_auth": v.one_of(*get_args(MutualAuth)),
        "token_format": v.one_of(*get_args(TokenFormat)),
        "positive_response": v.flag,
    },
    build=_build,
    cross_check=_cross_check,
    path_keys=("keytab", "ccache"),
    residual_paths=True,  # a keytab or ccache may also be "TYPE:residual"
    options=(
        Option(
            "--kerberos",
            {
                "nargs": "?",
                "const": "",
                "metavar": "SERVICE@HOST",
                "help": "Kerberos ticket from the ticket cache (type 3); default service "
                "dicom@PEER-HOST",
            },
            exclusive=True,
        ),
    ),
    from_flags=_from_flags,
    flag_fields={"--kerberos": lambda value: _flag_changes(str(value))},
)
