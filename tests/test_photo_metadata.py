"""Captions, keywords and copyright outlive a restoration: the IPTC-IIM record (Photoshop's APP13 image resources),
extended XMP and JPEG comments carried from a damaged JPEG to its re-encoded output, or named where the output's
format has no place for them. The files are built byte by byte here, as Photoshop and Lightroom write them."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image, IptcImagePlugin

from facerestore.cli import cli
from facerestore.imageio import read_image, write_image

_PHOTOSHOP = b"Photoshop 3.0\0"
_EXTENSION = b"http://ns.adobe.com/xmp/extension/\0"
_IPTC, _THUMBNAIL, _RESOLUTION = 0x0404, 0x040C, 0x03ED
_CAPTION = "Großmutter am Hafen, Juli 1962".encode()
_COPYRIGHT = "© 2024 Anna Beispiel, all rights reserved".encode()
_COMMENT = b"scanned from the family album, print 14"
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_MM = "http://ns.adobe.com/xap/1.0/mm/"


def _dataset(record: int, number: int, value: bytes) -> bytes:
    return struct.pack(">BBBH", 0x1C, record, number, len(value)) + value


# UTF-8 declared (1:90), record version, caption (2:120), copyright notice (2:116), by-line (2:80), two keywords (2:25)
IPTC = (_dataset(1, 90, b"\x1b%G") + _dataset(2, 0, b"\x00\x04") + _dataset(2, 120, _CAPTION)
        + _dataset(2, 116, _COPYRIGHT) + _dataset(2, 80, b"Anna Beispiel") + _dataset(2, 25, b"family")
        + _dataset(2, 25, b"harbour"))


def _resource(code: int, data: bytes) -> bytes:
    """One Photoshop image resource block: 8BIM, its id, an empty name padded to even, its size, its data (even)."""
    return b"8BIM" + struct.pack(">HHI", code, 0, len(data)) + data + b"\0" * (len(data) & 1)


def _blocks(irb: bytes) -> dict[int, bytes]:
    blocks, pos = {}, 0
    while pos < len(irb):
        assert irb[pos:pos + 4] == b"8BIM"
        code, name_length = struct.unpack(">HB", irb[pos + 4:pos + 7])
        pos += 6 + (1 + name_length + 1) // 2 * 2
        (size,) = struct.unpack(">I", irb[pos:pos + 4])
        blocks[code] = irb[pos + 4:pos + 4 + size]
        pos += 4 + size + (size & 1)
    return blocks


def _segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, payload) of every segment before the first scan."""
    out, pos = [], 2
    while data[pos + 1] != 0xDA:
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        out.append((data[pos + 1], data[pos + 4:pos + 2 + length]))
        pos += 2 + length
    return out


def _insert(jpeg: bytes, segments: list[tuple[int, bytes]]) -> bytes:
    """``segments`` added after the SOI marker (before Pillow's own APP0 and APP1)."""
    raw = b"".join(b"\xff" + bytes([marker]) + struct.pack(">H", 2 + len(payload)) + payload
                   for marker, payload in segments)
    return jpeg[:2] + raw + jpeg[2:]


def _extended_xmp() -> tuple[bytes, str, list[bytes]]:
    """An extended XMP packet of about 100 kB (a long edit history, as Lightroom writes), its GUID (the MD5 of the
    packet, upper-case hex) and its APP1 payloads as XMP part 3 (2016) 1.1.3.1 splits it: GUID, full length,
    offset, at most 65,400 bytes of the packet each."""
    steps = "".join(f'<rdf:li stEvt:action="saved" stEvt:changed="/metadata" stEvt:instanceID="xmp.iid:{i:032x}"'
                    f' stEvt:when="2024-05-{i % 28 + 1:02d}T10:00:00"/>' for i in range(700))
    packet = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
              '<rdf:Description rdf:about="" xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" '
              'xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"><xmpMM:History><rdf:Seq>'
              f'{steps}</rdf:Seq></xmpMM:History></rdf:Description></rdf:RDF></x:xmpmeta>').encode()
    assert len(packet) > 65_400  # two segments
    guid = hashlib.md5(packet).hexdigest().upper()
    payloads = [_EXTENSION + guid.encode() + struct.pack(">II", len(packet), offset) + packet[offset:offset + 65_400]
                for offset in range(0, len(packet), 65_400)]
    return packet, guid, payloads


