"""Extended XMP merged into its main packet (facerestore.xmp_merge): the packets as writers lay them out, with the
namespaces, prefixes and element forms XML allows, and damaged ones, which raise ValueError and nothing else."""

from __future__ import annotations

import hashlib
import struct
import xml.etree.ElementTree as ET

import pytest

from facerestore.xmp import EXTENSION_HEADER
from facerestore.xmp_merge import merged

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


def test_missing_or_inconsistent_segments_raise():
    payloads = _payloads(EXTENSION)
    for broken in (payloads[1:], payloads[:-1], (*payloads[:-1], payloads[-1][:60]),
                   (payloads[0][:len(EXTENSION_HEADER) + 32] + struct.pack(">II", 0xFFFFFFFF, 0), *payloads[1:])):
        with pytest.raises(ValueError, match="segment"):
            merged(_main(), broken)


hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.data())
def test_damaged_packets_merge_well_formed_or_raise_value_error(data):
    """Whatever the bytes (both packets come from the file), the result is XML a parser reads, or ValueError."""
    main, extended = bytearray(_main()), bytearray(EXTENSION)
    for _ in range(data.draw(st.integers(1, 4))):
        target = data.draw(st.sampled_from([main, extended]))
        i = data.draw(st.integers(0, len(target) - 1))
        kind = data.draw(st.sampled_from(["flip", "delete", "insert"]))
        if kind == "flip":
            target[i] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "delete":
            del target[i:i + data.draw(st.integers(1, 8))]
        else:
            target[i:i] = data.draw(st.sampled_from([b"<", b">", b'"', b"/>", b"</R:Description>", b"&", b"\0"]))
    try:
        result = merged(bytes(main), _payloads(bytes(extended)))
    except ValueError:
        return
    ET.fromstring(result.split(b"?>", 1)[1].rsplit(b"<?xpacket", 1)[0])
