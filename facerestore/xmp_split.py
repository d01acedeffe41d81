"""An XMP packet too large for a JPEG's one XMP segment, split into StandardXMP and ExtendedXMP.

XMP part 3, 1.1.3.1: the standard packet must fit one APP1 segment; whole top-level properties move out of it,
largest first (an edit history, as Adobe moves photoshop:History and xmpMM:History), into a second, complete XMP
document, the ExtendedXMP, whose GUID (the MD5 of its bytes, 32 upper-case hex digits) the standard packet names
in xmpNote:HasExtendedXMP. As in ``xmp_merge``, nothing is re-serialized: the standard packet is the input's
bytes less the moved properties, plus the pointer, and each moved property is copied byte for byte, given the
namespace declarations and the xml:lang it inherited. A description left with nothing to say goes too: a TIFF made
from such a JPEG holds the extension's description beside the main packet's (``xmp_merge``), and a JPEG made from
that TIFF would otherwise keep it, empty, one more each time. Where no such split is well defined, ValueError says
why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from facerestore import xmp
from facerestore.xmp_rdf import ABOUT, DESCRIPTION, RDF, RDF_ROOT, TAG_NAME, XML_LANG, Namespaces, Reader, \
    declaring, element_end, escaped, tag_end

_NOTE = "http://ns.adobe.com/xmp/note/"
# The extension's own elements and the namespaces they declare: a moved property need not declare these again.
_WRAPPER = {"x": "adobe:ns:meta/", "rdf": RDF}
_WHITESPACE = b" \t\r\n"
# A description's attributes that say nothing of the resource once its properties are gone (expat does not report
# namespace declarations as attributes). rdf:ID and rdf:nodeID are not among them: something may refer to those.
_NOT_PROPERTIES = frozenset({ABOUT, XML_LANG})


def split(packet: bytes) -> tuple[bytes, tuple[bytes, ...]]:
    """(StandardXMP, the APP1 payloads of its ExtendedXMP) for ``packet``, the standard part at most
    ``xmp.JPEG_MAX`` bytes. Raises ValueError with the reason where it cannot be split so."""
    # A pointer the packet already holds names an extension that is not there: a new one replaces it.
    data = xmp.POINTER.sub(b"", packet)
    if len(data) <= xmp.JPEG_MAX:
        return data, ()
    outline = _Outline(data)
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
        if size <= xmp.JPEG_MAX:
            break
        moved.append(prop)
        size -= prop.end - prop.cut
    if size > xmp.JPEG_MAX:
        # What is left is the wrapper and the properties written as attributes, which stay where they are.
        raise ValueError(f"{size:,} bytes are left in the main packet with every property element moved out")
    moved.sort(key=lambda p: p.cut)
    # The extension's description sets no xml:lang: a moved property that inherited one has it set on itself.
    extended = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="' + RDF.encode() + b'">'
                b'<rdf:Description rdf:about="' + escaped(next(iter(abouts), "")) + b'">'
                + b"".join(declaring(data[prop.start:prop.end], prop.inherited, prop.language) for prop in moved)
                + b"</rdf:Description></rdf:RDF></x:xmpmeta>")
    pieces, pos = [data[:first.name_end], pointer + xmp.guid_of(extended) + b'"'], first.name_end
    for cut, end in _cuts(data, outline, moved):
        pieces.append(data[pos:cut])
        pos = end
    return b"".join(pieces) + data[pos:], xmp.extension_payloads(extended)


def _cuts(data: bytes, outline: _Outline, moved: list[_Property]) -> list[tuple[int, int]]:
    """The spans to cut out of ``data``, in order, for the ``moved`` properties (in order): each property's, or the
    whole description's where that leaves it nothing to say (not the first description: it takes the pointer)."""
    by_description: dict[int, list[_Property]] = {}
    for prop in moved:
        by_description.setdefault(prop.description, []).append(prop)
    emptied = {index for index, props in by_description.items() if index and outline.descriptions[index].bare
               and _left_empty(data, outline.descriptions[index], props)}
    spans: list[tuple[int, int]] = []
    for prop in moved:  # a description's properties are next to each other
        description = outline.descriptions[prop.description]
        span = (description.cut, description.end) if prop.description in emptied else (prop.cut, prop.end)
        if not spans or spans[-1] != span:
            spans.append(span)
    return spans


