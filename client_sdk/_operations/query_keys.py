"""Query keys as DCMTK's ``findscu -k`` takes them, parsed into a checked query identifier.

A key is ``PATH=VALUE``, or ``PATH`` alone (an empty value: universal matching, which asks for the
attribute). ``PATH`` names an attribute as DCMTK does (findscu(1), path syntax of dcmodify(1)): a
dictionary keyword (``PatientID``), a tag ``GGGG,EEEE`` or ``(GGGG,EEEE)``, or a path into a
sequence's item, ``ReferencedStudySequence[0].ReferencedSOPClassUID``, nested as deep as needed.
A path that ends at a sequence (``ReferencedStudySequence``) asks for it; one that ends at its item
(``ReferencedStudySequence[0]``) asks for it with one empty item.

Stricter than DCMTK wherever DCMTK sends something other than what was meant: keywords are
case-sensitive and only those of the DICOM dictionary (DCMTK turns ``PatientId`` into a private
tag), a tag has four hex digits on each side, a sequence key has exactly one item (index 0, PS3.4
C.2.2.2.6), a key given twice must carry one value, and every value is checked against the VR of
its attribute for the matching PS3.4 C.2.2.2 defines: wildcards only for text VRs, ranges only
for DA, TM and DT, lists of UIDs. Each refusal is a :class:`QueryKeyError` (a ``ConfigError``, exit
3 on the command line) naming the key as given and, for an unknown name, the closest keyword.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from pydicom import config
from pydicom.datadict import (
    dictionary_has_tag,
    dictionary_VR,
    keyword_dict,
    keyword_for_tag,
    private_dictionary_VR,
    repeater_has_tag,
)
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag, Tag

from client_sdk._errors import ConfigError
from client_sdk._operations.query_values import check_value


class QueryKeyError(ConfigError):
    """A query key that cannot be sent as given (unknown name, bad path, value unfit for its VR)."""


_TAG = re.compile(r"\(([0-9A-Fa-f]{4}),([0-9A-Fa-f]{4})\)|([0-9A-Fa-f]{4}),([0-9A-Fa-f]{4})")
# What DCMTK would also read as a tag (it takes up to 4 hex digits a side, with or without
# parentheses): used only to suggest the well-formed spelling.
_LOOSE_TAG = re.compile(r"\(?\s*([0-9A-Fa-f]{1,4})\s*,\s*([0-9A-Fa-f]{1,4})\s*\)?")
_KEYWORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_NODE = re.compile(r"(?P<element>[^\[\]]*)(?:\[(?P<index>[^\[\]]*)\])?")
_UTF8 = "ISO_IR 192"
_QUERY_RETRIEVE_LEVEL = Tag(0x0008, 0x0052)
_SPECIFIC_CHARACTER_SET = Tag(0x0008, 0x0005)
_SHOWN = 120  # characters of a key quoted in a message


@dataclass(frozen=True)
class _Node:
    """One step of a path: an attribute, and whether the path goes on into its item ``[0]``."""

    tag: BaseTag
    text: str  # as written
    item: bool


@dataclass(frozen=True)
class _Key:
    given: str
    nodes: tuple[_Node, ...]
    value: str


def tag_name(tag: BaseTag) -> str:
    """``(0010,0020) PatientID``: the tag and, when the dictionary has one, its keyword."""
    keyword = keyword_for_tag(tag)
    return f"({tag.group:04X},{tag.element:04X})" + (f" {keyword}" if keyword else "")


@functools.cache
def _keywords_by_lower_case() -> dict[str, str]:
    return {keyword.lower(): keyword for keyword in keyword_dict}


def closest_keyword(word: str) -> str | None:
    """The dictionary keyword ``word`` most likely meant: the same but for case, else the closest
    spelling (difflib), else None."""
    same = _keywords_by_lower_case().get(word.lower())
    if same is not None:
        return same
    close = difflib.get_close_matches(word.lower(), list(_keywords_by_lower_case()), n=1)
    return _keywords_by_lower_case()[close[0]] if close else None


def _shown(given: str) -> str:
    return f"-k '{given if len(given) <= _SHOWN else given[:_SHOWN] + '...'}'"


def _refuse(key: str, problem: str) -> QueryKeyError:
    return QueryKeyError(f"{_shown(key)}: {problem}")


# --- the path ----------------------------------------------------------------------------------


def _tag_of(given: str, text: str) -> BaseTag:
    """The tag a path element names: a keyword, ``GGGG,EEEE`` or ``(GGGG,EEEE)``."""
    found = _TAG.fullmatch(text)
    if found:
        group, element = (found.group(1), found.group(2)) if found.group(1) else found.group(3, 4)
        return Tag(int(group, 16), int(element, 16))
    loose = _LOOSE_TAG.fullmatch(text)
    if loose or "," in text or "(" in text or ")" in text:
        hint = "a tag is GGGG,EEEE or (GGGG,EEEE), four hex digits a side, e.g. 0010,0020"
        if loose:
            tag = Tag(int(loose.group(1), 16), int(loose.group(2), 16))
            keyword = keyword_for_tag(tag)
            named = f" ({keyword})" if keyword else ""
            hint += f"; did you mean {tag.group:04X},{tag.element:04X}{named}?"
        raise _refuse(given, f"{text!r} is not a well-formed tag: {hint}")
    if not _KEYWORD.fullmatch(text):
        raise _refuse(
            given,
            f"{text!r} is neither a keyword nor a tag; a key is KEYWORD=VALUE, GGGG,EEEE=VALUE "
            "or a sequence path such as ReferencedStudySequence[0].ReferencedSOPClassUID=VALUE",
        )
    number = keyword_dict.get(text)
    if number is not None:
        return Tag(number)
    guess = closest_keyword(text)
    if guess is None:
        advice = "no keyword is close; give the tag as GGGG,EEEE (PS3.6 lists them)"
    elif guess.lower() == text.lower():
        advice = f"did you mean {guess}? Keywords are case-sensitive ({_tag_text(guess)})"
    else:
        advice = f"did you mean {guess} ({_tag_text(guess)})?"
    raise _refuse(given, f"unknown keyword {text!r} in the DICOM dictionary; {advice}")


def _tag_text(keyword: str) -> str:
    tag = Tag(keyword_dict[keyword])
    return f"{tag.group:04X},{tag.element:04X}"


def _index(given: str, text: str, index: str) -> None:
    """Check a sequence item number: a query key's sequence has one item, number 0."""
    if index == "0":
        return
    if index == "*":
        raise _refuse(
            given,
            f"{text}[*]: an item wildcard selects items of an existing dataset; a query key "
            f"builds one, with a single item: write {text}[0]",
        )
    what = "one item (PS3.4 C.2.2.2.6)" if index.isdigit() else "an item number in brackets"
    raise _refuse(
        given, f"{text}[{index}]: a sequence in a query key holds {what}: write {text}[0]"
    )


