#!/usr/bin/env bash
# Sourced by scripts/demo, scripts/test and scripts/bench: makes .venv with everything the project
# needs. Debian packages are installed with apt-get when run as root; otherwise we say what to
# install. One line per step on the terminal; apt-get, dpkg and pip write to .venv-setup.log.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DICOM_IDENTITY_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
# shellcheck source=scripts/steps.sh
source "$ROOT/scripts/steps.sh"

# Debian packages the demo and the tests use, beyond a Python that can make a venv (one list):
# MIT Kerberos (a throwaway KDC for the tests and the demo; libkrb5-dev and gcc to build the
# gssapi and krb5 wheels), faketime (the clock-skew test), and the third-party peers of the
# interoperability tests: DCMTK, Orthanc, Wireshark's tshark, GNOME Keyring on a D-Bus session,
# and the DICOMweb stack (Orthanc's DICOMweb plugin behind Apache httpd with Basic, Kerberos and
# bearer-JWT auth modules; the tests run their own Apache on a free port, never the system one).
DEBIAN_PACKAGES=(krb5-kdc krb5-admin-server krb5-user libkrb5-dev gcc faketime
                 dcmtk orthanc tshark gnome-keyring dbus
                 orthanc-dicomweb apache2 libapache2-mod-auth-gssapi libapache2-mod-oauth2)

install_debian_packages() {
    DEBIAN_FRONTEND=noninteractive apt-get update &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

ensure_debian_packages() {
    local pkg missing=()
    "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv python3-pip)
    "$PYTHON" -c 'import os, sysconfig; os.stat(os.path.join(sysconfig.get_paths()["include"], "Python.h"))' \
        >/dev/null 2>&1 || missing+=(python3-dev)
    if command -v dpkg-query >/dev/null 2>&1; then
        for pkg in "${DEBIAN_PACKAGES[@]}"; do
            dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
                || missing+=("$pkg")
        done
    fi
    # Node.js runs the tests' OpenID Provider (tests/oidc_op); any node and npm on PATH will do.
    command -v node >/dev/null 2>&1 || missing+=(nodejs)
    command -v npm >/dev/null 2>&1 || missing+=(npm)
    [ "${#missing[@]}" -eq 0 ] && return 0
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        step "installing Debian packages (${missing[*]})" install_debian_packages "${missing[@]}"
    else
        echo "Missing Debian packages: ${missing[*]}" >&2
        echo "Install them as root, then run this again:  sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
}

install_python_packages() {
    "$VENV/bin/python" -m pip install --upgrade pip &&
        "$VENV/bin/python" -m pip install -e "$ROOT[test,kerberos]"
}

ensure_venv() {
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
        echo "Python >= 3.11 is required; $PYTHON is $("$PYTHON" -V 2>&1)" >&2; exit 1; }
    if [ ! -x "$VENV/bin/python" ]; then
        step "creating the virtual environment $VENV" "$PYTHON" -m venv "$VENV"
    fi
    # Reinstall only when the dependencies changed.
    local stamp="$VENV/.dicom-identity-installed" want
    want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        step "installing Python packages into $VENV (the first time builds gssapi and krb5: about 3 minutes)" \
            install_python_packages
        echo "$want" >"$stamp"
    fi
}

# The tests' OpenID Provider (npm's oidc-provider) from the committed lockfile. npm ci empties
# node_modules first, so the stamp inside it goes whenever the packages are reinstalled.
install_node_packages() {
    (cd "$ROOT/tests/oidc_op" && npm ci --no-audit --no-fund)
}

ensure_node_packages() {
    local dir="$ROOT/tests/oidc_op" stamp want
    stamp="$dir/node_modules/.dicom-identity-installed"
    want="$(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        step "installing the tests' OpenID Provider (npm ci in tests/oidc_op)" install_node_packages
        echo "$want" >"$stamp"
    fi
}

ensure_debian_packages
ensure_venv
ensure_node_packages
