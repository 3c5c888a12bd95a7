"""examples/dicomweb_login.py, run as an operator would, through its demo
(examples/dicomweb_login_demo.py): oidc-provider, Orthanc+DICOMweb behind Apache mod_oauth2
checking the provider's JWKS, the device code approved from a second client. The other DICOMweb
example, dicomweb_kerberos.py, runs in tests/test_dicomweb_client.py::test_the_kerberos_example
(it needs the k5test realm's fixtures)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(EXAMPLES))

pytestmark = pytest.mark.interop


def test_the_login_example_stores_and_finds_with_the_login_token(tmp_path: Path) -> None:
    from dicomweb_login_demo import missing

    why = missing()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {why}")
        pytest.skip(why)
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "dicomweb_login_demo.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"enter the code \S+", out)  # printed by the example, approved by the demo
    assert "logged in as 'alice'" in out
    assert re.search(r"^STOW-RS: .*identity=jwt principal='alice' .* stored=1$", out, re.M), out
    assert re.search(r"^QIDO-RS: .*identity=jwt .* studies=1$", out, re.M), out
    assert re.search(r"^  StudyInstanceUID=[0-9.]+$", out, re.M), out
    assert "refresh token revoked True, deleted True" in out
    assert "eyJ" not in out + result.stderr  # no JWT (its header's base64) in any output
