"""``dicom-identity``, the command line (console script ``client_sdk._cli:main``)."""

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; ``dicom-identity --version`` alone is answered before the parser
    and the commands load (issue 16: start-up). ``client_sdk._cli.app.main`` does the rest."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args in (["--version"], ["-V"]):
        from client_sdk._version import VERSION

        print(f"dicom-identity {VERSION}")
        return 0
    from client_sdk._cli.app import main as run

    return run(argv)
