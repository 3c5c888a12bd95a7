"""What the providers of a token file share (a JWT, type 5; a SAML assertion, type 4): a file
that an agent rotates, read again whenever it changed, with its audience and clock leeway."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from providers._recipe import ProviderRecipe, not_rebuildable
from providers._rotating_file import RotatingFile
from providers._safe_errors import total_repr

T = TypeVar("T")


class TokenFileProvider(Generic[T]):
    """A provider whose credential is the token in ``path``. ``audience`` (when given) must be
    one the token names, ``leeway`` seconds are allowed on its validity times, and
    ``positive_response`` asks the peer for a server response. A subclass says how its file is
    read (:meth:`_open_file`) and checks the token when it negotiates."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        audience: str | None = None,
        leeway: float = 30,
        positive_response: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.audience = audience
        self.leeway = leeway
        self.positive_response = positive_response
        self._clock = clock
        self._file: RotatingFile[T] = self._open_file()

    def _open_file(self) -> RotatingFile[T]:
        raise NotImplementedError

    def recipe(self) -> ProviderRecipe:
        """How a worker process builds this provider again: the file's path (read there)."""
        if self._clock is not time.time:
            raise not_rebuildable(self, "its clock is a function of this process")
        return ProviderRecipe.of(
            self,
            path=str(self.path),
            audience=self.audience,
            leeway=self.leeway,
            positive_response=self.positive_response,
        )

    def __repr__(self) -> str:
        return total_repr(
            self,
            lambda: f"{type(self).__name__}(path={str(self.path)!r}, audience={self.audience!r})",
        )