def _main_xmp(guid: str) -> bytes:
    return ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
            'xmlns:xmpNote="http://ns.adobe.com/xmp/note/" xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
            f'xmp:Rating="5" tiff:Orientation="6" xmpNote:HasExtendedXMP="{guid}"/></rdf:RDF></x:xmpmeta>').encode()


@pytest.fixture
def archive_jpeg(tmp_path, hopper_path) -> Path:
    """A scanned family photo as an agency's archive holds it: JPEG quality 20, turned by EXIF, with XMP naming an
    extended XMP packet, Photoshop's APP13 (IPTC caption and copyright, resolution info, a thumbnail of these
    very pixels) and a comment."""
    with Image.open(hopper_path) as im:
        photo = im.convert("RGB").resize((96, 112))
    photo.info.clear()  # hopper.jpg has a comment of its own, which Pillow would write again
    thumb = io.BytesIO()
    photo.resize((24, 28)).save(thumb, "JPEG", quality=50)
    # Photoshop's thumbnail resource: format 1 (JPEG), size, row bytes, sizes, 24 bits, 1 plane, then the JPEG.
    thumbnail = struct.pack(">IIIIIIHH", 1, 24, 28, 72, 72 * 28, len(thumb.getvalue()), 24, 1) + thumb.getvalue()
    resolution = struct.pack(">IHHIHH", 300 << 16, 1, 1, 300 << 16, 1, 1)
    irb = _resource(_RESOLUTION, resolution) + _resource(_IPTC, IPTC) + _resource(_THUMBNAIL, thumbnail)
    _, guid, extension = _extended_xmp()
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x8298] = "Anna Beispiel"  # EXIF Copyright
    plain = io.BytesIO()
    photo.save(plain, "JPEG", quality=20, exif=exif.tobytes(), xmp=_main_xmp(guid))
    data = _insert(plain.getvalue(), [(0xED, _PHOTOSHOP + irb), *((0xE1, p) for p in extension), (0xFE, _COMMENT)])
    path = tmp_path / "photos" / "oma.jpg"
    path.parent.mkdir()
    path.write_bytes(data)
    with Image.open(path) as im:  # Pillow reads the file as built
        assert IptcImagePlugin.getiptcinfo(im)[(2, 120)] == _CAPTION and im.info["comment"] == _COMMENT
    return path


def _carried_to_jpeg(out: Path) -> None:
    data = out.read_bytes()
    segments = _segments(data)
    photoshop = [payload for marker, payload in segments if marker == 0xED]
    assert len(photoshop) == 1 and photoshop[0].startswith(_PHOTOSHOP)
    blocks = _blocks(photoshop[0][len(_PHOTOSHOP):])
    assert blocks[_IPTC] == IPTC  # the same datasets, byte for byte
    assert _RESOLUTION in blocks and _THUMBNAIL not in blocks  # a picture of the damaged pixels is not kept
    packet, guid, extension = _extended_xmp()
    assert [payload for marker, payload in segments if marker == 0xE1 and payload.startswith(_EXTENSION)] == extension
    with Image.open(out) as im:
        assert f'xmpNote:HasExtendedXMP="{guid}"'.encode() in im.info["xmp"]  # the main packet names it still
        assert b'tiff:Orientation="1"' in im.info["xmp"] and b'xmp:Rating="5"' in im.info["xmp"]
        assert im.getexif()[0x8298] == "Anna Beispiel"
        assert IptcImagePlugin.getiptcinfo(im)[(2, 116)] == _COPYRIGHT
    assert [payload for marker, payload in segments if marker == 0xFE] == [_COMMENT]
    assert hashlib.md5(packet).hexdigest().upper() == guid


def test_a_restored_jpeg_keeps_iptc_extended_xmp_and_its_comment(archive_jpeg, tmp_path):
    loaded = read_image(archive_jpeg)
    out = tmp_path / "out.jpg"
    assert write_image(out, loaded.pixels, loaded, fmt="jpeg") == ()
    _carried_to_jpeg(out)


