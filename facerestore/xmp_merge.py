"""A JPEG's extended XMP merged into its main packet, for outputs whose XMP is one packet (PNG, WebP, TIFF).

Extended XMP (XMP part 3, 1.1.3.1) is a second, complete XMP document that a JPEG splits off because its main
packet must fit one 64 KiB segment; writers move whole top-level properties into it, and the main packet names it
by GUID (xmpNote:HasExtendedXMP). Reading such a JPEG, Adobe's XMP toolkit merges the two and drops the pointer;
so does this, on the serialized bytes: the extension's rdf:Description elements are copied, byte for byte, into
the main packet's rdf:RDF (several descriptions of one resource are one description in RDF), each given the
namespace declarations, and the xml:lang, it had from its ancestors. The main packet is not re-serialized: every
byte of it but the pointer stays as it was. Where the merge is not well defined (damaged XML, missing parts, a
nested rdf:RDF, a property in both packets, another rdf:about), ValueError says why, and the caller drops the
extension with a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from facerestore import xmp
from facerestore.xmp_rdf import ABOUT, DESCRIPTION, RDF, RDF_ROOT, XML_LANG, Namespaces, Reader, declaring, \
    element_end, empty_element

_NOT_PROPERTIES = frozenset({ABOUT, f"{RDF} ID", f"{RDF} nodeID", XML_LANG})
_POINTER = "http://ns.adobe.com/xmp/note/ HasExtendedXMP"


def merged(packet: bytes, payloads: tuple[bytes, ...]) -> bytes:
    """The main XMP ``packet`` with the extended XMP that ``payloads`` (its APP1 segments) hold merged in.

    Raises ValueError with the reason where they cannot be merged.
    """
    main = _Outline(packet, "the main XMP packet")
    extension = xmp.extension_packet(payloads)
    ext = _Outline(extension, "it")
    if not ext.descriptions or ext.others:
        raise ValueError("it holds no rdf:Description" if not ext.descriptions else
                         "it holds other nodes than rdf:Description")
    abouts = {d.about for d in (*main.descriptions, *ext.descriptions) if d.about is not None}
    if len(abouts) > 1:
        raise ValueError("it describes another resource (rdf:about) than the main packet")
    main_properties = set().union(*(d.properties for d in main.descriptions)) - {_POINTER}
    if main_properties & set().union(*(d.properties for d in ext.descriptions)):
        raise ValueError("it repeats properties of the main packet")
    copied = b"".join(declaring(extension[d.start:d.end], d.inherited, _language(d, main.rdf_language))
                      for d in ext.descriptions)
    # The pointer goes: the packet is whole now, and an extension it named would not be there to find.
    head = xmp.POINTER.sub(b"", packet[:main.rdf_end], count=1)
    return head + copied + packet[main.rdf_end:]


def _language(description: _Description, there: str | None) -> str | None:
    """The xml:lang to set on ``description`` copied where ``there`` is in scope: the one it inherited where that
    differs ("" where it inherited none), so its properties keep their language; None where nothing need be set."""
    if description.sets_language or description.language == there:
        return None
    return description.language or ""


@dataclass
class _Description:
    start: int                          # byte offsets of the element, its tags included
    end: int = 0
    about: str | None = None
    inherited: Namespaces = field(default_factory=dict)  # namespaces declared by its ancestors
    properties: set[str] = field(default_factory=set)    # "namespace local-name"
    language: str | None = None         # the xml:lang its ancestors set (None: none)
    sets_language: bool = False         # whether it sets its own


class _Outline(Reader):
    """Where a packet's top-level descriptions lie and what they hold; ValueError naming ``what`` if unreadable."""

    def __init__(self, data: bytes, what: str) -> None:
        super().__init__(data, what)
        self.descriptions: list[_Description] = []  # the top-level rdf:Description elements
        self.others = 0                     # top-level elements of other kinds (typed nodes), which are not copied
        self._rdf_start: int | None = None
        self._rdf_end: int | None = None
        self.rdf_language: str | None = None  # the xml:lang in scope inside that rdf:RDF, where descriptions go
        self.read()
        if self._rdf_end is None:
            raise ValueError(f"{what} has no rdf:RDF element")
        self.rdf_end: int = self._rdf_end   # where the rdf:RDF end tag starts

    def start(self, name: str, attributes: dict[str, str], offset: int, declared: Namespaces) -> None:
        parent = self.open[-1] if self.open else None
        if parent == RDF_ROOT and name == DESCRIPTION:
            inherited = {prefix: uri for prefix, uri in self.inherited().items() if prefix not in declared}
            self.descriptions.append(_Description(offset, about=attributes.get(ABOUT), inherited=inherited,
                                                  properties=set(attributes) - _NOT_PROPERTIES,
                                                  language=self.language(), sets_language=XML_LANG in attributes))
        elif parent == RDF_ROOT:
            self.others += 1
        elif self.open[-2:] == [RDF_ROOT, DESCRIPTION]:
            self.descriptions[-1].properties.add(name)
        elif name == RDF_ROOT and self._rdf_start is None:
            self._rdf_start = offset
            self.rdf_language = attributes.get(XML_LANG, self.language()) or None

    def end(self, name: str, offset: int) -> None:
        parent = self.open[-1] if self.open else None
        if name == DESCRIPTION and parent == RDF_ROOT:
            self.descriptions[-1].end = element_end(self.data, self.descriptions[-1].start, offset)
        elif name == RDF_ROOT and self._rdf_end is None and self._rdf_start is not None \
                and not empty_element(self.data, self._rdf_start):  # <rdf:RDF/>: nowhere to insert
            self._rdf_end = offset
