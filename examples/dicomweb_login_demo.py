#!/usr/bin/env python3
"""The demo of dicomweb_login.py: OpenID Connect login, then DICOMweb with the token, against
real servers on 127.0.0.1.

Starts, the way the tests do (their fixture modules, imported deliberately: they are the one
place that configures these servers): oidc-provider (``node tests/oidc_op/server.js``,
tests/oidc_fixtures.py), Orthanc with its DICOMweb plugin and, in front of it, Apache httpd with
mod_oauth2 verifying bearer tokens against the provider's jwks_uri and audience
(tests/web_servers.py). Then runs examples/dicomweb_login.py as a separate process with a file
keyring in a temp folder: it STOWs one generated CT image and finds its study by QIDO, while
this demo reads the user code the example prints and approves it from a second client as the
person would on their phone (examples/demo_login_device.py's approval).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from demo_login_device import run_approving  # noqa: E402

from client_sdk.testing import ct_dataset  # noqa: E402
from tests.oidc_fixtures import (  # noqa: E402
    RunningOidcProvider,
    node_setup_missing,
    start_oidc_provider,
)
from tests.web_servers import (  # noqa: E402
    APACHE_MODULES,
    DICOMWEB_PLUGIN,
    DICOMWEB_ROOT,
    BearerAuth,
    apache_proxy,
    orthanc_dicomweb,
)

DEADLINE = 120.0  # seconds for the login, the STOW and the QIDO
PATIENT_ID = "DEMO-WEB-LOGIN"


def missing() -> str | None:
    """Why the demo cannot run here (with the fix), or None."""
    sbin = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"])
    needed = [
        (shutil.which("Orthanc", path=sbin) is not None, "Orthanc: apt-get install orthanc"),
        (DICOMWEB_PLUGIN.is_file(), "its DICOMweb plugin: apt-get install orthanc-dicomweb"),
        (shutil.which("apache2", path=sbin) is not None, "apache2: apt-get install apache2"),
        (
            (APACHE_MODULES / "mod_oauth2.so").is_file(),
            "mod_oauth2: apt-get install libapache2-mod-oauth2",
        ),
    ]
    absent = [what for present, what in needed if not present]
    why = node_setup_missing()
    if why:
        absent.append(why)
    return "; ".join(absent) or None


def main(argv: list[str] | None = None) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with (
            start_oidc_provider(folder / "op") as op,
            orthanc_dicomweb(folder / "orthanc") as orthanc,
            apache_proxy(
                orthanc.http_url + DICOMWEB_ROOT,
                scheme=BearerAuth(jwks_uri=op.endpoint("jwks"), audience=op.audience),
            ) as proxy,
        ):
            print(f"OpenID Provider (oidc-provider) listening at {op.issuer}")
            print(f"DICOMweb behind Apache mod_oauth2 at {proxy.url} (Orthanc behind it)")
            study = folder / "study.dcm"
            ct_dataset(patient_id=PATIENT_ID, seed=7).save_as(study, enforce_file_format=True)
            return _run_example(op, proxy.url, study, folder, argv or [])


def _run_example(
    op: RunningOidcProvider, url: str, study: Path, folder: Path, extra: list[str]
) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DICOM_IDENTITY_")}
    env.update(
        PYTHON_KEYRING_BACKEND="keyrings.alt.file.PlaintextKeyring",
        XDG_DATA_HOME=str(folder / "data"),
    )
    args = [
        sys.executable,
        str(HERE / "dicomweb_login.py"),
        *("--issuer", op.issuer, "--client-id", op.clients["device"].client_id),
        *("--scope", "openid offline_access dicom", "--resource", op.resource),
        *("--audience", op.audience, "--poll-interval", "0.5", "--url", url),
        *("--store", str(study), "--patient-id", PATIENT_ID, "--logout"),
        *extra,
    ]
    return run_approving(op, args, env, DEADLINE)


if __name__ == "__main__":
    why = missing()
    if why:
        print(f"the demo cannot run here: {why}", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(main(sys.argv[1:]))
