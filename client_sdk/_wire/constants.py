"""The numbers of the DICOM Upper Layer protocol (PS3.8 9.3) and their names, in one table each.

The names are the ones the SDK's messages use (for rejections, pynetdicom's wording, which
messages and users already know).
"""

from __future__ import annotations

PDU_HEADER = 6  # type, reserved, 4-byte length
ITEM_HEADER = 4  # type, reserved, 2-byte length
ASSOCIATE_FIXED = 68  # protocol version, reserved, called/calling AE titles, reserved (9.3.2-3)

# PDU types (PS3.8 Table 9-11)
A_ASSOCIATE_RQ = 0x01
A_ASSOCIATE_AC = 0x02
A_ASSOCIATE_RJ = 0x03
P_DATA_TF = 0x04
A_RELEASE_RQ = 0x05
A_RELEASE_RP = 0x06
A_ABORT = 0x07

PDU_NAMES = {
    A_ASSOCIATE_RQ: "A-ASSOCIATE-RQ",
    A_ASSOCIATE_AC: "A-ASSOCIATE-AC",
    A_ASSOCIATE_RJ: "A-ASSOCIATE-RJ",
    P_DATA_TF: "P-DATA-TF",
    A_RELEASE_RQ: "A-RELEASE-RQ",
    A_RELEASE_RP: "A-RELEASE-RP",
    A_ABORT: "A-ABORT",
}

# Item and sub-item types of an A-ASSOCIATE-RQ/AC (PS3.8 9.3.2-3, PS3.7 Annex D)
PRESENTATION_CONTEXT_AC = 0x21
TRANSFER_SYNTAX = 0x40
USER_INFORMATION = 0x50
MAXIMUM_LENGTH = 0x51
USER_IDENTITY_RQ = 0x58  # also what DCMTK <= 3.6.1 acceptors sent in an A-ASSOCIATE-AC
USER_IDENTITY_AC = 0x59
USER_IDENTITY_ITEMS = (USER_IDENTITY_RQ, USER_IDENTITY_AC)

# As the checks of an A-ASSOCIATE-AC name them (a 58H item there is the legacy answer).
AC_ITEM_NAMES = {
    0x10: "Application Context",
    PRESENTATION_CONTEXT_AC: "Presentation Context",
    TRANSFER_SYNTAX: "Transfer Syntax",
    USER_INFORMATION: "User Information",
    MAXIMUM_LENGTH: "Maximum Length",
    0x52: "Implementation Class UID",
    0x53: "Asynchronous Operations Window",
    0x54: "SCP/SCU Role Selection",
    0x55: "Implementation Version Name",
    0x56: "SOP Class Extended Negotiation",
    0x57: "SOP Class Common Extended Negotiation",
    USER_IDENTITY_RQ: "User Identity (legacy 58H)",
    USER_IDENTITY_AC: "User Identity",
}

# A-ABORT source and reason (PS3.8 Table 9-26)
ABORT_SOURCES = {0: "service-user", 1: "reserved", 2: "service-provider"}
ABORT_REASONS = {
    0: "reason not specified",
    1: "unrecognized PDU",
    2: "unexpected PDU",
    4: "unrecognized PDU parameter",
    5: "unexpected PDU parameter",
    6: "invalid PDU parameter value",
}
# An A-ABORT PDU from the service user (source 0), reason 0
A_ABORT_PDU = bytes.fromhex("07 00 00000004 00 00 00 00")

# A-ASSOCIATE-RJ result, source and reason (PS3.8 Table 9-21), in pynetdicom's wording.
REJECTION_RESULTS = {1: "Rejected Permanent", 2: "Rejected Transient"}
REJECTION_SOURCES = {
    1: "Service User",
    2: "Service Provider (ACSE)",
    3: "Service Provider (Presentation)",
}
REJECTION_REASONS = {
    1: {
        1: "No reason given",
        2: "Application context name not supported",
        3: "Calling AE title not recognised",
        7: "Called AE title not recognised",
    },
    2: {1: "No reason given", 2: "Protocol version not supported"},
    3: {1: "Temporary congestion", 2: "Local limit exceeded"},
}
REJECTED_TRANSIENT = 2

# The A-ASSOCIATE-RJ triples the embedded PACS sends (result, source, reason)
CONFORMANT_IDENTITY_REJECTION = (1, 2, 1)  # permanent, ACSE provider, no reason (PS3.7 D.3.3.7.3)
STOCK_IDENTITY_REJECTION = (2, 2, 1)  # stock pynetdicom for a failed identity (acse.py:349-352)
CALLED_AE_TITLE_REJECTION = (1, 1, 7)  # permanent, service user, called AE title unknown (9.3.4)
