"""A JPEG's extended XMP merged into its main packet, for outputs whose XMP is one packet (PNG, WebP, TIFF).

Extended XMP (XMP part 3, 1.1.3.1) is a second, complete XMP document that a JPEG splits off because its main
packet must fit one 64 KiB segment; writers move whole top-level properties into it, and the main packet names it
by GUID (xmpNote:HasExtendedXMP). Reading such a JPEG, Adobe's XMP toolkit merges the two and drops the pointer;
so does this, on the serialized bytes: the extension's rdf:Description elements are copied, byte for byte, into
the main packet's rdf:RDF (several descriptions of one resource are one description in RDF), each given the
namespace declarations it had from its ancestors. The main packet is not re-serialized: every byte of it but the
pointer stays as it was. Where the merge is not well defined (damaged XML, missing parts, a nested rdf:RDF, a
property in both packets, another rdf:about), ValueError says why, and the caller drops the extension with a note.
"""

from __future__ import annotations

import re
import struct
import xml.parsers.expat
from dataclasses import dataclass, field

from facerestore.xmp import EXTENSION_HEADER

_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_RDF_ROOT, _DESCRIPTION, _ABOUT = f"{_RDF} RDF", f"{_RDF} Description", f"{_RDF} about"
_NOT_PROPERTIES = frozenset({_ABOUT, f"{_RDF} ID", f"{_RDF} nodeID", "http://www.w3.org/XML/1998/namespace lang"})
_POINTER = "http://ns.adobe.com/xmp/note/ HasExtendedXMP"
# The pointer in the main packet, as an attribute or as an element (xmp.extension_guid reads either).
POINTER_TEXT = re.compile(rb'\s+[\w.-]+:HasExtendedXMP\s*=\s*(["\'])[0-9A-Fa-f]{32}\1'
                          rb'|<([\w.-]+:)HasExtendedXMP>\s*[0-9A-Fa-f]{32}\s*</\2HasExtendedXMP>')


def merged(packet: bytes, payloads: tuple[bytes, ...]) -> bytes:
    """The main XMP ``packet`` with the extended XMP that ``payloads`` (its APP1 segments) hold merged in.

    Raises ValueError with the reason where they cannot be merged.
    """
    main = _outline(packet, "the main XMP packet")
    extension = _joined(payloads)
    ext = _outline(extension, "it")
    if not ext.descriptions or ext.others:
        raise ValueError("it holds no rdf:Description" if not ext.descriptions else
                         "it holds other nodes than rdf:Description")
    abouts = {d.about for d in (*main.descriptions, *ext.descriptions) if d.about is not None}
    if len(abouts) > 1:
        raise ValueError("it describes another resource (rdf:about) than the main packet")
    main_properties = set().union(*(d.properties for d in main.descriptions)) - {_POINTER}
    if main_properties & set().union(*(d.properties for d in ext.descriptions)):
        raise ValueError("it repeats properties of the main packet")
    copied = b"".join(_self_contained(extension, d) for d in ext.descriptions)
    # The pointer goes: the packet is whole now, and an extension it named would not be there to find.
    head = POINTER_TEXT.sub(b"", packet[:main.rdf_end], count=1)
    return head + copied + packet[main.rdf_end:]


def _joined(payloads: tuple[bytes, ...]) -> bytes:
    """The extended packet from its segments' parts (each: GUID, full length, offset, data), whole or ValueError."""
    start = len(EXTENSION_HEADER) + 32
    parts = []
    for payload in payloads:
        if len(payload) < start + 8:
            raise ValueError("a segment of it is cut short")
        parts.append((*struct.unpack(">II", payload[start:start + 8]), payload[start + 8:]))
    full = parts[0][0] if parts else 0
    # The declared length is checked against the data there before anything that size is allocated.
    if any(length != full for length, _, _ in parts) or full > sum(len(data) for _, _, data in parts):
        raise ValueError("its segments do not hold the whole packet")
    whole = bytearray(full)
    end = 0
    for _, offset, data in sorted(parts, key=lambda part: part[1]):
        if offset > end or offset + len(data) > full:
            raise ValueError("its segments do not hold the whole packet")
        whole[offset:offset + len(data)] = data
        end = max(end, offset + len(data))
    if end < full:
        raise ValueError("its segments do not hold the whole packet")
    return bytes(whole)


@dataclass
class _Description:
    start: int                          # byte offsets of the element, its tags included
    end: int = 0
    about: str | None = None
    inherited: dict[str | None, str] = field(default_factory=dict)  # namespaces declared by its ancestors
    properties: set[str] = field(default_factory=set)               # "namespace local-name"


