"""The DICOM Upper Layer's bytes (PS3.8): PDU and item types, their names, and one walker over
items, shared by the checks of a peer's answer and the redaction of PDU dumps."""