def test_a_tiff_keeps_the_iptc_record_in_its_tags(archive_jpeg, tmp_path):
    loaded = read_image(archive_jpeg)
    out = tmp_path / "out.tif"
    notes = write_image(out, loaded.pixels, loaded, fmt="tiff")
    with Image.open(out) as im:
        assert im.tag_v2[33723] == IPTC  # IPTC/NAA
        blocks = _blocks(im.tag_v2[34377])  # Photoshop's image resources
        assert blocks[_IPTC] == IPTC and _RESOLUTION in blocks and _THUMBNAIL not in blocks
        assert IptcImagePlugin.getiptcinfo(im)[(2, 120)] == _CAPTION
    # What a TIFF has no place for is named, not dropped silently; its extended XMP is merged into its XMP.
    assert notes == ("JPEG comment dropped: only a JPEG or PNG output keeps it",), notes
    # ... and a TIFF read back keeps its IPTC when it is written again, as a TIFF or as a JPEG.
    again = read_image(out)
    write_image(tmp_path / "again.tif", again.pixels, again)
    with Image.open(tmp_path / "again.tif") as im:
        assert im.tag_v2[33723] == IPTC
    write_image(tmp_path / "again.jpg", again.pixels, again, fmt="jpeg")
    with Image.open(tmp_path / "again.jpg") as im:
        assert IptcImagePlugin.getiptcinfo(im)[(2, 120)] == _CAPTION


@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_a_format_without_iptc_names_what_it_dropped(archive_jpeg, tmp_path, fmt):
    loaded = read_image(archive_jpeg)
    notes = write_image(tmp_path / f"out.{fmt}", loaded.pixels, loaded, fmt=fmt)
    assert any("IPTC" in note and "caption" in note for note in notes), notes
    # PNG keeps the comment under its own "Comment" keyword, beside the XMP packet; WebP has no place for it.
    assert len(notes) == (1 if fmt == "png" else 2) and any("comment" in n for n in notes) == (fmt == "webp"), notes
    with Image.open(tmp_path / f"out.{fmt}") as im:
        assert b'xmp:Rating="5"' in im.info["xmp"]  # the main XMP packet travels, as before
        if fmt == "png":
            assert im.text["Comment"] == _COMMENT.decode(), im.text


def test_a_bmp_names_every_kind_of_metadata_it_drops(archive_jpeg, tmp_path):
    """A BMP holds a resolution and pixels: each of the rest is named once, its extended XMP with its XMP."""
    loaded = read_image(archive_jpeg)
    notes = write_image(tmp_path / "out.bmp", loaded.pixels, loaded, fmt="bmp")
    assert [note.split(" dropped")[0] for note in notes] == [
        "EXIF metadata", "XMP metadata", "IPTC metadata (caption, keywords, credits, copyright)", "JPEG comment"], notes


