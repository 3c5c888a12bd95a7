"""What pynetdicom encodes into the A-ASSOCIATE-RQ besides the identity item, measured."""

from __future__ import annotations

from pynetdicom.pdu_primitives import SCP_SCU_RoleSelectionNegotiation


def role_item_length(role: SCP_SCU_RoleSelectionNegotiation) -> int:
    """The encoded length of an SCP/SCU Role Selection sub-item (54H), header included, as
    pynetdicom writes it (through its PDU item, an internal of ``pynetdicom.pdu_items``)."""
    return len(role.from_primitive().encode())
