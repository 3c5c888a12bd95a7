"""What the command line prints: one readable line per association, or JSON for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

from client_sdk._cli.advice import error_text
from client_sdk._outcome import IdentityOutcome
from providers._scrub import printable_line

if TYPE_CHECKING:  # pydicom loads when a command runs, not for --help (issue 16)
    from pydicom import Dataset

    from client_sdk._peer_text import SecretsGiven


def dataset_fields(ds: Dataset, secrets: SecretsGiven = ()) -> dict[str, str]:
    """Top-level keywords and values of an identifier, as text (for find results). The values
    are the peer's: each is shown through :func:`client_sdk._peer_text.shown` (scrubbed of
    ``secrets``, the session's ``peer_text.scrubber()``; one printable line; cut to its VR's
    length)."""
    from client_sdk import _peer_text as peer_text  # pydicom: not loaded for --help

    return peer_text.fields(ds, secrets)


class Reporter:
    """Prints results to stdout: readable lines, or one JSON object a line with ``--json``."""

    def __init__(self, *, as_json: bool, out: TextIO | None = None) -> None:
        self.as_json = as_json
        self.out = out or sys.stdout

    def association(
        self, outcome: IdentityOutcome, operation: str, status: int | None, **extra: Any
    ) -> None:
        if self.as_json:
            self._json(
                {
                    "event": "association",
                    "operation": operation,
                    "peer": outcome.peer,
                    "identity_type": outcome.type_label,
                    "principal": outcome.principal,
                    "source": outcome.source,
                    # "response" and "decision" are the README's "What came back" words;
                    # the booleans below are derived from "response", never set apart from it.
                    "response": outcome.status.value,
                    "response_requested": outcome.response_requested,
                    "response_received": outcome.response_received,
                    "response_length": outcome.response_length,
                    "verified": outcome.verified,
                    "echoed": outcome.echoed,
                    "decision": outcome.decision.value,
                    "status": status,  # the DIMSE status of the operation
                    **extra,
                }
            )
            return
        code = "-" if status is None else f"0x{status:04X}"
        details = "".join(f" {key}={value}" for key, value in extra.items())
        self._line(f"{operation}: {outcome.summary()} status={code}{details}")

    def item(self, kind: str, fields: Mapping[str, Any]) -> None:
        if self.as_json:
            self._json({"event": kind, **fields})
        else:
            # One line, whatever a value holds (a file name with a newline, a peer's text).
            shown = (f"{key}={printable_line(str(value))}" for key, value in fields.items())
            self._line("  " + " ".join(shown))

    def message(self, text: str, **fields: Any) -> None:
        if self.as_json:
            self._json({"event": "message", "message": text, **fields})
        else:
            self._line(text)

    def error(self, error: BaseException, exit_code: int) -> None:
        """One line on stderr; with ``--json`` also an object on stdout."""
        # The advice in the command line's terms (cli_advice), on one line: a message that
        # quotes outside text must not forge a second line of output.
        # Several problems at once (a configuration check) stay apart: " | " between them.
        lines = [line.strip() for line in error_text(error).splitlines() if line.strip()]
        text = printable_line(" | ".join(lines))
        print(f"dicom-identity: error ({type(error).__name__}): {text}", file=sys.stderr)
        if self.as_json:
            self._json(
                {
                    "event": "error",
                    "error": type(error).__name__,
                    "message": text,
                    "exit_code": exit_code,
                }
            )

    def _line(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def _json(self, obj: Mapping[str, Any]) -> None:
        print(json.dumps(obj, default=str), file=self.out, flush=True)
