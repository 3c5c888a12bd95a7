"""``python -m client_sdk``: the ``dicom-identity`` command line."""

from client_sdk.cli import main

raise SystemExit(main())
