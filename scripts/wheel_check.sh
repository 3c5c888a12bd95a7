#!/usr/bin/env bash
# The package as a user gets it (run by scripts/test before pytest; runs alone too, after
# scripts/bootstrap.sh has made .venv): build the sdist and the wheel into dist/, twine check
# --strict, install the wheel (not editable) with the kerberos and dicomweb extras into a fresh .venv-wheel, then
# from a temp folder outside the checkout import every module of both packages, run
# `dicom-identity --version`, and echo against `dicom-identity pacs` from that same environment
# (scripts/wheel_smoke.py). One line per step; build and pip output go to .venv-setup.log.
# scripts/test then runs the command-line tests against .venv-wheel/bin/dicom-identity.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DICOM_IDENTITY_VENV:-$ROOT/.venv}" # the development venv: has build and twine (test extra)
PYTHON="${PYTHON:-python3}"
DIST="$ROOT/dist"
WHEEL_VENV="$ROOT/.venv-wheel"
# shellcheck source=scripts/steps.sh
source "$ROOT/scripts/steps.sh"
export PIP_DISABLE_PIP_VERSION_CHECK=1

VERSION="$("$VENV/bin/python" -c \
    'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' \
    "$ROOT/pyproject.toml")"
WHEEL="$DIST/dicom_identity-$VERSION-py3-none-any.whl"
SDIST="$DIST/dicom_identity-$VERSION.tar.gz"

build_dist() {
    # python -m build makes the sdist, then the wheel from the unpacked sdist: a file the sdist
    # lacks is missing from the wheel too, so the checks below cover both.
    rm -rf "$DIST" && "$VENV/bin/python" -m build --outdir "$DIST" "$ROOT" &&
        test -f "$WHEEL" && test -f "$SDIST"
}

fresh_venv() {
    rm -rf "$WHEEL_VENV" && "$PYTHON" -m venv "$WHEEL_VENV"
}

install_wheel() {
    # pip's wheel cache (~/.cache/pip) keeps the gssapi and krb5 wheels built by bootstrap.sh.
    # keyrings.alt: the command-line tests store passwords in its PlaintextKeyring.
    "$WHEEL_VENV/bin/python" -m pip install "$WHEEL[kerberos,dicomweb]" keyrings.alt
}

SMOKE_DIR="$(mktemp -d "${TMPDIR:-/tmp}/dicom-identity-wheel.XXXXXX")"
trap 'rm -rf "$SMOKE_DIR"' EXIT
cp "$ROOT/scripts/wheel_smoke.py" "$SMOKE_DIR/"

smoke() {
    # -I: no PYTHONPATH, no user site, no script folder: only what the wheel installed.
    (cd "$SMOKE_DIR" && "$WHEEL_VENV/bin/python" -I wheel_smoke.py "$@")
}

step "building the sdist and the wheel of dicom-identity $VERSION into dist/" build_dist
step "twine check --strict dist/*" "$VENV/bin/python" -m twine check --strict "$SDIST" "$WHEEL"
step "creating a fresh virtual environment .venv-wheel" fresh_venv
step "installing the wheel (not editable) with the kerberos and dicomweb extras into .venv-wheel" install_wheel
step "importing every module of client_sdk and providers, from a folder outside the checkout" \
    smoke imports "$ROOT"
step "dicom-identity --version prints dicom-identity $VERSION" smoke version "$VERSION"
step "dicom-identity echo against dicom-identity pacs, both from .venv-wheel" smoke echo
