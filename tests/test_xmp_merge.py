"""Extended XMP merged into its main packet (facerestore.xmp_merge), and a large packet split into both
(facerestore.xmp_split): the packets as writers lay them out, with the namespaces, prefixes and element forms XML
allows, and damaged ones, which raise ValueError and nothing else."""

from __future__ import annotations

import hashlib
import struct
import xml.etree.ElementTree as ET

import pytest

from facerestore.xmp import EXTENSION_HEADER, JPEG_MAX, extension_guid
from facerestore.xmp_merge import merged
from facerestore.xmp_split import split

_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_DC = "http://purl.org/dc/elements/1.1/"
_PS = "http://ns.adobe.com/photoshop/1.0/"
# A main packet as Photoshop writes it: xpacket wrapper, the toolkit's attribute, padding before the end.
MAIN = ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 9.1">\n <rdf:RDF xmlns:rdf="' + _RDF + '">\n'
        '  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
        '    xmlns:xmpNote="http://ns.adobe.com/xmp/note/" xmp:Rating="3"\n'
        '    xmpNote:HasExtendedXMP="{guid}"/>\n </rdf:RDF>\n</x:xmpmeta>\n' + " " * 200 +
        '\n<?xpacket end="w"?>').encode()
# An extension whose prefixes are declared on its ancestors, one of them unlike the main packet's for RDF, with an
# empty-element description and a '>' inside an attribute value.
EXTENSION = ('<x:xmpmeta xmlns:x="adobe:ns:meta/" xmlns:dc="' + _DC + '"><R:RDF xmlns:R="' + _RDF + '" '
             'xmlns:photoshop="' + _PS + '"><R:Description R:about="" photoshop:Headline="a > b"/>'
             '<R:Description R:about=""><dc:title><R:Alt><R:li xml:lang="x-default">Hafen</R:li></R:Alt>'
             '</dc:title></R:Description></R:RDF></x:xmpmeta>').encode()


def _payloads(extended: bytes, size: int = 100) -> tuple[bytes, ...]:
    guid = hashlib.md5(extended).hexdigest().upper().encode()
    return tuple(EXTENSION_HEADER + guid + struct.pack(">II", len(extended), offset) + extended[offset:offset + size]
                 for offset in range(0, len(extended), size))


def _main(extended: bytes = EXTENSION) -> bytes:
    return MAIN.replace(b"{guid}", hashlib.md5(extended).hexdigest().upper().encode())


def test_descriptions_keep_the_namespaces_they_inherited():
    result = merged(_main(), _payloads(EXTENSION)[::-1])  # segments in any order: their offsets place them
    root = ET.fromstring(result.split(b"?>", 1)[1].rsplit(b"<?xpacket", 1)[0])
    descriptions = root.findall(f"{{{_RDF}}}RDF/{{{_RDF}}}Description")
    assert len(descriptions) == 3 and {d.get(f"{{{_RDF}}}about") for d in descriptions} == {""}
    assert descriptions[0].get("{http://ns.adobe.com/xap/1.0/}Rating") == "3"
    assert descriptions[1].get(f"{{{_PS}}}Headline") == "a > b"
    assert descriptions[2].find(f"{{{_DC}}}title/{{{_RDF}}}Alt/{{{_RDF}}}li").text == "Hafen"
    assert b"HasExtendedXMP" not in result
    assert result.startswith(b"<?xpacket begin=") and result.endswith(b" " * 200 + b'\n<?xpacket end="w"?>')


