"""``client.associate(services=...)``: the DIMSE services a caller means to use, as the SOP classes
to propose (issue 16).

A default association proposes 123 presentation contexts, and the peer and pynetdicom negotiate
every one; a caller who knows it will echo and store CT images needs two. Names:

- ``"echo"``: Verification;
- ``"find"``: Study Root C-FIND;
- ``"move"``: Study Root C-MOVE, with C-FIND (some archives refuse C-MOVE without it);
- ``"get"``: Study Root C-GET, with the SCP role for the storage classes (``retrieve=True``);
- ``"store"``: every storage class of the default list;
- ``"store:CT"`` (a modality of :data:`MODALITIES`), ``"store:CTImageStorage"`` (a SOP class
  keyword) or ``"store:1.2.840.10008.5.1.4.1.1.2"`` (a SOP Class UID): those classes only.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydicom.uid import RE_VALID_UID
from pynetdicom import StoragePresentationContexts, sop_class

from client_sdk._sop import STUDY_ROOT_FIND, STUDY_ROOT_GET, STUDY_ROOT_MOVE, VERIFICATION

# Modality -> the storage SOP classes (keywords) it usually sends.
MODALITIES: dict[str, tuple[str, ...]] = {
    "CT": ("CTImageStorage", "EnhancedCTImageStorage"),
    "MR": ("MRImageStorage", "EnhancedMRImageStorage"),
    "CR": ("ComputedRadiographyImageStorage",),
    "DX": ("DigitalXRayImageStorageForPresentation", "DigitalXRayImageStorageForProcessing"),
    "MG": (
        "DigitalMammographyXRayImageStorageForPresentation",
        "DigitalMammographyXRayImageStorageForProcessing",
    ),
    "US": ("UltrasoundImageStorage", "UltrasoundMultiFrameImageStorage"),
    "NM": ("NuclearMedicineImageStorage",),
    "PT": ("PositronEmissionTomographyImageStorage", "EnhancedPETImageStorage"),
    "XA": ("XRayAngiographicImageStorage",),
    "SC": ("SecondaryCaptureImageStorage",),
    "SR": ("BasicTextSRStorage", "EnhancedSRStorage", "ComprehensiveSRStorage"),
    "SEG": ("SegmentationStorage",),
    "KO": ("KeyObjectSelectionDocumentStorage",),
    "PR": ("GrayscaleSoftcopyPresentationStateStorage",),
    "RTSTRUCT": ("RTStructureSetStorage",),
    "RTPLAN": ("RTPlanStorage",),
    "RTDOSE": ("RTDoseStorage",),
    "RTIMAGE": ("RTImageStorage",),
    "DOC": ("EncapsulatedPDFStorage",),
}
_FIXED: dict[str, tuple[str, ...]] = {
    "echo": (VERIFICATION,),
    "find": (STUDY_ROOT_FIND,),
    "move": (STUDY_ROOT_FIND, STUDY_ROOT_MOVE),
    "get": (STUDY_ROOT_GET,),
}


def service_sop_classes(services: str | Iterable[str]) -> tuple[list[str], bool]:
    """The SOP classes ``services`` name, in order without repeats, and whether C-GET is among
    them (the association then takes the instances back: ``retrieve``). ``ValueError`` names an
    unknown service."""
    names = [services] if isinstance(services, str) else list(services)
    uids: list[str] = []
    for name in names:
        uids += _sop_classes(name)
    if not uids:
        raise ValueError("services names no service: give at least one (e.g. services={'echo'})")
    return list(dict.fromkeys(uids)), STUDY_ROOT_GET in uids


def _sop_classes(name: object) -> list[str]:
    if not isinstance(name, str):
        raise TypeError(f"a service is a string such as 'echo' or 'store:CT', not {name!r}")
    service, _, what = name.strip().partition(":")
    service = service.lower()
    if service in _FIXED and not what:
        return list(_FIXED[service])
    if service == "store" and not what:
        return [str(cx.abstract_syntax) for cx in StoragePresentationContexts]
    if service == "store":
        return _storage_classes(what.strip(), name)
    raise ValueError(
        f"unknown service {name!r}: use echo, find, move, get, store, or store:X with X a "
        f"modality ({', '.join(MODALITIES)}), a storage SOP class keyword or its UID"
    )


def _storage_classes(what: str, name: str) -> list[str]:
    keywords = MODALITIES.get(what.upper())
    if keywords is not None:
        return [str(getattr(sop_class, keyword)) for keyword in keywords]
    named = getattr(sop_class, what, None)
    if isinstance(named, sop_class.SOPClass):
        return [str(named)]
    if RE_VALID_UID.match(what):
        return [what]
    raise ValueError(
        f"unknown service {name!r}: after store: give a modality ({', '.join(MODALITIES)}), a "
        "SOP class keyword (store:CTImageStorage) or a SOP Class UID"
    )
