"""Token files that are not (or stop being) regular files (issue 14, finding 9).

0.4.1 checked the path with ``stat`` and then opened it: a FIFO renamed over the JWT path in
between made ``negotiate()`` block for ever in ``open`` (a FIFO's open waits for a writer). Now
the file is opened with ``O_NONBLOCK`` and the opened descriptor is checked with ``fstat``.

Symlinks are followed on purpose: Kubernetes projected volumes and mounted Secrets publish a
token as ``token -> ..data/token`` and rotate it by swapping the ``..data`` link atomically. So a
symlink to a regular file works (and its rotation is seen), and what is refused is any target
that is not a regular file: a FIFO, a device (``/dev/zero``), a socket, a directory.

The race is made real: ``os.stat`` is wrapped so that right after the provider's stat of the
path, the path is replaced (``os.replace``, as an agent renames) by a FIFO, a link to a device, a
directory or a socket. Every call runs in a thread joined with a bound, so a regression fails
instead of hanging the suite.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from providers import (
    CredentialError,
    CredentialUnavailable,
    IdentityExchange,
    JwtFileProvider,
    SamlFileProvider,
    Target,
)
from tests.conftest import make_jwt
from tests.saml_assertions import make_assertion

TARGET = Target("127.0.0.1", 11112, "PACS", "SCU")
BOUND = 5.0  # seconds: each read is expected in milliseconds

Provider = JwtFileProvider | SamlFileProvider


def jwt_content() -> bytes:
    return make_jwt(jti=uuid.uuid4().hex).encode()  # a new token each time


KINDS: dict[str, tuple[type[Provider], Callable[[], bytes]]] = {
    "jwt": (JwtFileProvider, jwt_content),
    "saml": (SamlFileProvider, make_assertion),
}


@pytest.fixture(params=sorted(KINDS))
def kind(request: pytest.FixtureRequest) -> tuple[type[Provider], Callable[[], bytes]]:
    return KINDS[request.param]


def write(path: Path, data: bytes) -> Path:
    """A regular file, replaced atomically (a temp file, then a rename), mode 600."""
    temp = path.with_name(path.name + ".tmp")
    temp.write_bytes(data)
    temp.chmod(0o600)
    os.replace(temp, path)
    return path


def negotiate_within_bound(provider: Provider, path: Path) -> IdentityExchange | BaseException:
    """``provider.negotiate`` in a thread, joined within ``BOUND``. If it is still blocked (a
    FIFO's open waiting for a writer), a writer opens and closes the path to free it, and the
    test fails."""
    result: list[IdentityExchange | BaseException] = []

    def run() -> None:
        try:
            result.append(provider.negotiate(TARGET))
        except BaseException as error:
            result.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(BOUND)
    if thread.is_alive():
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(BOUND)
        pytest.fail(f"negotiate() was still blocked on {path} after {BOUND} s")
    return result[0]


def refused(provider: Provider, path: Path, *fragments: str) -> str:
    error = negotiate_within_bound(provider, path)
    assert isinstance(error, CredentialError), repr(error)
    message = str(error)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message
    return message


@contextmanager
def replaced_after_stat(
    monkeypatch: pytest.MonkeyPatch, path: Path, swap: Callable[[], None]
) -> Iterator[None]:
    """Run ``swap()`` right after the first ``os.stat`` of ``path``: between the provider's check
    of the path and its open."""
    real_stat = os.stat
    swapped: list[bool] = []

    def racing_stat(target: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        result = real_stat(target, *args, **kwargs)
        if not swapped and os.fspath(target) == os.fspath(path):
            swapped.append(True)
            swap()
        return result

    with monkeypatch.context() as patch:
        patch.setattr(os, "stat", racing_stat)
        yield
    assert swapped, "the provider never stat-ed the path: the race was not made"


def replace_with_fifo(path: Path) -> Callable[[], None]:
    def swap() -> None:
        fifo = path.with_name("agent.fifo")
        os.mkfifo(fifo, 0o600)
        os.replace(fifo, path)

    return swap


def replace_with_link(path: Path, target: str | Path) -> Callable[[], None]:
    def swap() -> None:
        link = path.with_name("agent.link")
        os.symlink(target, link)
        os.replace(link, path)

    return swap


# --- not a regular file from the start ---------------------------------------------------------


def test_a_fifo_at_the_path_is_refused_without_blocking(
    tmp_path: Path, kind: tuple[type[Provider], Callable[[], bytes]]
) -> None:
    provider_class, _ = kind
    path = tmp_path / "token"
    os.mkfifo(path, 0o600)
    refused(provider_class(path), path, "not a regular file (a FIFO)", "rename it over the path")


def test_a_device_is_refused_without_reading_it(
    tmp_path: Path, kind: tuple[type[Provider], Callable[[], bytes]]
) -> None:
    provider_class, _ = kind
    refused(provider_class(Path("/dev/zero")), Path("/dev/zero"), "(a character device)")
    link = tmp_path / "token"
    os.symlink("/dev/zero", link)
    refused(provider_class(link), link, "(a character device)")


def test_a_symlink_to_a_fifo_is_refused(
    tmp_path: Path, kind: tuple[type[Provider], Callable[[], bytes]]
) -> None:
    provider_class, _ = kind
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    link = tmp_path / "token"
    os.symlink(fifo, link)
    refused(provider_class(link), link, "(a FIFO)")


def test_a_socket_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "token"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))
        refused(JwtFileProvider(path), path, "(a socket)")


# --- replaced between the check and the open -----------------------------------------------------


def test_a_fifo_renamed_over_the_file_after_the_stat_is_refused(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kind: tuple[type[Provider], Callable[[], bytes]],
) -> None:
    """The review's reproduction: 0.4.1 blocked here for ever."""
    provider_class, content = kind
    path = write(tmp_path / "token", content())
    with replaced_after_stat(monkeypatch, path, replace_with_fifo(path)):
        refused(provider_class(path), path, "not a regular file (a FIFO)")
    assert Path(path).is_fifo()


def test_a_link_to_a_device_swapped_in_after_the_stat_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "token", jwt_content())
    with replaced_after_stat(monkeypatch, path, replace_with_link(path, "/dev/zero")):
        refused(JwtFileProvider(path), path, "(a character device)")