@pytest.mark.parametrize("extended, reason", [
    (b'<!DOCTYPE x [<!ENTITY a "b">]>' + EXTENSION, "DOCTYPE"),
    (EXTENSION.replace(b'R:about=""', b'R:about="uuid:other"', 1), "another resource"),
    (EXTENSION[:-20], "not well-formed"),
    (EXTENSION.replace(b"<R:Description", b"<R:Bag/><R:Description", 1), "other nodes"),  # would be left out
    (f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{_RDF}"/></x:xmpmeta>'.encode(), "no rdf:RDF"),
    (EXTENSION.replace(b"Hafen", "Hafen".encode("utf-16-le")[:-1] + b"\xff"), "not UTF-8"),
    (EXTENSION.replace(b"photoshop:Headline", b"xmp:Rating").replace(
        b"xmlns:photoshop", b"xmlns:xmp").replace(_PS.encode(), b"http://ns.adobe.com/xap/1.0/"), "repeats"),
])
def test_what_has_no_one_meaning_merged_raises(extended, reason):
    with pytest.raises(ValueError, match=reason):
        merged(_main(extended), _payloads(extended))


@pytest.mark.parametrize("where", ["main", "extension"])
def test_a_nested_rdf_rdf_raises(where):
    """An rdf:RDF inside a property: in the extension its descriptions were taken for top-level ones (AttributeError
    as they were copied); in the main packet the extension was merged into that property's value."""
    nested = b'<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/"><xmp:Label><rdf:RDF>' \
             b'<rdf:Description rdf:about=""/></rdf:RDF></xmp:Label></rdf:Description>'
    extended, main = EXTENSION, _main()
    if where == "main":
        main = main.replace(b"\n </rdf:RDF>", nested + b"\n </rdf:RDF>")
    else:
        extended = EXTENSION.replace(b"</R:RDF>", nested.replace(b"rdf:", b"R:") + b"</R:RDF>")
        main = _main(extended)
    with pytest.raises(ValueError, match="nests an rdf:RDF"):
        merged(main, _payloads(extended))


def test_missing_or_inconsistent_segments_raise():
    payloads = _payloads(EXTENSION)
    for broken in (payloads[1:], payloads[:-1], (*payloads[:-1], payloads[-1][:60]),
                   (payloads[0][:len(EXTENSION_HEADER) + 32] + struct.pack(">II", 0xFFFFFFFF, 0), *payloads[1:])):
        with pytest.raises(ValueError, match="segment"):
            merged(_main(), broken)


# A packet over a JPEG segment's 65,504 bytes, as a TIFF holds one: its namespaces declared on each level (a
# default namespace; inside a property, the prefix x, which the extension's wrapper uses, for another URI), an
# attribute property, and element properties of 90 kB, 30 kB, 2 kB and a few bytes in two descriptions.
_PREFIX = "http://example.com/ns/"
LARGE = ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
         '<x:xmpmeta xmlns:x="adobe:ns:meta/" xmlns:dc="' + _DC + '"><rdf:RDF xmlns:rdf="' + _RDF + '">\n'
         ' <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="2">\n'
         '  <dc:description>' + "a &amp; b " * 9_000 + '</dc:description>\n'
         '  <xmp:Label>red</xmp:Label>\n'
         '  <dc:subject xmlns="' + _PREFIX + '"><rdf:Bag><rdf:li>' + "k" * 2_000 + '</rdf:li></rdf:Bag></dc:subject>\n'
         ' </rdf:Description>\n <rdf:Description rdf:about="" xmlns="' + _PREFIX + '">'
         '<photoshop:History xmlns:photoshop="' + _PS + '" xmlns:x="' + _PREFIX + '">'
         + "<x:step/>" * 3_300 + '</photoshop:History><Plain>v</Plain></rdf:Description>\n'
         '</rdf:RDF></x:xmpmeta>\n' + " " * 2_000 + '\n<?xpacket end="w"?>').encode()


def _body(packet: bytes) -> bytes:
    return packet.split(b"?>", 1)[1].rsplit(b"<?xpacket", 1)[0] if packet.startswith(b"<?xpacket") else packet


def _top_level(packet: bytes) -> dict[str, bytes]:
    """Each top-level property of ``packet`` (by namespace URI) and its value as canonical XML."""
    found = {}
    for description in ET.fromstring(_body(packet)).findall(f"{{{_RDF}}}RDF/{{{_RDF}}}Description"):
        found.update((name, value.encode()) for name, value in description.attrib.items()
                     if name != f"{{{_RDF}}}about")
        found.update((child.tag, ET.canonicalize(ET.tostring(child)).encode()) for child in description)
    found.pop("{http://ns.adobe.com/xmp/note/}HasExtendedXMP", None)
    return found


def _joined(payloads: tuple[bytes, ...]) -> bytes:
    start = len(EXTENSION_HEADER) + 32
    return b"".join(p[start + 8:] for p in sorted(payloads, key=lambda p: struct.unpack(">I", p[start + 4:start + 8])))


_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _languages(packet: bytes) -> dict[str, str | None]:
    """Each top-level property of ``packet`` (by namespace URI) and the language of its value: the xml:lang of the
    nearest element that sets one, the property's own or an ancestor's, as XML 1.0 (2.12) scopes it (None: none,
    which xml:lang="" says too)."""
    root = ET.fromstring(_body(packet))
    found: dict[str, str | None] = {}
    for rdf in root.findall(f"{{{_RDF}}}RDF"):
        for description in rdf.findall(f"{{{_RDF}}}Description"):
            language = description.get(_LANG, rdf.get(_LANG, root.get(_LANG)))
            found.update((name, language or None) for name in description.attrib
                         if name not in (f"{{{_RDF}}}about", _LANG))
            found.update((child.tag, child.get(_LANG, language) or None) for child in description)
    found.pop("{http://ns.adobe.com/xmp/note/}HasExtendedXMP", None)
    return found


