"""SOP Class UIDs the client uses (``pynetdicom.sop_class`` builds its names at run time,
which static type checkers cannot see)."""

from pydicom.uid import UID

VERIFICATION = UID("1.2.840.10008.1.1")
STUDY_ROOT_FIND = UID("1.2.840.10008.5.1.4.1.2.2.1")
STUDY_ROOT_GET = UID("1.2.840.10008.5.1.4.1.2.2.3")
STUDY_ROOT_MOVE = UID("1.2.840.10008.5.1.4.1.2.2.2")

# Every SOP class the SDK speaks besides storage, in the order the embedded PACS offers them: the
# one list a new DIMSE operation's SOP class joins (the PACS's contexts are built from it).
NOT_STORAGE = (VERIFICATION, STUDY_ROOT_FIND, STUDY_ROOT_MOVE, STUDY_ROOT_GET)
