"""``dicom-identity``, the command line (console script ``client_sdk._cli:main``)."""

from client_sdk._cli.app import main as main