@dataclass
class _Outline:
    descriptions: list[_Description]    # the top-level rdf:Description elements
    others: int                         # top-level elements of other kinds (typed nodes), which are not copied
    rdf_end: int                        # where the rdf:RDF end tag starts


def _outline(data: bytes, what: str) -> _Outline:
    """Where ``data``'s top-level descriptions lie and what they hold; ValueError naming ``what`` if unreadable."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{what} is not UTF-8") from None
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    stack: list[tuple[str, dict[str | None, str]]] = []  # open elements: name, the namespaces they declare
    declared: dict[str | None, str] = {}
    descriptions: list[_Description] = []
    others = 0
    rdf_start: list[int] = []
    rdf_end: list[int] = []

    def doctype(*_: object) -> None:
        raise ValueError(f"{what} has a DOCTYPE, which XMP forbids")  # and no entity can be expanded

    def namespace(prefix: str | None, uri: str | None) -> None:
        declared[prefix] = uri or ""  # xmlns="" (no default namespace) comes as None

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal others
        if name == _RDF_ROOT and any(open_name == _RDF_ROOT for open_name, _ in stack):
            raise ValueError(f"{what} nests an rdf:RDF in another")  # which descriptions are top-level is unclear
        parent = stack[-1][0] if stack else None
        if parent == _RDF_ROOT and name == _DESCRIPTION:
            inherited = {prefix: uri for _, own in stack for prefix, uri in own.items()}
            for prefix in declared:
                inherited.pop(prefix, None)
            descriptions.append(_Description(parser.CurrentByteIndex, about=attributes.get(_ABOUT),
                                             inherited=inherited,
                                             properties=set(attributes) - _NOT_PROPERTIES))
        elif parent == _RDF_ROOT:
            others += 1
        elif parent == _DESCRIPTION and len(stack) >= 2 and stack[-2][0] == _RDF_ROOT:
            descriptions[-1].properties.add(name)
        elif name == _RDF_ROOT and not rdf_start:
            rdf_start.append(parser.CurrentByteIndex)
        stack.append((name, dict(declared)))
        declared.clear()

    def end(name: str) -> None:
        stack.pop()
        parent = stack[-1][0] if stack else None
        if name == _DESCRIPTION and parent == _RDF_ROOT:
            descriptions[-1].end = element_end(data, descriptions[-1].start, parser.CurrentByteIndex)
        elif name == _RDF_ROOT and not rdf_end and not _empty(data, rdf_start[0]):  # <rdf:RDF/>: nowhere to insert
            rdf_end.append(parser.CurrentByteIndex)

    parser.StartDoctypeDeclHandler = doctype
    parser.StartNamespaceDeclHandler = namespace
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(data.rstrip(b"\0"), True)  # some writers pad a packet with NULs
    except xml.parsers.expat.ExpatError as exc:
        raise ValueError(f"{what} is not well-formed XML ({xml.parsers.expat.ErrorString(exc.code)})") from None
    if not rdf_end:
        raise ValueError(f"{what} has no rdf:RDF element")
    return _Outline(descriptions, others, rdf_end[0])


def _tag_end(data: bytes, start: int) -> int:
    """The offset just past the tag that starts at ``start``: its first '>' outside an attribute's quotes."""
    quote = None
    for pos in range(start, len(data)):
        char = data[pos:pos + 1]
        if quote is not None:
            quote = None if char == quote else quote
        elif char in (b'"', b"'"):
            quote = char
        elif char == b">":
            return pos + 1
    return len(data)


def _empty(data: bytes, start: int) -> bool:
    """Whether the start tag at ``start`` is an empty-element tag (``<a/>``)."""
    return data[:_tag_end(data, start)].endswith(b"/>")


def element_end(data: bytes, start: int, end_event: int) -> int:
    """The offset just past an element that starts at ``start``. Expat reports an element's end where its end
    tag starts, or, for an empty-element tag, where the tag ends; the start tag tells which."""
    return _tag_end(data, start) if _empty(data, start) else _tag_end(data, end_event)


def _self_contained(data: bytes, description: _Description) -> bytes:
    """A description's bytes with the namespaces it inherited declared on it, to stand anywhere in another packet."""
    element = data[description.start:description.end]
    name_end = re.match(rb"<[^\s/>]+", element).end()  # type: ignore[union-attr]  # a start tag's name
    declarations = b"".join(
        (b" xmlns" + (b":" + prefix.encode() if prefix else b"") + b'="' + attribute(uri) + b'"')
        for prefix, uri in description.inherited.items())
    return element[:name_end] + declarations + element[name_end:]


def attribute(text: str) -> bytes:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;").encode()
