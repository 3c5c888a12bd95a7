"""What 0.5 renamed keeps working until 0.6, with a DeprecationWarning that says what to use:
every module path of 0.4.1 (one import machinery, client_sdk._deprecated), Session.identity and
AssociationUse.identity (now ``outcome``), and IdentityError (now DicomIdentityError)."""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import client_sdk
from client_sdk import (
    AssociationUse,
    Client,
    DicomIdentityError,
    IdentityError,
    Peer,
    PeerUnreachable,
    Timeouts,
    TlsConfig,
)
from client_sdk._deprecated import MOVED, message
from client_sdk.testing import EmbeddedPacs
from providers import UsernameProvider

# Names each public 0.4.1 module path exported (its __all__), that must still import from it.
OLD_NAMES = {
    "client_sdk.client": ["Client", "Peer", "TlsConfig"],
    "client_sdk.errors": ["PeerUnreachable", "ServerResponseMissing", "ResponseAdvice"],
    "client_sdk.policy": ["MissingResponse", "Policy", "Rule"],
    "client_sdk.outcome": ["Decision", "IdentityOutcome"],
    "client_sdk.session": ["RetrieveResult", "Session", "StoreInput", "load_dataset"],
    "client_sdk.connection": ["Timeouts", "ConnectionTrace", "SdkAE", "make_traceable"],
    "client_sdk.config": ["Config", "Overrides", "load_config", "client_from_config", "SETTINGS"],
    "client_sdk.config.schema": ["PeerConfig", "IDENTITY_TYPES"],
    "client_sdk.audit": ["AuditSource", "XmlFileAuditSink", "AuditAttempt", "audit_message"],
    "client_sdk.cli": ["main", "EXIT_CODES", "build_parser", "exit_code"],
    "client_sdk.tls": ["TlsConfig", "MINIMUM_TLS_VERSION"],
    "client_sdk.sop": ["VERIFICATION", "STUDY_ROOT_FIND", "STUDY_ROOT_GET", "STUDY_ROOT_MOVE"],
    "client_sdk.bulk": ["StoreManyReport", "StoreResult", "store_many", "MAX_LOST_IN_A_ROW"],
    "client_sdk.retrieve": ["Receiver", "write_instance", "UnsafeFileName"],
    "client_sdk.association": ["open_session", "user_information_budget"],
    "client_sdk.redaction": ["SecretScrubber", "wipe_identity_answer", "carries_user_identity"],
    "client_sdk.testing.acse": ["ResponseMode", "ConformantACSE", "server_response"],
    "client_sdk.testing.datasets": ["ct_dataset", "CT_IMAGE_STORAGE"],
    "client_sdk.testing.kerberos_realm": ["throwaway_realm", "kerberos_tools_missing"],
    "client_sdk.testing.pacs": ["EmbeddedPacs"],
}
NEW_HOMES = {
    "TlsConfig": client_sdk.TlsConfig,
    "Client": client_sdk.Client,
    "PeerUnreachable": client_sdk.PeerUnreachable,
    "Config": client_sdk.Config,
    "EmbeddedPacs": EmbeddedPacs,
    "Timeouts": client_sdk.Timeouts,
}


def _forget(name: str) -> None:
    """Drop ``name`` (and its submodules) from sys.modules and its parent, so it imports anew."""
    for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[loaded]
    parent, _, child = name.rpartition(".")
    if parent in sys.modules and child in vars(sys.modules[parent]):
        delattr(sys.modules[parent], child)


@pytest.fixture
def fresh() -> Iterator[None]:
    before = set(sys.modules)
    yield
    for name in sorted(set(sys.modules) - before, reverse=True):
        if name in MOVED:
            _forget(name)


