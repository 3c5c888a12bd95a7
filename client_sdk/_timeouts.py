"""Every network wait of an association, bounded."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Timeouts:
    """Every network wait of an association is bounded (seconds).

    pynetdicom leaves the connection timeout unset by default: a peer that accepts TCP and never
    answers would block forever.
    """

    connect: float = 10.0
    acse: float = 30.0
    dimse: float = 60.0
    network: float = 60.0

    def __post_init__(self) -> None:
        for name in ("connect", "acse", "dimse", "network"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"Timeouts.{name} must be a positive number of seconds: {value!r}")
