#!/usr/bin/env python3
"""The demo of login_device.py: a real OpenID Provider on 127.0.0.1, a person approving the code.

Starts oidc-provider the way the tests do (``node tests/oidc_op/server.js``, through
tests/oidc_fixtures.py: imported deliberately, it is the one place that configures it), runs
examples/login_device.py against it as a separate process with a file keyring in a temp folder,
reads the user code the example prints, and approves it from a second client as the person
would on their phone (tests/oidc_browser.py: the provider's own pages over HTTP). The example
then echoes to an embedded PACS that verifies the token with the provider's JWKS, and logs out.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from tests.oidc_fixtures import (  # noqa: E402
    RunningOidcProvider,
    node_setup_missing,
    start_oidc_provider,
)

DEADLINE = 90.0  # seconds for the whole login and echo
USER_CODE = re.compile(r"enter the code (\S+)")


def missing() -> str | None:
    """Why the demo cannot run here, or None."""
    return node_setup_missing()


def main(argv: list[str] | None = None) -> int:
    with (
        tempfile.TemporaryDirectory() as tmp,
        start_oidc_provider(Path(tmp) / "op") as op,
    ):
        print(f"OpenID Provider (oidc-provider) listening at {op.issuer}")
        env = {k: v for k, v in os.environ.items() if not k.startswith("DICOM_IDENTITY_")}
        env.update(
            PYTHON_KEYRING_BACKEND="keyrings.alt.file.PlaintextKeyring",
            XDG_DATA_HOME=str(Path(tmp) / "data"),
        )
        args = [
            sys.executable,
            str(HERE / "login_device.py"),
            "--issuer",
            op.issuer,
            "--client-id",
            op.clients["device"].client_id,
            "--scope",
            "openid offline_access dicom",
            "--resource",
            op.resource,
            "--audience",
            op.audience,
            "--poll-interval",
            "0.5",
            "--logout",
            *(argv or []),
        ]
        return run_approving(op, args, env, DEADLINE)


def run_approving(
    op: RunningOidcProvider, args: list[str], env: dict[str, str], seconds: float
) -> int:
    """Run an example (``args``) that logs in by the device flow; approve the user code it
    prints on stderr as alice, from a second client; echo its output. Its exit code (1 when it
    printed no code), all within ``seconds``. Also used by examples/dicomweb_login_demo.py."""
    proc = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    lines: queue.Queue[str | None] = queue.Queue()
    assert proc.stderr is not None
    threading.Thread(target=_read_lines, args=(proc.stderr, lines), daemon=True).start()
    deadline = time.monotonic() + seconds
    try:
        code = _approve(op, lines, deadline)
        out, _ = proc.communicate(timeout=max(deadline - time.monotonic(), 1))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
    sys.stdout.write(out.decode())
    rest = []
    while not lines.empty():
        line = lines.get()
        if line is not None:
            rest.append(line)
    if rest:
        print("".join(rest), end="", file=sys.stderr)
    if code is None:
        print("the example printed no user code", file=sys.stderr)
        return 1
    return proc.returncode


def _read_lines(stream: IO[bytes], into: queue.Queue[str | None]) -> None:
    for raw in stream:
        into.put(raw.decode(errors="replace"))
    into.put(None)


def _approve(
    op: RunningOidcProvider, lines: queue.Queue[str | None], deadline: float
) -> str | None:
    """Wait (bounded) for the user code on the example's stderr; approve it as alice."""
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            break
        if line is None:
            break
        print(line, end="")
        found = USER_CODE.search(line)
        if found:
            code = found.group(1)
            print(f"(the person, on another device, enters {code} and logs in as alice)")
            op.approve_device(code, "alice", op.users["alice"])
            return code
    return None


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
