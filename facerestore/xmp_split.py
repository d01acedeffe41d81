"""An XMP packet too large for a JPEG's one XMP segment, split into StandardXMP and ExtendedXMP.

XMP part 3, 1.1.3.1: the standard packet must fit one APP1 segment; whole top-level properties move out of it,
largest first (an edit history, as Adobe moves photoshop:History and xmpMM:History), into a second, complete XMP
document, the ExtendedXMP, whose GUID (the MD5 of its bytes, 32 upper-case hex digits) the standard packet names
in xmpNote:HasExtendedXMP. As in ``xmp_merge``, nothing is re-serialized: the standard packet is the input's
bytes less the moved properties, plus the pointer, and each moved property is copied byte for byte, given the
namespace declarations it inherited. Where no such split is well defined, ValueError says why.
"""

from __future__ import annotations

import hashlib
import re
import struct
import xml.parsers.expat
from dataclasses import dataclass, field

from facerestore.jpeg_segments import MAX_PAYLOAD
from facerestore.xmp import EXTENSION_HEADER, JPEG_MAX
from facerestore.xmp_merge import POINTER_TEXT, attribute, element_end

_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_NOTE = "http://ns.adobe.com/xmp/note/"
_RDF_ROOT, _DESCRIPTION, _ABOUT = f"{_RDF} RDF", f"{_RDF} Description", f"{_RDF} about"
# The extension's own elements and the namespaces they declare: a moved property need not declare these again.
_WRAPPER = {"x": "adobe:ns:meta/", "rdf": _RDF}
# Each extension segment: header, GUID, full length, offset, then as much of the packet as a segment holds.
_PORTION = MAX_PAYLOAD - len(EXTENSION_HEADER) - 32 - 8
_WHITESPACE = b" \t\r\n"
_TAG_NAME = re.compile(rb"<[^\s/>]+")  # a start tag's name


def split(packet: bytes) -> tuple[bytes, tuple[bytes, ...]]:
    """(StandardXMP, the APP1 payloads of its ExtendedXMP) for ``packet``, the standard part at most ``JPEG_MAX``
    bytes. Raises ValueError with the reason where it cannot be split so."""
    # A pointer the packet already holds names an extension that is not there: a new one replaces it.
    data = POINTER_TEXT.sub(b"", packet)
    if len(data) <= JPEG_MAX:
        return data, ()
    outline = _outline(data)
    if not outline.descriptions:
        raise ValueError("it holds no rdf:Description")
    abouts = {d.about for d in outline.descriptions if d.about is not None}
    if len(abouts) > 1:
        raise ValueError("it describes more than one resource (rdf:about)")
    first = outline.descriptions[0]
    # Declared on the description it is added to unless the prefix means xmpNote there already. Where it means
    # another namespace, declaring it would move the description's properties of that prefix into xmpNote's.
    bound = first.in_scope.get("xmpNote")
    if bound not in (None, _NOTE):
        raise ValueError("the prefix xmpNote stands for another namespace on its rdf:Description")
    pointer = (b"" if bound == _NOTE else b' xmlns:xmpNote="' + _NOTE.encode() + b'"') + b' xmpNote:HasExtendedXMP="'
    size = len(data) + len(pointer) + 32 + 1
    moved: list[_Property] = []
    for prop in sorted(outline.properties, key=lambda p: p.end - p.cut, reverse=True):
        if size <= JPEG_MAX:
            break
        moved.append(prop)
        size -= prop.end - prop.cut
    if size > JPEG_MAX:
        # What is left is the wrapper and the properties written as attributes, which stay where they are.
        raise ValueError(f"{size:,} bytes are left in the main packet with every property element moved out")
    moved.sort(key=lambda p: p.cut)
    extended = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="' + _RDF.encode() + b'">'
                b'<rdf:Description rdf:about="' + attribute(next(iter(abouts), "")) + b'">'
                + b"".join(_self_contained(data, prop) for prop in moved)
                + b"</rdf:Description></rdf:RDF></x:xmpmeta>")
    guid = hashlib.md5(extended, usedforsecurity=False).hexdigest().upper().encode()
    pieces, pos = [data[:first.name_end], pointer + guid + b'"'], first.name_end
    for prop in moved:
        pieces.append(data[pos:prop.cut])
        pos = prop.end
    standard = b"".join(pieces) + data[pos:]
    payloads = tuple(EXTENSION_HEADER + guid + struct.pack(">II", len(extended), offset)
                     + extended[offset:offset + _PORTION] for offset in range(0, len(extended), _PORTION))
    return standard, payloads


