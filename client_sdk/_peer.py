"""The application entity a client associates with."""

from __future__ import annotations

from dataclasses import dataclass

from client_sdk._tls import TlsConfig
from providers._misplaced_secret import refuse_misplaced_secret

DEFAULT_CALLING_AE_TITLE = "DICOM_IDENTITY"


@dataclass(frozen=True)
class Peer:
    """A DICOM application entity to associate with."""

    host: str
    port: int
    ae_title: str
    tls: TlsConfig | None = None

    def __post_init__(self) -> None:
        # alice:pw@pacs: refused with the password masked, before it can reach any message.
        refuse_misplaced_secret(self.host, "Peer host", address=True)
        if not isinstance(self.port, int) or not 0 < self.port < 65536:
            raise ValueError(f"Peer port must be 1-65535: {self.port!r}")
        if not self.ae_title or len(self.ae_title) > 16:
            raise ValueError(f"Peer AE title must be 1-16 characters: {self.ae_title!r}")

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"