def _parse(given: str) -> _Key:
    path, _, value = given.partition("=")
    path = path.strip()
    if not path:
        raise _refuse(given, "no attribute before '='; a key is KEYWORD=VALUE (or KEYWORD alone)")
    segments = path.split(".")
    nodes: list[_Node] = []
    for text in segments:
        found = _NODE.fullmatch(text)
        if found is None or not found.group("element"):
            raise _refuse(
                given,
                f"{text!r} is not a path element; a sequence path is written "
                "SEQUENCE[0].KEYWORD, e.g. ReferencedStudySequence[0].ReferencedSOPClassUID",
            )
        element = found.group("element").strip()
        index = found.group("index")
        if index is not None:
            _index(given, element, index.strip())
        nodes.append(_Node(_tag_of(given, element), element, index is not None))
    for position, node in enumerate(nodes[:-1]):
        if not node.item:
            rest = ".".join(segments[position + 1 :])
            raise _refuse(
                given,
                f"{node.text} is followed by another element without an item number: write "
                f"{node.text}[0].{rest}",
            )
    return _Key(given, tuple(nodes), value)


# --- the identifier -----------------------------------------------------------------------------


def _vr(key: _Key, node: _Node, container: Dataset) -> str:
    """The VR of ``node``'s attribute from pydicom's dictionaries, or refused."""
    tag = node.tag
    if tag.group in (0x0000, 0x0002) or tag.group == 0xFFFE or tag.element == 0x0000:
        raise _refuse(
            key.given,
            f"{tag_name(tag)} is a command, file meta, item or group length element, not a "
            "query key",
        )
    if tag.is_private:
        if tag.is_private_creator:
            return "LO"
        creator = container.get(Tag(tag.group, tag.element >> 8))
        block = f"{tag.group:04X},00{tag.element >> 8:02X}"
        if creator is None or not creator.value:
            raise _refuse(
                key.given,
                f"private tag {tag_name(tag)} has no VR in the DICOM dictionary: give its "
                f"private creator too (-k {block}=CREATOR), or build the identifier with the "
                "Python API (Dataset.add_new(tag, VR, value))",
            )
        try:
            return str(private_dictionary_VR(tag, str(creator.value)))
        except KeyError:
            raise _refuse(
                key.given,
                f"private tag {tag_name(tag)} of creator {str(creator.value)!r} is not in "
                "pydicom's private dictionary, so its VR is unknown: build the identifier with "
                "the Python API (Dataset.add_new(tag, VR, value))",
            ) from None
    if not (dictionary_has_tag(tag) or repeater_has_tag(tag)):
        raise _refuse(
            key.given,
            f"{tag_name(tag)} is not in the DICOM dictionary (pydicom's); check the tag in PS3.6",
        )
    return str(dictionary_VR(tag))