@pytest.mark.usefixtures("fresh")
@pytest.mark.parametrize("old", sorted(MOVED))
def test_every_old_path_imports_with_one_warning(old: str) -> None:
    _forget(old)
    parts = old.split(".")
    parents = [".".join(parts[:end]) for end in range(2, len(parts))]
    # An old package imported for the first time warns too, before its submodule.
    expected = [message(p) for p in parents if p in MOVED and p not in sys.modules] + [message(old)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        __import__(old)  # as an import statement does (importlib.import_module adds a frame)
    module = sys.modules[old]
    ours = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert [str(w.message) for w in ours] == expected
    assert "goes in 0.6" in message(old)
    assert ours[0].filename == __file__, "the warning must point at the line that imported it"
    for name in OLD_NAMES.get(old, []):
        value = getattr(module, name)
        if name in NEW_HOMES:
            assert value is NEW_HOMES[name], (old, name)
    with pytest.raises(AttributeError, match=f"module '{old}' has no attribute 'no_such_name'"):
        _ = module.no_such_name


@pytest.mark.usefixtures("fresh")
def test_the_second_import_does_not_warn_again() -> None:
    _forget("client_sdk.errors")
    with pytest.warns(DeprecationWarning, match=r"client_sdk\.errors is deprecated"):
        first = importlib.import_module("client_sdk.errors")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = importlib.import_module("client_sdk.errors")
    assert first is second
    assert first.PeerUnreachable is PeerUnreachable


def test_an_old_path_in_a_fresh_interpreter() -> None:
    # As a user's script sees it: one warning on stderr, naming what to import instead; the
    # class is the same one, so isinstance and except clauses keep working.
    script = (
        "import warnings; warnings.simplefilter('default')\n"
        "from client_sdk.client import TlsConfig\n"
        "from client_sdk.config.schema import PeerConfig\n"
        "import client_sdk\n"
        "assert TlsConfig is client_sdk.TlsConfig\n"
        "print(PeerConfig.__name__)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parent,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == "PeerConfig\n"
    lines = [line for line in run.stderr.splitlines() if "DeprecationWarning" in line]
    assert len(lines) == 3, run.stderr  # client_sdk.client, client_sdk.config, its .schema
    assert "client_sdk.client is deprecated" in lines[0]
    assert "from client_sdk import NAME" in lines[0]


def test_nothing_new_imports_an_old_path() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        run = subprocess.run(
            [sys.executable, "-W", "error::DeprecationWarning", "-c", "import client_sdk.testing"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert run.returncode == 0, run.stderr


def test_session_identity_is_the_outcome(tmp_path: Path) -> None:
    with EmbeddedPacs(users={"alice": "secret"}) as pacs:
        client = Client(
            Peer("127.0.0.1", pacs.port, pacs.ae_title),
            identity=UsernameProvider("alice"),
            timeouts=Timeouts(connect=5, acse=5, dimse=5, network=5),
        )
        with client.associate() as session:
            with pytest.warns(DeprecationWarning, match=r"use Session\.outcome"):
                old = session.identity
            assert old is session.outcome
            assert session.outcome.principal == "alice"
        assert client.identity is not None  # the client's identity stays the provider


def test_association_use_identity_is_the_outcome() -> None:
    outcome = object()
    use = AssociationUse(outcome, files=1, last_status=0)  # type: ignore[arg-type]
    with pytest.warns(DeprecationWarning, match=r"use AssociationUse\.outcome"):
        assert use.identity is outcome


def test_the_root_error_has_a_name_that_fits_everything_under_it() -> None:
    assert DicomIdentityError is IdentityError
    assert issubclass(PeerUnreachable, DicomIdentityError)
    assert issubclass(client_sdk.DimseFailure, DicomIdentityError)
    assert issubclass(client_sdk.TlsHandshakeFailed, DicomIdentityError)


@pytest.mark.usefixtures("fresh")
def test_tls_config_keeps_its_old_import_paths() -> None:
    for old in ("client_sdk.client", "client_sdk.tls"):
        _forget(old)
        with pytest.warns(DeprecationWarning, match=f"{old} is deprecated"):
            module = importlib.import_module(old)
        assert module.TlsConfig is TlsConfig