@dataclass
class _Property:
    cut: int                            # where it starts, with the whitespace before it (byte offsets)
    start: int
    end: int = 0                        # just past its end tag
    inherited: dict[str | None, str] = field(default_factory=dict)  # namespaces declared by its ancestors


@dataclass
class _Description:
    name_end: int                       # just past the start tag's name, where an attribute can be added
    about: str | None
    in_scope: dict[str | None, str]     # the namespaces its start tag declares or inherits


@dataclass
class _Outline:
    descriptions: list[_Description]    # the top-level rdf:Description elements
    properties: list[_Property]         # their child elements: the top-level properties that can move


def _outline(data: bytes) -> _Outline:
    """Where ``data``'s top-level descriptions and properties lie; ValueError where it cannot be read."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("it is not UTF-8") from None
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    stack: list[tuple[str, dict[str | None, str]]] = []  # open elements: name, the namespaces they declare
    declared: dict[str | None, str] = {}
    descriptions: list[_Description] = []
    properties: list[_Property] = []
    has_rdf: list[bool] = []

    def doctype(*_: object) -> None:
        raise ValueError("it has a DOCTYPE, which XMP forbids")

    def namespace(prefix: str | None, uri: str | None) -> None:
        declared[prefix] = uri or ""  # xmlns="" (no default namespace) comes as None

    def start(name: str, attributes: dict[str, str]) -> None:
        names = [entry[0] for entry in stack]
        here = parser.CurrentByteIndex
        if name == _RDF_ROOT and _RDF_ROOT in names:  # its descriptions would lie inside a property that may move
            raise ValueError("it nests an rdf:RDF in another")
        if names[-1:] == [_RDF_ROOT] and name == _DESCRIPTION:
            name_end = _TAG_NAME.match(data, here).end()  # type: ignore[union-attr]
            in_scope = {prefix: uri for _, own in stack for prefix, uri in own.items()} | declared
            descriptions.append(_Description(name_end, attributes.get(_ABOUT), in_scope))
        elif names[-2:] == [_RDF_ROOT, _DESCRIPTION]:
            inherited = {prefix: uri for _, own in stack for prefix, uri in own.items()}
            for prefix in declared:
                inherited.pop(prefix, None)
            for prefix, uri in _WRAPPER.items():
                if inherited.get(prefix) == uri:
                    del inherited[prefix]
            cut = here
            while cut > 0 and data[cut - 1] in _WHITESPACE:
                cut -= 1
            properties.append(_Property(cut, here, inherited=inherited))
        if name == _RDF_ROOT:
            has_rdf.append(True)
        stack.append((name, dict(declared)))
        declared.clear()

    def end(name: str) -> None:
        stack.pop()
        if [entry[0] for entry in stack[-2:]] == [_RDF_ROOT, _DESCRIPTION]:
            properties[-1].end = element_end(data, properties[-1].start, parser.CurrentByteIndex)

    parser.StartDoctypeDeclHandler = doctype
    parser.StartNamespaceDeclHandler = namespace
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(data.rstrip(b"\0"), True)  # some writers pad a packet with NULs
    except xml.parsers.expat.ExpatError as exc:
        raise ValueError(f"it is not well-formed XML ({xml.parsers.expat.ErrorString(exc.code)})") from None
    if not has_rdf:
        raise ValueError("it has no rdf:RDF element")
    return _Outline(descriptions, properties)


def _self_contained(data: bytes, prop: _Property) -> bytes:
    """A property's bytes with the namespaces it inherited declared on it, to stand in another document."""
    element = data[prop.start:prop.end]
    name_end = _TAG_NAME.match(element).end()  # type: ignore[union-attr]
    declarations = b"".join(
        b" xmlns" + (b":" + prefix.encode() if prefix else b"") + b'="' + attribute(uri) + b'"'
        for prefix, uri in prop.inherited.items())
    return element[:name_end] + declarations + element[name_end:]
