"""The built wheel ships every package, py.typed, the licence and the entry points (issue 13).

0.4.1 listed its packages by hand in pyproject.toml and left out ``client_sdk.audit``: ``import
client_sdk`` failed in every install but the editable one the tests ran from. These tests build the
sdist and the wheel (``python -m build``: the wheel from the unpacked sdist) from a copy of the
project and read the wheel's file list; ``scripts/wheel_check.sh`` installs the wheel and uses it.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each build takes a few seconds

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("client_sdk", "providers")
PROJECT_FILES = ("pyproject.toml", "README.md", "LICENSE", *PACKAGES)
DISCOVERY = '[tool.setuptools.packages.find]\ninclude = ["client_sdk*", "providers*"]\n'
# 0.4.1's hand list, as it shipped (its config package under its 0.5 name, _config).
HAND_LIST_041 = ["providers", "client_sdk", "client_sdk._config", "client_sdk.testing"]


def copy_project(dest: Path) -> Path:
    """What a build reads, copied (a build writes build/ and *.egg-info into its source folder)."""
    dest.mkdir()
    for name in PROJECT_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, dest / name)
    return dest


def build(project: Path) -> Path:
    """``python -m build`` of ``project``: the sdist, then the wheel from it; returns the wheel."""
    out = project.parent / f"{project.name}-dist"
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(project)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    (wheel,) = out.glob("*.whl")
    return wheel


def module_files(project: Path, packages: list[str] | None = None) -> set[str]:
    """The ``.py`` files of the project's packages (or of the dotted ``packages`` only)."""
    files = set()
    for top in PACKAGES:
        for path in (project / top).rglob("*.py"):
            if "__pycache__" in path.parts:
                continue
            relative = path.relative_to(project)
            if packages is None or ".".join(relative.parent.parts) in packages:
                files.add(relative.as_posix())
    return files


def wheel_problems(wheel: Path, project: Path) -> list[str]:
    """What the wheel lacks against ``project``'s source: modules, py.typed, licence, metadata."""
    version = tomllib.loads((project / "pyproject.toml").read_text())["project"]["version"]
    dist_info = f"dicom_identity-{version}.dist-info"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = Parser().parsestr(archive.read(f"{dist_info}/METADATA").decode())
        entry_points = configparser.ConfigParser()
        entry_points.read_string(archive.read(f"{dist_info}/entry_points.txt").decode())
    wanted = module_files(project) | {f"{top}/py.typed" for top in PACKAGES}
    wanted.add(f"{dist_info}/licenses/LICENSE")
    problems = [f"{name} is not in the wheel" for name in sorted(wanted - names)]
    if (
        entry_points.get("console_scripts", "dicom-identity", fallback=None)
        != "client_sdk._cli:main"
    ):
        problems.append("no dicom-identity console script")
    plugin = entry_points.get("pytest11", "dicom_identity", fallback=None)
    if plugin != "client_sdk.testing.pytest_plugin":
        problems.append("no pytest11 entry point for the embedded PACS fixtures")
    if metadata["License-Expression"] != "MIT" or metadata["License-File"] != "LICENSE":
        problems.append("licence metadata missing (License-Expression, License-File)")
    if not metadata.get_all("Project-URL") or "Typing :: Typed" not in (
        metadata.get_all("Classifier") or []
    ):
        problems.append("project URLs or classifiers missing")
    return problems


def test_the_wheel_ships_every_module_and_passes_twine_check(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    wheel = build(project)
    assert wheel_problems(wheel, project) == []
    with zipfile.ZipFile(wheel) as archive:
        assert "client_sdk/_audit/__init__.py" in archive.namelist()  # 0.4.1 lacked audit/
    sdist = next(wheel.parent.glob("*.tar.gz"))
    twine = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(sdist), str(wheel)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert twine.returncode == 0, twine.stdout + twine.stderr


def test_the_check_catches_a_package_left_out_of_the_hand_list(tmp_path: Path) -> None:
    """0.4.1's pyproject.toml: every module of a package not in its hand list is reported."""
    project = copy_project(tmp_path / "project")
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    assert DISCOVERY in text, "pyproject.toml no longer uses package discovery: update this test"
    hand_list = "[tool.setuptools]\npackages = [" + ", ".join(f'"{p}"' for p in HAND_LIST_041)
    pyproject.write_text(text.replace(DISCOVERY, hand_list + "]\n"))
    problems = wheel_problems(build(project), project)
    left_out = module_files(project) - module_files(project, HAND_LIST_041)
    assert "client_sdk/_audit/__init__.py" in left_out
    assert problems == [f"{name} is not in the wheel" for name in sorted(left_out)]
