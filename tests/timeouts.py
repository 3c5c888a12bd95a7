"""The association timeouts the tests give the SDK: one set of named bounds, by what a test meets.

Each is an upper bound on a wait that ends much sooner when all goes well (a peer on 127.0.0.1
answers in milliseconds); they are generous because the suite shares two cores with other work.
A test about a timeout itself builds its own ``Timeouts`` next to the assertion it bounds.
"""

from __future__ import annotations

from client_sdk import Timeouts

# A local peer (the embedded PACS, a pynetdicom or plain TCP peer) and a failure expected on the
# spot: a rejection, an abort, a refused connection.
QUICK = Timeouts(connect=2, acse=2, dimse=5, network=5)
# A local peer and an association that runs a few requests (echo, find, a small store).
LOCAL = Timeouts(connect=2, acse=5, dimse=5, network=5)
# A local peer and operations that carry data or a slower handshake: C-GET/C-MOVE, queries with
# many matches, TLS, Kerberos, the installed command line's PACS.
OPERATIONS = Timeouts(connect=5, acse=5, dimse=10, network=10)
# Third-party programs (DCMTK, Orthanc) and many stores or concurrent associations at once.
THIRD_PARTY = Timeouts(connect=5, acse=10, dimse=20, network=20)
# Hostile peers: the timeout is what ends most of these tests, so it is short.
HOSTILE_PEER = Timeouts(connect=2, acse=2, dimse=2, network=2)
# Generated hostile peers (hypothesis): shorter still, one per example.
FUZZ_PEER = Timeouts(connect=1, acse=1, dimse=1, network=1)
