"""This source's version, as ``pyproject.toml`` declares it.

``dicom-identity --version`` prints it without importing ``importlib.metadata`` (about 20 ms of
its start-up, issue 16). ``tests/test_cli_startup_imports.py`` checks that it equals the
project's version and the installed distribution's.
"""

VERSION = "0.5.0"
