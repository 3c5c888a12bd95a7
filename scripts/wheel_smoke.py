"""The installed wheel, checked from a folder outside the checkout (run by scripts/wheel_check.sh).

Run with the fresh environment's ``python -I`` (only what the wheel installed is importable):

    wheel_smoke.py imports SOURCE_ROOT  every module of both packages imports from site-packages,
                                        and the installed modules are exactly the source tree's
    wheel_smoke.py version X.Y.Z        ``dicom-identity --version`` prints that version
    wheel_smoke.py echo                 ``dicom-identity echo`` against ``dicom-identity pacs``

Standard library only. Exits non-zero with the reason on stderr when a check fails.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import pkgutil
import queue
import re
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
from pathlib import Path
from typing import IO

PACKAGES = ("client_sdk", "providers")
# Modules that need what only the test extra installs; the wheel check installs the kerberos extra
# alone, as a user would. Each is still imported: only a ModuleNotFoundError for exactly this
# dependency is accepted.
NEEDS_TEST_EXTRA = {
    "client_sdk.testing.pytest_plugin": "pytest",  # loaded by pytest through its pytest11 entry
}
LISTENING = re.compile(r"listening on (?P<host>[0-9.]+):(?P<port>\d+) as (?P<ae_title>\S+)")
BIN = Path(sys.executable).parent  # the environment's bin/ (not resolved: a venv links python)


class CheckFailed(Exception):
    pass


def source_modules(root: Path, package: str) -> set[str]:
    """Module names of the checkout's ``package`` folder, from its files (nothing imported)."""
    names = set()
    for path in (root / package).rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        if "__pycache__" in parts:
            continue
        names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def installed_modules(package: str) -> set[str]:
    """Module names of the installed ``package``, walked by pkgutil (a failing import raises)."""
    top = importlib.import_module(package)
    where = Path(top.__file__ or "").parent
    site = Path(sysconfig.get_paths()["purelib"])
    if not where.is_relative_to(site):
        raise CheckFailed(f"{package} was imported from {where}, not from {site}")
    if not (where / "py.typed").is_file():
        raise CheckFailed(f"{where}/py.typed is missing: type checkers would ignore {package}")

    def walk_error(name: str) -> None:
        raise CheckFailed(f"importing the package {name} failed while walking {package}")

    walked = pkgutil.walk_packages(top.__path__, f"{package}.", onerror=walk_error)
    return {package} | {info.name for info in walked}


def import_module(name: str) -> str:
    """Import ``name``; ``__main__`` modules are compiled, not run (importing runs the program)."""
    if name.endswith(".__main__"):
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or spec.origin is None:
            raise CheckFailed(f"{name} is listed but cannot be found")
        compile(Path(spec.origin).read_text(encoding="utf-8"), spec.origin, "exec")
        return "compiled"
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if NEEDS_TEST_EXTRA.get(name) == exc.name:
            return f"skipped: needs {exc.name} (the test extra)"
        raise CheckFailed(f"import {name} failed: {exc!r}") from exc
    return "imported"


def check_imports(source_root: Path) -> None:
    for package in PACKAGES:
        installed = installed_modules(package)
        expected = source_modules(source_root, package)
        if missing := sorted(expected - installed):
            raise CheckFailed(f"the wheel lacks these modules of the source tree: {missing}")
        if stale := sorted(installed - expected):
            raise CheckFailed(f"the wheel has modules the source tree does not: {stale}")
        for name in sorted(installed):
            print(f"{name}: {import_module(name)}")
        print(f"{package}: {len(installed)} modules, all present, from {Path(sys.prefix)}")
    license_files = [
        str(f)
        for f in importlib.metadata.distribution("dicom-identity").files or []
        if f.name == "LICENSE"
    ]
    if not license_files:
        raise CheckFailed("the installed distribution has no LICENSE file")
    print(f"licence: {license_files}")


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    print("$", " ".join(args))
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, check=False, env=clean_env()
    )
    print(result.stdout + result.stderr, end="")
    return result


def check_version(expected: str) -> None:
    wanted = f"dicom-identity {expected}"
    metadata = importlib.metadata.version("dicom-identity")
    if metadata != expected:
        raise CheckFailed(f"installed metadata says {metadata}, pyproject.toml says {expected}")
    for args in (
        [str(BIN / "dicom-identity"), "--version"],
        [sys.executable, "-m", "client_sdk", "-V"],
    ):
        result = run(*args)
        if result.returncode != 0 or result.stdout.strip() != wanted:
            raise CheckFailed(
                f"{args}: exit {result.returncode}, {result.stdout!r}; want {wanted!r}"
            )


def clean_env() -> dict[str, str]:
    """No DICOM_IDENTITY_* settings of the caller; HOME, config and data in this temp folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DICOM_IDENTITY_")}
    home = str(Path.cwd())
    env.update(HOME=home, XDG_CONFIG_HOME=f"{home}/config", XDG_DATA_HOME=f"{home}/data")
    env["PYTHON_KEYRING_BACKEND"] = "keyrings.alt.file.PlaintextKeyring"
    return env


def first_line(stream: IO[str], timeout: float) -> str:
    """The stream's first line, or CheckFailed after ``timeout`` seconds."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        raise CheckFailed(f"dicom-identity pacs printed nothing within {timeout} s") from None


def check_echo() -> None:
    with tempfile.TemporaryFile("w+") as errors:
        pacs = subprocess.Popen(
            [str(BIN / "dicom-identity"), "pacs", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env=clean_env(),
        )
        try:
            assert pacs.stdout is not None
            line = first_line(pacs.stdout, timeout=60)
            print(line, end="")
            match = LISTENING.search(line)
            if match is None:
                errors.seek(0)
                raise CheckFailed(f"dicom-identity pacs said {line!r}; stderr: {errors.read()!r}")
            address = f"{match['host']}:{match['port']}"
            result = run(
                str(BIN / "dicom-identity"), "echo", address, "--ae-title", match["ae_title"]
            )
            if result.returncode != 0:
                raise CheckFailed(f"dicom-identity echo exited {result.returncode}")
        finally:
            pacs.send_signal(signal.SIGTERM)
            try:
                code = pacs.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pacs.kill()
                pacs.wait(timeout=10)
                raise CheckFailed(
                    "dicom-identity pacs did not stop within 30 s of SIGTERM"
                ) from None
            finally:
                if pacs.stdout is not None:
                    pacs.stdout.close()
        if code != 0:
            errors.seek(0)
            raise CheckFailed(f"dicom-identity pacs exited {code} on SIGTERM: {errors.read()!r}")
    print(f"echo to {address}: exit 0; dicom-identity pacs stopped cleanly")


def main(argv: list[str]) -> int:
    try:
        match argv:
            case ["imports", source_root]:
                check_imports(Path(source_root))
            case ["version", expected]:
                check_version(expected)
            case ["echo"]:
                check_echo()
            case _:
                print(__doc__, file=sys.stderr)
                return 2
    except CheckFailed as exc:
        print(f"wheel check failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