@pytest.mark.parametrize("main_language", [None, "en", "de"])
def test_merged_descriptions_keep_the_language_they_inherited(main_language):
    """The extension's wrapper sets xml:lang="de": its descriptions inherit it (one sets its own, "fr"). Copied into
    the main packet, each says the language it had, whatever the main packet's rdf:RDF gives its children (where
    it gives one the extension had not, xml:lang="" says none), and the main packet's own properties keep theirs."""
    extended = EXTENSION.replace(b"<x:xmpmeta ", b'<x:xmpmeta xml:lang="de" ').replace(
        b'<R:Description R:about="" photoshop', b'<R:Description R:about="" xml:lang="fr" photoshop')
    main = _main(extended)
    if main_language:
        main = main.replace(b"<rdf:RDF ", f'<rdf:RDF xml:lang="{main_language}" '.encode())
    result = merged(main, _payloads(extended))
    assert _languages(result) == {**_languages(main), **_languages(extended)}
    assert _languages(result)[f"{{{_DC}}}title"] == "de" and _languages(result)[f"{{{_PS}}}Headline"] == "fr"
    # Without a language anywhere, nothing is added: the bytes are as before.
    plain = merged(_main(), _payloads(EXTENSION))
    assert b"xml:lang" not in plain.replace(b'xml:lang="x-default"', b"")


def test_an_undeclared_default_namespace_is_inherited_too():
    """xmlns="" on an ancestor (no default namespace) is declared again on the copied descriptions."""
    extended = EXTENSION.replace(b'<x:xmpmeta ', b'<x:xmpmeta xmlns="" ')
    result = merged(_main(extended), _payloads(extended))
    assert result.count(b' xmlns=""') == 2 and len(_top_level(result)) == 3
    _, payloads = split(LARGE.replace(b"<x:xmpmeta ", b'<x:xmpmeta xmlns="" '))
    assert b'<dc:description xmlns="" xmlns:dc="' + _DC.encode() + b'"' in _joined(payloads)


def test_a_large_packet_is_split_largest_properties_first_and_merges_back():
    standard, payloads = split(LARGE)
    extended = _joined(payloads)
    assert len(standard) <= JPEG_MAX and all(len(p) <= 65_533 for p in payloads)
    guid = hashlib.md5(extended).hexdigest().upper().encode()
    assert extension_guid(standard) == guid and {p[len(EXTENSION_HEADER):][:32] for p in payloads} == {guid}
    # The 90 kB description moved and nothing more was needed: the rest stays where it was, byte for byte.
    moved = _top_level(extended)
    assert list(moved) == [f"{{{_DC}}}description"]
    assert {**_top_level(standard), **moved} == _top_level(LARGE)
    assert standard.endswith(b" " * 2_000 + b'\n<?xpacket end="w"?>') and b"<xmp:Label>red</xmp:Label>" in standard
    # A JPEG's reader merges the two again (the pointer goes): the same properties, the same values.
    assert _top_level(merged(standard, payloads)) == _top_level(LARGE)


def test_properties_move_until_the_main_packet_fits():
    larger = LARGE.replace(b"<x:step/>", b"<x:step>" + b"s" * 12 + b"</x:step>")  # a history of 96 kB moves first
    standard, payloads = split(larger)
    assert len(standard) <= JPEG_MAX and b"<dc:subject" in standard
    assert set(_top_level(_joined(payloads))) == {f"{{{_PS}}}History", f"{{{_DC}}}description"}
    assert _top_level(merged(standard, payloads)) == _top_level(larger)


@pytest.mark.parametrize("languages", [
    {b"<x:xmpmeta ": b'<x:xmpmeta xml:lang="en-GB" ', b'xmlns="' + _PREFIX.encode() + b'">':
     b'xmlns="' + _PREFIX.encode() + b'" xml:lang="de">'},  # inherited from the wrapper, from a description
    {b'xmp:Rating="2">': b'xmp:Rating="2" xml:lang="de">', b"<dc:description>": b'<dc:description xml:lang="fr">',
     b"<x:xmpmeta ": b'<x:xmpmeta xml:lang="it" ', b"<photoshop:History ": b'<photoshop:History xml:lang="" '},
], ids=["inherited", "own"])
def test_moved_properties_keep_their_language(languages):
    """A property moved to the extension keeps the language of its value: the xml:lang it inherited (from its
    description or the wrapper) is set on it there; one it sets itself stays as it was, not set twice (which XML
    would refuse); xml:lang="" (none) stays none."""
    packet = LARGE.replace(b"<x:step/>", b"<x:step>" + b"s" * 12 + b"</x:step>")  # the history moves too
    for old, new in languages.items():
        assert old in packet
        packet = packet.replace(old, new, 1)
    standard, payloads = split(packet)
    extended = _joined(payloads)
    assert set(_languages(extended)) == {f"{{{_PS}}}History", f"{{{_DC}}}description"}
    assert {**_languages(standard), **_languages(extended)} == _languages(packet)
    assert len(set(_languages(packet).values())) > 1  # the languages differ, so where each came from shows
    assert _languages(merged(standard, payloads)) == _languages(packet)