def test_enhance_restores_an_archive_jpeg_with_its_captions(archive_jpeg, tiny_rgb_model, tmp_path):
    out = tmp_path / "restored"
    result = CliRunner().invoke(cli, ["enhance", str(archive_jpeg.parent), "-o", str(out), "--model",
                                      str(tiny_rgb_model), "--strength", "1", "--json", "--no-report"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert [json.loads(line)["status"] for line in result.stdout.splitlines()] == ["restored"]
    _carried_to_jpeg(out / "oma.jpg")
    assert "dropped" not in result.stderr

    png = CliRunner().invoke(cli, ["enhance", str(archive_jpeg.parent), "-o", str(tmp_path / "png"), "--model",
                                   str(tiny_rgb_model), "--strength", "1", "--format", "png", "--no-report"],
                             catch_exceptions=False)
    assert png.exit_code == 0, png.stderr
    assert "IPTC" in png.stderr and "oma.jpg" in png.stderr


def test_an_extension_the_main_xmp_does_not_name_is_dropped_with_a_note(tmp_path, hopper_path):
    """Readers ignore extended XMP whose GUID the main packet does not name (xmpNote:HasExtendedXMP): a stale one,
    left by a program that rewrote the main packet, is not written again."""
    with Image.open(hopper_path) as im:
        photo = im.convert("RGB").resize((64, 64))
    photo.info.clear()
    plain = io.BytesIO()
    photo.save(plain, "JPEG", quality=20, xmp=_main_xmp("0" * 32))
    _, _, extension = _extended_xmp()
    src = tmp_path / "stale.jpg"
    src.write_bytes(_insert(plain.getvalue(), [(0xE1, p) for p in extension]))
    loaded = read_image(src)
    notes = write_image(tmp_path / "out.jpg", loaded.pixels, loaded, fmt="jpeg")
    assert any("extended XMP dropped" in note for note in (*loaded.notes, *notes)), notes
    segments = _segments((tmp_path / "out.jpg").read_bytes())
    assert not any(payload.startswith(_EXTENSION) for _, payload in segments)
    assert any(payload.startswith(b"http://ns.adobe.com/xap/1.0/\0") for _, payload in segments)  # the main stays


def test_resources_larger_than_a_segment_are_split_and_read_back_whole(tmp_path, hopper_path):
    """Photoshop splits image resources over several APP13 segments where they do not fit one (a plug-in's
    70 kB resource): the output splits them too, and reading it back joins them into the same blocks."""
    with Image.open(hopper_path) as im:
        photo = im.convert("RGB").resize((64, 64))
    photo.info.clear()
    irb = _resource(_IPTC, IPTC) + _resource(0x0FA0, bytes(range(256)) * 280)  # 71,680 bytes
    src = tmp_path / "big.tif"
    tags = Image.Exif()
    tags[34377] = irb
    photo.save(src, "TIFF", exif=tags)
    loaded = read_image(src)
    assert loaded.photoshop == irb
    write_image(tmp_path / "out.jpg", loaded.pixels, loaded, fmt="jpeg")
    app13 = [payload for marker, payload in _segments((tmp_path / "out.jpg").read_bytes()) if marker == 0xED]
    assert len(app13) == 2 and all(payload.startswith(_PHOTOSHOP) for payload in app13)
    assert read_image(tmp_path / "out.jpg").photoshop == irb
    with Image.open(tmp_path / "out.jpg") as im:
        assert IptcImagePlugin.getiptcinfo(im)[(2, 116)] == _COPYRIGHT


def _history(packet: bytes) -> list[str]:
    """The instance IDs of the xmpMM:History a packet holds, read as an XML parser reads it (namespaces by URI)."""
    root = ET.fromstring(packet)
    history = root.findall(f".//{{{_RDF}}}Description/{{{_MM}}}History/{{{_RDF}}}Seq/{{{_RDF}}}li")
    return [li.get("{http://ns.adobe.com/xap/1.0/sType/ResourceEvent#}instanceID") for li in history]


@pytest.mark.parametrize("fmt", ["tiff", "png", "webp"])
def test_extended_xmp_is_merged_into_the_xmp_of_a_tiff_png_or_webp(archive_jpeg, tmp_path, fmt):
    """A TIFF, PNG or WebP holds its XMP in one packet of any size: the extension a JPEG had to split off (here a
    100 kB edit history) is merged back, as Adobe's XMP toolkit reads such a JPEG, and the pointer to it goes."""
    loaded = read_image(archive_jpeg)
    notes = write_image(tmp_path / f"out.{fmt}", loaded.pixels, loaded, fmt=fmt)
    assert not any("extended XMP" in note for note in notes), notes
    with Image.open(tmp_path / f"out.{fmt}") as im:
        packet = im.info["xmp"]
    history = _history(packet)
    assert len(history) == 700 and history[0] == f"xmp.iid:{0:032x}"
    root = ET.fromstring(packet)
    descriptions = root.findall(f"{{{_RDF}}}RDF/{{{_RDF}}}Description")
    assert {d.get(f"{{{_RDF}}}about") for d in descriptions} == {""}  # one resource, described in two parts
    assert descriptions[0].get("{http://ns.adobe.com/xap/1.0/}Rating") == "5"
    assert descriptions[0].get("{http://ns.adobe.com/tiff/1.0/}Orientation") == "1"  # upright, as the pixels
    assert b"HasExtendedXMP" not in packet
    # The main packet's bytes are kept as they were, all but the pointer: the extension is inserted, not re-written.
    main = loaded.xmp.replace(f' xmpNote:HasExtendedXMP="{_extended_xmp()[1]}"'.encode(), b"")
    split = main.index(b"</rdf:RDF>")
    assert packet.startswith(main[:split]) and packet.endswith(main[split:])


def test_an_extension_that_cannot_be_merged_is_dropped_with_a_note(tmp_path, hopper_path):
    """An extension missing a segment, or repeating a property of the main packet (which XMP's split never does),
    has no one meaning merged: dropped with a note saying why, the main packet written as it was."""
    with Image.open(hopper_path) as im:
        photo = im.convert("RGB").resize((64, 64))
    photo.info.clear()
    _, guid, extension = _extended_xmp()
    main = _main_xmp(guid)
    repeated = main.replace(b'xmp:Rating="5"', b'xmp:Rating="5" xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" '
                                               b'xmpMM:History="none"')
    for name, packet, segments, reason in (("cut.jpg", main, extension[:1], "do not hold the whole packet"),
                                           ("twice.jpg", repeated, extension, "repeats properties")):
        plain = io.BytesIO()
        photo.save(plain, "JPEG", quality=20, xmp=packet)
        src = tmp_path / name
        src.write_bytes(_insert(plain.getvalue(), [(0xE1, p) for p in segments]))
        loaded = read_image(src)
        notes = write_image(tmp_path / f"{name}.tif", loaded.pixels, loaded, fmt="tiff")
        assert len(notes) == 1 and notes[0].startswith("extended XMP dropped (") and reason in notes[0], notes
        with Image.open(tmp_path / f"{name}.tif") as im:
            assert im.info["xmp"] == loaded.xmp


def _properties(packet: bytes) -> dict[str, str]:
    """The top-level properties of every rdf:Description in ``packet``: name (by namespace URI), serialized value."""
    found: dict[str, str] = {}
    for description in ET.fromstring(packet).iter(f"{{{_RDF}}}Description"):
        found.update((name, value) for name, value in description.attrib.items() if name != f"{{{_RDF}}}about")
        found.update((child.tag, ET.tostring(child, encoding="unicode")) for child in description)
    found.pop("{http://ns.adobe.com/xmp/note/}HasExtendedXMP", None)
    return found


def _xmp_segments(data: bytes) -> tuple[list[bytes], list[bytes]]:
    """A JPEG's XMP: (payloads of its main XMP segments, of its extended XMP segments)."""
    segments = [payload for marker, payload in _segments(data) if marker == 0xE1]
    return ([p for p in segments if p.startswith(b"http://ns.adobe.com/xap/1.0/\0")],
            [p for p in segments if p.startswith(_EXTENSION)])


def test_a_large_xmp_is_split_into_extended_xmp_in_a_jpeg_and_read_back_whole(archive_jpeg, tmp_path):
    """A JPEG with extended XMP, restored as TIFF (one packet of 105 kB, merged), then restored again as JPEG: the
    packet is split as XMP part 3 1.1.3.1 says (the edit history moved to extended XMP, named by its MD5) rather
    than dropped, and reading that JPEG gives every property back."""
    loaded = read_image(archive_jpeg)
    assert write_image(tmp_path / "out.tif", loaded.pixels, loaded, fmt="tiff") == (
        "JPEG comment dropped: only a JPEG or PNG output keeps it",)
    tiff = read_image(tmp_path / "out.tif")
    assert len(tiff.xmp) > 65_504 and not tiff.xmp_extension
    assert write_image(tmp_path / "again.jpg", tiff.pixels, tiff, fmt="jpeg") == ()
    main, extension = _xmp_segments((tmp_path / "again.jpg").read_bytes())
    assert len(main) == 1 and len(extension) == 2 and all(len(p) <= 65_533 for p in extension)
    guid = {p[35:67] for p in extension}
    start = len(_EXTENSION) + 32
    length = {struct.unpack(">I", p[start:start + 4])[0] for p in extension}
    assert len(guid) == 1 and len(length) == 1
    extended = b"".join(p[start + 8:] for p in sorted(extension, key=lambda p: p[start + 4:start + 8]))
    assert len(extended) == length.pop() and hashlib.md5(extended).hexdigest().upper().encode() == guid.pop()
    standard = main[0][29:]
    assert f'xmpNote:HasExtendedXMP="{hashlib.md5(extended).hexdigest().upper()}"'.encode() in standard
    assert _history(extended) and not _history(standard)  # the history moved, the rating stayed
    assert b'xmp:Rating="5"' in standard and b'tiff:Orientation="1"' in standard
    assert {**_properties(standard), **_properties(extended)} == _properties(tiff.xmp)

    # Read back: the reader takes the extension its main packet names, and a TIFF merges it in again.
    back = read_image(tmp_path / "again.jpg")
    assert back.xmp_extension == tuple(extension) and back.xmp == standard
    write_image(tmp_path / "third.tif", back.pixels, back, fmt="tiff")
    with Image.open(tmp_path / "third.tif") as im:
        packet = im.info["xmp"]
    assert _properties(packet) == _properties(tiff.xmp) and len(_history(packet)) == 700
    assert b"HasExtendedXMP" not in packet


def test_a_second_round_trip_through_tiff_writes_the_xmp_of_the_first(archive_jpeg, tmp_path):
    """JPEG -> TIFF -> JPEG, twice: the second JPEG's XMP segments are the first's, byte for byte, and so is the
    TIFF's packet from then on. The description a TIFF's merge adds for the extension was left in the JPEG's main
    packet, empty, when its history moved out again: one more each round trip (129 bytes here), without end."""
    src, tiffs, jpegs = archive_jpeg, [], []
    for trip in range(3):
        loaded = read_image(src)
        write_image(tmp_path / f"{trip}.tif", loaded.pixels, loaded, fmt="tiff")
        tiff = read_image(tmp_path / f"{trip}.tif")
        src = tmp_path / f"{trip}.jpg"
        write_image(src, tiff.pixels, tiff, fmt="jpeg")
        tiffs.append(tiff.xmp)
        jpegs.append(_xmp_segments(src.read_bytes()))
    assert jpegs[1] == jpegs[0] and tiffs[2] == tiffs[1]
    assert len(jpegs[0][0][0]) < len(_main_xmp("0" * 32)) + 100  # the main packet, its pointer, and no more
    assert _properties(tiffs[2]) == _properties(tiffs[0]) and len(_history(tiffs[2])) == 700


def _tiff_with_xmp(path: Path, hopper_path: Path, packet: bytes) -> Path:
    with Image.open(hopper_path) as im:
        photo = im.convert("RGB").resize((64, 64))
    tags = Image.Exif()
    tags[700] = packet
    photo.save(path, "TIFF", exif=tags)
    return path


@pytest.mark.parametrize("size", [200, 65_504])
def test_an_xmp_that_fits_a_jpeg_segment_is_written_as_before(tmp_path, hopper_path, size):
    """Up to the segment's last byte, the packet is written unchanged in one XMP segment, no extension beside it."""
    head = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="' + _RDF.encode() + b'"><rdf:Description ' \
           b'rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="4"/></rdf:RDF></x:xmpmeta>'
    packet = head + b" " * (size - len(head))
    loaded = read_image(_tiff_with_xmp(tmp_path / "in.tif", hopper_path, packet))
    assert write_image(tmp_path / "out.jpg", loaded.pixels, loaded, fmt="jpeg") == ()
    assert _xmp_segments((tmp_path / "out.jpg").read_bytes()) == ([b"http://ns.adobe.com/xap/1.0/\0" + packet], [])


_BIG_VALUE = "x" * 70_000


@pytest.mark.parametrize("body, reason", [
    (f'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" dc:source="{_BIG_VALUE}"/>',
     "left in the main packet"),  # an attribute is not a property that moves: the main packet cannot shrink
    (f'<rdf:Description rdf:about=""><dc:source>{_BIG_VALUE}</rdf:Description>', "not well-formed"),
    (f'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:source>{_BIG_VALUE}'
     '</dc:source></rdf:Description><rdf:Description rdf:about="uuid:other"/>', "more than one resource"),
], ids=["attribute", "damaged", "two-resources"])
def test_a_large_xmp_that_cannot_be_split_is_dropped_with_a_note(tmp_path, hopper_path, body, reason):
    packet = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="' + _RDF + '">' + body +
              "</rdf:RDF></x:xmpmeta>").encode()
    loaded = read_image(_tiff_with_xmp(tmp_path / "in.tif", hopper_path, packet))
    notes = write_image(tmp_path / "out.jpg", loaded.pixels, loaded, fmt="jpeg")
    assert len(notes) == 1 and notes[0].startswith(f"XMP metadata dropped: {len(packet):,} bytes do not fit"), notes
    assert "cannot be split into extended XMP" in notes[0] and reason in notes[0], notes
    assert _xmp_segments((tmp_path / "out.jpg").read_bytes()) == ([], [])