def test_a_directory_swapped_in_after_the_stat_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "token", jwt_content())
    folder = tmp_path / "folder"
    folder.mkdir()

    def swap() -> None:
        path.unlink()
        folder.rename(path)

    with replaced_after_stat(monkeypatch, path, swap):
        refused(JwtFileProvider(path), path, "is a directory")


def test_a_socket_swapped_in_after_the_stat_cannot_be_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "token", jwt_content())
    with socket.socket(socket.AF_UNIX) as listener:

        def swap() -> None:
            listener.bind(str(tmp_path / "agent.sock"))
            os.replace(tmp_path / "agent.sock", path)

        with replaced_after_stat(monkeypatch, path, swap):
            refused(JwtFileProvider(path), path, "cannot be read")


def test_a_file_removed_after_the_stat_is_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "token", jwt_content())
    with replaced_after_stat(monkeypatch, path, path.unlink):
        error = negotiate_within_bound(JwtFileProvider(path), path)
    assert isinstance(error, CredentialUnavailable) and "does not exist" in str(error)


# --- symlinks that must keep working -----------------------------------------------------------


def test_a_symlink_to_a_regular_file_is_read(
    tmp_path: Path, kind: tuple[type[Provider], Callable[[], bytes]]
) -> None:
    provider_class, content = kind
    data = content()
    real = write(tmp_path / "real-token", data)
    link = tmp_path / "token"
    os.symlink(real, link)
    exchange = negotiate_within_bound(provider_class(link), link)
    assert isinstance(exchange, IdentityExchange), repr(exchange)
    assert exchange.request.primary.reveal() == data.strip()


def test_a_kubernetes_projected_volume_and_its_rotation(
    tmp_path: Path, kind: tuple[type[Provider], Callable[[], bytes]]
) -> None:
    """The layout the kubelet writes: ``token -> ..data/token``, ``..data -> ..<timestamp>``; a
    rotation writes a new timestamped folder and swaps ``..data`` with one rename."""
    provider_class, content = kind
    volume = tmp_path / "volume"
    volume.mkdir()

    def publish(stamp: str, data: bytes) -> None:
        folder = volume / f"..{stamp}"
        folder.mkdir()
        write(folder / "token", data)
        os.symlink(folder.name, volume / "..data_tmp")
        os.replace(volume / "..data_tmp", volume / "..data")

    first, second = content(), content()
    assert first != second
    publish("2026_01_01_00_00_00.1", first)
    os.symlink("..data/token", volume / "token")
    provider = provider_class(volume / "token")
    exchange = negotiate_within_bound(provider, volume / "token")
    assert (
        isinstance(exchange, IdentityExchange)
        and exchange.request.primary.reveal() == first.strip()
    )
    publish("2026_01_01_00_10_00.2", second)
    exchange = negotiate_within_bound(provider, volume / "token")
    assert (
        isinstance(exchange, IdentityExchange)
        and exchange.request.primary.reveal() == second.strip()
    )