@pytest.mark.parametrize("change, kept", [
    ((b"", b""), False),
    ((b' rdf:ID="history"', b""), True),  # something may refer to it by that
    ((b"", b"<!-- from the archive -->"), True),  # bytes that are no property are not cut
], ids=["bare", "rdf-id", "comment"])
def test_a_description_every_property_moved_out_of_goes_too(change, kept):
    """The second description holds only the history, which moves: the description goes with it unless it says
    more than rdf:about (and xml:lang), or holds more than whitespace besides, which stay where they were."""
    attribute, inside = change
    packet = LARGE.replace(b"<x:step/>", b"<x:step>" + b"s" * 12 + b"</x:step>").replace(b"<Plain>v</Plain>", inside)
    packet = packet.replace(b'xmlns="' + _PREFIX.encode() + b'">', b'xmlns="' + _PREFIX.encode() + b'"' + attribute
                            + b">")
    standard, payloads = split(packet)
    assert f"{{{_PS}}}History" in _top_level(_joined(payloads))
    assert standard.count(b"<rdf:Description") == (2 if kept else 1)
    assert (inside in standard) and _top_level(merged(standard, payloads)) == _top_level(packet)


def test_a_stale_pointer_is_replaced():
    stale = LARGE.replace(b'xmp:Rating="2"', b'xmp:Rating="2" xmlns:xmpNote="http://ns.adobe.com/xmp/note/" '
                                             b'xmpNote:HasExtendedXMP="' + b"0" * 32 + b'"')
    standard, payloads = split(stale)
    assert standard.count(b"HasExtendedXMP") == 1 and extension_guid(standard) != b"0" * 32
    assert extension_guid(standard) == hashlib.md5(_joined(payloads)).hexdigest().upper().encode()
    assert split(stale.replace(b"a &amp; b " * 9_000, b"")) == (  # it fits without: nothing to split, no pointer
        stale.replace(b"a &amp; b " * 9_000, b"").replace(b' xmpNote:HasExtendedXMP="' + b"0" * 32 + b'"', b""), ())


@pytest.mark.parametrize("element, namespace", [
    (b"<xmpNote:HasExtendedXMP>{guid}</xmpNote:HasExtendedXMP >", b""),  # XML allows space before an end tag's '>'
    (b"<xmpNote:HasExtendedXMP\n>{guid}</xmpNote:HasExtendedXMP>", b""),  # and before a start tag's
    (b"<HasExtendedXMP>{guid}</HasExtendedXMP>", b' xmlns="http://ns.adobe.com/xmp/note/"'),  # xmpNote's, unprefixed
], ids=["space-in-end-tag", "space-in-start-tag", "default-namespace"])
def test_the_pointer_read_is_the_pointer_removed(element, namespace):
    """A pointer written as an element that the reader takes (extension_guid) is the one a merge and a split remove:
    the merged packet names no extension, and a split one names only its own."""
    guid = hashlib.md5(EXTENSION).hexdigest().upper().encode()
    main = _main().replace(b'\n    xmpNote:HasExtendedXMP="' + guid + b'"/>',
                           namespace + b">" + element.replace(b"{guid}", guid) + b"</rdf:Description>")
    assert extension_guid(main) == guid
    assert b"HasExtendedXMP" not in merged(main, _payloads(EXTENSION))
    stale = LARGE.replace(b'rdf:about="" xmlns:xmp', b'rdf:about=""' + namespace + b" xmlns:xmp").replace(
        b"<xmp:Label>", element.replace(b"{guid}", b"0" * 32) + b"<xmp:Label>")
    assert extension_guid(stale) == b"0" * 32
    standard, payloads = split(stale)
    assert standard.count(b"HasExtendedXMP") == 1
    assert extension_guid(standard) == hashlib.md5(_joined(payloads)).hexdigest().upper().encode()


