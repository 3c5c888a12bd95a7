"""Finding and reading the configuration file (TOML), with the environment it is used with."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import platformdirs

from client_sdk._config.model import Config
from client_sdk._config.parse import parse_document
from client_sdk._config.problems import InvalidConfig, Problems
from client_sdk._config.settings import SOURCE_ARGUMENT, SOURCE_DEFAULT, read_environment

if TYPE_CHECKING:
    from client_sdk._client import Client

APP_NAME = "dicom-identity"
CONFIG_ENV = "DICOM_IDENTITY_CONFIG"
CONFIG_FILE_NAME = "config.toml"


def default_config_path() -> Path:
    """The user's configuration file: ``~/.config/dicom-identity/config.toml`` on Linux."""
    return platformdirs.user_config_path(APP_NAME) / CONFIG_FILE_NAME


@dataclass(frozen=True)
class ConfigLocation:
    """Where the configuration is read from, and why there: "argument",
    "environment: DICOM_IDENTITY_CONFIG" or "default" (the only one that may be missing)."""

    path: Path
    source: str

    @property
    def must_exist(self) -> bool:
        return self.source != SOURCE_DEFAULT


def locate_config(
    path: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None
) -> ConfigLocation:
    """An explicit path, else ``$DICOM_IDENTITY_CONFIG``, else :func:`default_config_path`."""
    environ = os.environ if environ is None else environ
    if path is not None:
        return ConfigLocation(Path(path).expanduser(), SOURCE_ARGUMENT)
    from_environment = environ.get(CONFIG_ENV, "").strip()
    if from_environment:
        return ConfigLocation(Path(from_environment).expanduser(), f"environment: {CONFIG_ENV}")
    return ConfigLocation(default_config_path(), SOURCE_DEFAULT)


def load_config(
    path: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None
) -> Config:
    """Read and validate the configuration and the ``DICOM_IDENTITY_*`` variables.

    A missing file at the default location is an empty configuration; an explicit or
    environment path that does not exist is an error. Every problem of the file and the
    environment is reported at once, in one :class:`ConfigError` whose ``errors`` lists them.
    """
    environ = os.environ if environ is None else environ
    location = locate_config(path, environ=environ)
    in_file = Problems(str(location.path))
    in_environment = Problems("environment")
    environment = read_environment(environ, in_environment)
    document = _read_document(location, in_file)
    parsed = None
    if document is not None:
        parsed = parse_document(document, in_file, location.path.absolute().parent)
    if in_file.lines or in_environment.lines:
        raise InvalidConfig(in_file.lines + in_environment.lines)
    if parsed is None:
        return Config(path_source=location.source, environment=MappingProxyType(environment))
    return Config(
        path=location.path,
        path_source=location.source,
        defaults=parsed.defaults,
        peers=MappingProxyType(parsed.peers),
        identities=MappingProxyType(parsed.identities),
        policies=MappingProxyType(parsed.policies),
        audit=parsed.audit,
        environment=MappingProxyType(environment),
    )


def client_from_config(peer: str, config: Config | None = None) -> Client:
    """A client for the configured ``peer`` (of the default configuration when None)."""
    return (config if config is not None else load_config()).client(peer)


def _read_document(location: ConfigLocation, problems: Problems) -> dict[str, Any] | None:
    """The TOML tables, or None: no file at the default location, or a problem reported."""
    try:
        data = location.path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        if location.must_exist:
            problems.add("", f"no such configuration file (given by {location.source})")
        return None
    except IsADirectoryError:
        problems.add("", "is a directory, not a configuration file")
        return None
    except OSError as exc:
        problems.add("", f"cannot be read: {exc.strerror or exc}")
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.add("", f"is not UTF-8 text (byte {exc.start})")
        return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        problems.add(
            "", f"TOML syntax error: {exc}; fix it there (the rest is checked once the file parses)"
        )
        return None
