"""DICOMweb (QIDO-RS, WADO-RS, STOW-RS) with the same identities, policy and TLS settings as
DIMSE: the ``requests`` session (:mod:`.session`) and how its failures become SDK errors
(:mod:`.failures`)."""