def test_a_packet_of_many_properties_splits_whole():
    """20,000 top-level properties: every one lands in one of the two packets (how the time grows with the count is
    benchmarks/bench_xmp.py's)."""
    properties = "".join(f"<dc:p{i}>{'v' * 100}</dc:p{i}>" for i in range(20_000))
    packet = (f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{_RDF}"><rdf:Description rdf:about="" '
              f'xmlns:dc="{_DC}">{properties}</rdf:Description></rdf:RDF></x:xmpmeta>').encode()
    standard, payloads = split(packet)
    assert len(standard) <= JPEG_MAX and len(_top_level(_joined(payloads))) + len(_top_level(standard)) == 20_000


@pytest.mark.parametrize("packet, reason", [
    (b'<!DOCTYPE x [<!ENTITY a "b">]>' + _body(LARGE), "DOCTYPE"),
    (LARGE.replace(b"</xmp:Label>", b""), "not well-formed"),
    (LARGE.replace(b'rdf:about=""', b'rdf:about="uuid:other"', 1), "more than one resource"),
    (LARGE.replace(b"<rdf:Description", b"<rdf:Bag").replace(b"</rdf:Description>", b"</rdf:Bag>"),
     "no rdf:Description"),
    (LARGE.replace(b"rdf:RDF", b"rdf:Seq"), "no rdf:RDF"),
    (LARGE.replace(b"red", b"r\xffd"), "not UTF-8"),
    (LARGE.replace(b'xmp:Rating="2"', b'xmlns:xmpNote="http://example.com/" xmp:Rating="2"'), "xmpNote"),
    (LARGE.replace(b'<rdf:RDF xmlns:rdf=', b'<rdf:RDF xmlns:xmpNote="http://example.com/" xmlns:rdf='),
     "xmpNote"),  # bound on an ancestor: declaring it on the description would rename properties that use it
    (LARGE.replace(b'xmp:Rating="2"', b'xmp:Rating="' + b"9" * 70_000 + b'"'), "every property element"),
    (LARGE.replace(b"<xmp:Label>red</xmp:Label>", b"<xmp:Label><rdf:RDF/></xmp:Label>"), "nests"),
], ids=["doctype", "damaged", "two-resources", "no-description", "no-rdf", "not-utf8", "xmpnote-prefix",
        "xmpnote-prefix-inherited", "large-attribute", "nested-rdf"])
def test_what_cannot_be_split_raises(packet, reason):
    with pytest.raises(ValueError, match=reason):
        split(packet)


hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _damage(data, target: bytearray, i: int, inserts: list[bytes]) -> None:
    """One drawn damage at ``i``: a flipped bit, up to 8 bytes deleted, or one of ``inserts`` inserted."""
    kind = data.draw(st.sampled_from(["flip", "delete", "insert"]))
    if kind == "flip":
        target[i] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "delete":
        del target[i:i + data.draw(st.integers(1, 8))]
    else:
        target[i:i] = data.draw(st.sampled_from(inserts))


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.data())
def test_damaged_packets_merge_well_formed_or_raise_value_error(data):
    """Whatever the bytes (both packets come from the file), the result is XML a parser reads, or ValueError."""
    main, extended = bytearray(_main()), bytearray(EXTENSION)
    for _ in range(data.draw(st.integers(1, 4))):
        target = data.draw(st.sampled_from([main, extended]))
        _damage(data, target, data.draw(st.integers(0, len(target) - 1)),
                [b"<", b">", b'"', b"/>", b"</R:Description>", b"&", b"\0"])
    try:
        result = merged(bytes(main), _payloads(bytes(extended)))
    except ValueError:
        return
    ET.fromstring(result.split(b"?>", 1)[1].rsplit(b"<?xpacket", 1)[0])


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.data())
def test_damaged_large_packets_split_into_well_formed_parts_or_raise_value_error(data):
    packet = bytearray(LARGE)
    for _ in range(data.draw(st.integers(1, 4))):
        # Most damage lands in the large text; aim at the markup too, where the split's offsets come from.
        i = data.draw(st.one_of(st.integers(0, len(packet) - 1), st.integers(0, 700),
                                st.integers(len(packet) - 35_000, len(packet) - 2_100)))
        _damage(data, packet, i, [b"<", b">", b'"', b"/>", b"</rdf:Description>", b"&", b"\0",
                                  b" xmlns:q='urn:q'", b"<q:a xmlns:q='urn:q'/>", b' xmlns=""'])
    try:
        standard, payloads = split(bytes(packet))
    except ValueError:
        return
    assert len(standard) <= JPEG_MAX
    ET.fromstring(_body(standard))
    if payloads:
        ET.fromstring(_joined(payloads))
        assert extension_guid(standard) == hashlib.md5(_joined(payloads)).hexdigest().upper().encode()
