"""``python -m client_sdk``: the ``dicom-identity`` command line."""

from client_sdk._cli import main

raise SystemExit(main())
