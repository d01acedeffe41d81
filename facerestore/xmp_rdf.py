"""An XMP packet's RDF/XML read where it lies in the bytes, for ``xmp_merge`` and ``xmp_split``, which move whole
elements from one packet to another without re-serializing either.

:class:`Reader` parses a packet once (expat), telling its subclass each element's offset, the names of the
elements around it and the namespaces in scope, and refuses what no merge or split can place: bytes that are not
UTF-8 or not well-formed, a DOCTYPE (which XMP forbids, and whose entities would change the text), an rdf:RDF
nested in another (which descriptions are top-level is then unclear). :func:`element_end` finds where an element
ends, :func:`declaring` makes one stand anywhere else by declaring the namespaces, and the language, it inherited.
"""

from __future__ import annotations

import re
import xml.parsers.expat

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDF_ROOT, DESCRIPTION, ABOUT = f"{RDF} RDF", f"{RDF} Description", f"{RDF} about"  # as expat names them
# xml:lang, as expat names it. XML 1.0, 2.12: it applies to the attributes and content of its element and all within,
# unless one of them sets another; "" sets none. XMP takes it as the language of the text values in its scope.
XML_LANG = "http://www.w3.org/XML/1998/namespace lang"
TAG_NAME = re.compile(rb"<[^\s/>]+")  # a start tag's name

Namespaces = dict[str | None, str]  # prefix (None: the default namespace) -> URI ("": none)


class Reader:
    """Parse ``data`` with :meth:`read`, calling :meth:`start` and :meth:`end` for each element; ValueError naming
    ``what`` (``"it"``, ``"the main XMP packet"``) where the packet cannot be read so."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.what = what
        self.open: list[str] = []          # the names of the elements open around the current one, outermost first
        self._scopes: list[Namespaces] = []  # what each of them declares
        self._declared: Namespaces = {}
        self._languages: list[str] = []    # the xml:lang in scope inside each open element ("": none)

    def inherited(self) -> Namespaces:
        """The namespaces the open elements declare: those an element starting now inherits."""
        return {prefix: uri for scope in self._scopes for prefix, uri in scope.items()}

    def language(self) -> str | None:
        """The xml:lang an element starting now inherits from the open elements, or None."""
        return (self._languages[-1] if self._languages else "") or None

    def start(self, name: str, attributes: dict[str, str], offset: int, declared: Namespaces) -> None:
        """An element starts at ``offset``, declaring ``declared``; ``self.open`` holds its ancestors."""

    def end(self, name: str, offset: int) -> None:
        """An element ends (``offset``: expat's, see :func:`element_end`); ``self.open`` holds its ancestors."""

    def read(self) -> None:
        try:
            self.data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{self.what} is not UTF-8") from None
        parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")

        def doctype(*_: object) -> None:
            raise ValueError(f"{self.what} has a DOCTYPE, which XMP forbids")  # and no entity can be expanded

        def namespace(prefix: str | None, uri: str | None) -> None:
            self._declared[prefix] = uri or ""  # xmlns="" (no default namespace) comes as None

        def start(name: str, attributes: dict[str, str]) -> None:
            if name == RDF_ROOT and RDF_ROOT in self.open:
                raise ValueError(f"{self.what} nests an rdf:RDF in another")
            declared, self._declared = self._declared, {}
            self.start(name, attributes, parser.CurrentByteIndex, declared)
            self.open.append(name)
            self._scopes.append(declared)
            self._languages.append(attributes.get(XML_LANG, self.language() or ""))

        def end(name: str) -> None:
            self.open.pop()
            self._scopes.pop()
            self._languages.pop()
            self.end(name, parser.CurrentByteIndex)

        parser.StartDoctypeDeclHandler = doctype
        parser.StartNamespaceDeclHandler = namespace
        parser.StartElementHandler = start
        parser.EndElementHandler = end
        try:
            parser.Parse(self.data.rstrip(b"\0"), True)  # some writers pad a packet with NULs
        except xml.parsers.expat.ExpatError as exc:
            raise ValueError(f"{self.what} is not well-formed XML ({xml.parsers.expat.ErrorString(exc.code)})") \
                from None


def tag_end(data: bytes, start: int) -> int:
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


def empty_element(data: bytes, start: int) -> bool:
    """Whether the start tag at ``start`` is an empty-element tag (``<a/>``)."""
    end = tag_end(data, start)
    return data[end - 2:end] == b"/>"  # not data[:end]: a copy of all before it, for each element


def element_end(data: bytes, start: int, end_event: int) -> int:
    """The offset just past an element that starts at ``start``. Expat reports an element's end where its end
    tag starts, or, for an empty-element tag, where the tag ends; the start tag tells which."""
    return tag_end(data, start) if empty_element(data, start) else tag_end(data, end_event)


def declaring(element: bytes, namespaces: Namespaces, language: str | None = None) -> bytes:
    """``element`` (its bytes, from its start tag) with ``namespaces`` declared on its start tag, and xml:lang set
    to ``language`` where it is not None: what it inherited, so that it means the same wherever it is put."""
    name_end = TAG_NAME.match(element).end()  # type: ignore[union-attr]
    declarations = b"".join(b" xmlns" + (b":" + prefix.encode() if prefix else b"") + b'="' + escaped(uri) + b'"'
                            for prefix, uri in namespaces.items())
    if language is not None:
        declarations += b' xml:lang="' + escaped(language) + b'"'
    return element[:name_end] + declarations + element[name_end:]


def escaped(text: str) -> bytes:
    """``text`` as the value of an attribute in double quotes."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;").encode()