def _ambiguous(key: _Key, node: _Node, vr: str, value: str) -> str:
    """The VR to send for a dictionary VR such as ``US or SS``: the first, for an empty value."""
    if " or " not in vr:
        return vr
    if value:
        raise _refuse(
            key.given,
            f"{tag_name(node.tag)} has VR {vr}, which depends on other attributes of an "
            "instance: a query can only ask for it (an empty value)",
        )
    return vr.split(" or ")[0]


def _item_of(key: _Key, node: _Node, container: Dataset, vr: str) -> Dataset:
    """The single item of ``node``'s sequence in ``container``, created as needed."""
    if vr != "SQ":
        raise _refuse(
            key.given, f"{node.text}[0]: {tag_name(node.tag)} is not a sequence (VR {vr})"
        )
    if node.tag not in container:
        container.add(DataElement(node.tag, "SQ", []))
    element = container[node.tag]
    if not element.value:
        element.value.append(Dataset())
    item: Dataset = element.value[0]
    return item


class _Builder:
    """Places keys into one identifier, remembering what each came from to catch conflicts."""

    def __init__(self) -> None:
        self.root = Dataset()
        self._given: dict[tuple[BaseTag, ...], tuple[str, str]] = {}
        self.non_ascii = False

    def place(self, key: _Key) -> None:
        container = self.root
        for node in key.nodes[:-1]:
            container = _item_of(key, node, container, _vr(key, node, container))
        leaf = key.nodes[-1]
        vr = _ambiguous(key, leaf, _vr(key, leaf, container), key.value)
        if leaf.item or vr == "SQ":
            if key.value:
                raise _refuse(
                    key.given,
                    f"{tag_name(leaf.tag)} is a sequence: it takes no value. Ask for it empty "
                    f"({leaf.text}=) or match on an attribute of its item "
                    f"({leaf.text}[0].KEYWORD=VALUE)",
                )
            if leaf.item:
                _item_of(key, leaf, container, vr)
            elif leaf.tag not in container:
                container.add(DataElement(leaf.tag, "SQ", []))
            return
        self._once(key)
        try:
            value = check_value(leaf.text, vr, key.value)
        except ValueError as exc:
            raise _refuse(key.given, str(exc)) from None
        self.non_ascii = self.non_ascii or not key.value.isascii()
        # Checked above for a query (ranges, wildcards), which pydicom's own check would flag.
        container.add(DataElement(leaf.tag, vr, value, validation_mode=config.IGNORE))

    def _once(self, key: _Key) -> None:
        path = tuple(node.tag for node in key.nodes)
        before = self._given.setdefault(path, (key.given, key.value))
        if before[1] != key.value:
            raise _refuse(
                key.given,
                f"{tag_name(key.nodes[-1].tag)} was already given another value "
                f"({_shown(before[0])}); give each key once",
            )


def _private_data_elements(key: _Key) -> int:
    return sum(1 for n in key.nodes if n.tag.is_private and not n.tag.is_private_creator)


def parse_query_keys(keys: Iterable[str], *, level: str | None = None) -> Dataset:
    """The identifier ``keys`` (DCMTK ``-k`` strings) describe; raises :class:`QueryKeyError`.

    ``level``, when given, is the query level the identifier is for: a ``QueryRetrieveLevel``
    key must then agree with it (the session sets QueryRetrieveLevel from the level). A value
    that is not ASCII makes the Specific Character Set UTF-8 (``ISO_IR 192``) unless a
    ``SpecificCharacterSet`` key names one.
    """
    parsed = [_parse(given) for given in keys]
    builder = _Builder()
    # Private creators first, so a private data element finds its block's creator (and VR).
    for key in sorted(parsed, key=_private_data_elements):
        builder.place(key)
    identifier = builder.root
    given_level = str(identifier.get("QueryRetrieveLevel") or "").strip()
    if level is not None and given_level and given_level != level.upper():
        shown = next(k for k in parsed if k.nodes[0].tag == _QUERY_RETRIEVE_LEVEL)
        raise _refuse(
            shown.given,
            f"the query level is {level.upper()} (--level); give the level with --level only, "
            "or make the two agree",
        )
    if builder.non_ascii and _SPECIFIC_CHARACTER_SET not in identifier:
        identifier.SpecificCharacterSet = _UTF8
    return identifier