def _left_empty(data: bytes, description: _Description, moved: list[_Property]) -> bool:
    """Whether ``description`` holds nothing but whitespace with its ``moved`` properties gone. What else it may
    hold (text, a comment: not RDF, but bytes of the packet) keeps it."""
    if len(moved) != description.properties:
        return False
    pos = description.content
    for prop in moved:
        if data[pos:prop.cut].strip(_WHITESPACE):
            return False
        pos = prop.end
    return not data[pos:description.content_end].strip(_WHITESPACE)


@dataclass
class _Property:
    cut: int                            # where it starts, with the whitespace before it (byte offsets)
    start: int
    description: int                    # the index of its description
    end: int = 0                        # just past its end tag
    inherited: Namespaces = field(default_factory=dict)  # namespaces declared by its ancestors
    language: str | None = None         # the xml:lang it inherited (None: none, or it sets its own)


@dataclass
class _Description:
    name_end: int                       # just past the start tag's name, where an attribute can be added
    about: str | None
    in_scope: Namespaces                # the namespaces its start tag declares or inherits
    cut: int                            # where it starts, with the whitespace before it
    bare: bool                          # whether it has no attribute but rdf:about and xml:lang
    content: int                        # just past its start tag
    content_end: int = 0                # where its end tag starts
    end: int = 0                        # just past its end tag
    properties: int = 0                 # how many property elements it holds


class _Outline(Reader):
    """Where a packet's top-level descriptions and properties lie; ValueError where it cannot be read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data, "it")
        self.descriptions: list[_Description] = []  # the top-level rdf:Description elements
        self.properties: list[_Property] = []       # their child elements: the top-level properties that can move
        self._has_rdf = False
        self.read()
        if not self._has_rdf:
            raise ValueError("it has no rdf:RDF element")

    def _cut(self, offset: int) -> int:
        while offset > 0 and self.data[offset - 1] in _WHITESPACE:
            offset -= 1
        return offset

    def start(self, name: str, attributes: dict[str, str], offset: int, declared: Namespaces) -> None:
        if self.open[-1:] == [RDF_ROOT] and name == DESCRIPTION:
            name_end = TAG_NAME.match(self.data, offset).end()  # type: ignore[union-attr]
            self.descriptions.append(_Description(name_end, attributes.get(ABOUT), self.inherited() | declared,
                                                  self._cut(offset), set(attributes) <= _NOT_PROPERTIES,
                                                  tag_end(self.data, offset)))
        elif self.open[-2:] == [RDF_ROOT, DESCRIPTION]:
            inherited = {prefix: uri for prefix, uri in self.inherited().items()
                         if prefix not in declared and _WRAPPER.get(prefix) != uri}
            language = None if XML_LANG in attributes else self.language()
            self.properties.append(_Property(self._cut(offset), offset, len(self.descriptions) - 1,
                                             inherited=inherited, language=language))
            self.descriptions[-1].properties += 1
        if name == RDF_ROOT:
            self._has_rdf = True

    def end(self, name: str, offset: int) -> None:
        if self.open[-2:] == [RDF_ROOT, DESCRIPTION]:
            self.properties[-1].end = element_end(self.data, self.properties[-1].start, offset)
        elif self.open[-1:] == [RDF_ROOT] and name == DESCRIPTION:
            description = self.descriptions[-1]
            description.content_end = offset
            description.end = element_end(self.data, description.name_end, offset)  # from inside its start tag
