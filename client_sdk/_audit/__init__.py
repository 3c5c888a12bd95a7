"""The audit trail: one PS3.15 "User Authentication" (Login) event per association attempt.

    client = Client(peer, identity=..., audit=XmlFileAuditSink("/var/log/dicom-identity/audit.xml"))

The default sink is a ``logging`` record on ``dicom_identity.audit``; ``audit=None`` records
nothing. See docs/audit.md for the fields and the EventOutcomeIndicator mapping.
"""
