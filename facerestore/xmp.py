"""XMP metadata (ratings, keywords, captions, edit history) carried from an input to its re-encoded output.

Pillow reads a file's XMP packet into ``info["xmp"]`` for JPEG, PNG, WebP and TIFF, and writes it back through a
different door for each format. A byte-copied output keeps it anyway; this is for outputs encoded from pixels.
A JPEG's extended XMP (the part of a packet over 64 KiB, in segments of its own) is read here too, for
``imageio`` to write back unchanged into a JPEG output, the only format that splits XMP so (``xmp_merge`` merges
it into the one packet of the others; ``xmp_split`` splits a packet too large for a JPEG, a TIFF's, likewise).
The extension's segments are laid out here alone: read (``extension``, ``extension_packet``) and made
(``extension_payloads``), as is the pointer to it (``extension_guid``, ``POINTER``).
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Iterable
from typing import Any

from PIL import Image, PngImagePlugin

from facerestore.jpeg_segments import MAX_PAYLOAD

# A JPEG holds XMP in one APP1 segment: 65,533 bytes less its namespace header. Larger packets ("extended XMP")
# are split by a scheme Pillow does not write (xmp_split).
JPEG_MAX = MAX_PAYLOAD - len(b"http://ns.adobe.com/xap/1.0/\0")
# Extended XMP (XMP part 3, 1.1.3.1): what does not fit the main packet (Lightroom's edit history, Photoshop's
# layer data...) is a second packet in APP1 segments of this header, each followed by the packet's GUID (32
# upper-case hex digits: its MD5), its full length and the offset of the part the segment holds. The main packet
# names that GUID (xmpNote:HasExtendedXMP); readers ignore extension segments of any other.
EXTENSION_HEADER = b"http://ns.adobe.com/xmp/extension/\0"
# The pointer, as an attribute (with the space before it) or as an element (its prefix optional: a default namespace
# can be xmpNote's), the GUID in group "attribute" or "element": one pattern, so that what a reader takes for the
# pointer (extension_guid) is what a merge or split removes (a start or end tag may have space before its '>').
POINTER = re.compile(rb'\s+[\w.-]+:HasExtendedXMP\s*=\s*(["\'])(?P<attribute>[0-9A-Fa-f]{32})\1'
                     rb'|<((?:[\w.-]+:)?)HasExtendedXMP\s*>\s*(?P<element>[0-9A-Fa-f]{32})\s*</\3HasExtendedXMP\s*>')
# An extension segment's layout: the header, the GUID, the full length and the offset (4 bytes each), the part.
_LENGTH_AT = len(EXTENSION_HEADER) + 32
_PART_AT = _LENGTH_AT + 8
_PORTION = MAX_PAYLOAD - _PART_AT  # the most of the packet one segment holds
_TIFF_XMP_TAG = 700
# tiff:Orientation, as an attribute or as an element: the pixels are written upright, so it must say 1 too (Adobe's
# software reads it when EXIF has none).
_ORIENTATION = re.compile(rb'(tiff:Orientation\s*=\s*["\']|<tiff:Orientation>\s*)[1-8]')


def read(info: dict[str, Any]) -> bytes | None:
    """The XMP packet Pillow found in a file (its ``info``), or None."""
    packet = info.get("xmp")
    if isinstance(packet, str):
        packet = packet.encode("utf-8")
    return packet if isinstance(packet, bytes) and packet.strip() else None


def extension(applist: Iterable[tuple[str, bytes]], packet: bytes | None, notes: list[str]) -> tuple[bytes, ...]:
    """The APP1 payloads of a JPEG's extended XMP (Pillow's ``applist``) that its main ``packet`` names, in file
    order and unchanged: editing the extension would change its MD5, its GUID, and so the main packet too.

    Segments of an extension the main packet does not name are dropped with a note: no reader takes them.
    """
    payloads = tuple(payload for name, payload in applist if name == "APP1" and payload.startswith(EXTENSION_HEADER))
    named = extension_guid(packet)
    kept = tuple(payload for payload in payloads if named is not None and _guid(payload) == named)
    if len(kept) < len(payloads):
        notes.append("extended XMP dropped: the main XMP packet does not name it (xmpNote:HasExtendedXMP)")
    return kept


def extension_guid(packet: bytes | None) -> bytes | None:
    """The GUID of the extended XMP ``packet`` names (xmpNote:HasExtendedXMP), as its segments hold it, or None."""
    found = POINTER.search(packet or b"")
    return (found["attribute"] or found["element"]).upper() if found else None


def _guid(payload: bytes) -> bytes:
    return payload[len(EXTENSION_HEADER):_LENGTH_AT].upper()


def extension_size(payloads: tuple[bytes, ...]) -> int:
    """The full length of the extended packet its segments declare (bytes)."""
    return max((int.from_bytes(payload[_LENGTH_AT:_LENGTH_AT + 4], "big") for payload in payloads), default=0)


def extension_packet(payloads: tuple[bytes, ...]) -> bytes:
    """The extended packet its segments' parts (each: GUID, full length, offset, data) make up, whole; ValueError
    where they do not."""
    parts = []
    for payload in payloads:
        if len(payload) < _PART_AT:
            raise ValueError("a segment of it is cut short")
        parts.append((*struct.unpack(">II", payload[_LENGTH_AT:_PART_AT]), payload[_PART_AT:]))
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


def guid_of(extended: bytes) -> bytes:
    """The GUID of extended XMP ``extended``: its MD5, in upper-case hex."""
    return hashlib.md5(extended, usedforsecurity=False).hexdigest().upper().encode()


def extension_payloads(extended: bytes) -> tuple[bytes, ...]:
    """The APP1 payloads that carry ``extended`` in a JPEG: its parts in order, each after the header, its GUID,
    its full length and the part's offset."""
    guid = guid_of(extended)
    return tuple(EXTENSION_HEADER + guid + struct.pack(">II", len(extended), offset)
                 + extended[offset:offset + _PORTION] for offset in range(0, len(extended), _PORTION))


def upright(packet: bytes) -> bytes:
    """``packet`` with any tiff:Orientation set to 1 (normal), for pixels already turned upright."""
    return _ORIENTATION.sub(rb"\g<1>1", packet)


def exif_tags(exif: bytes | Image.Exif | None) -> Image.Exif:
    """EXIF as tags a TIFF writer takes and more can be added to: ``exif`` itself where it is tags already, else
    parsed from its bytes (empty where there are none)."""
    if isinstance(exif, Image.Exif):
        return exif
    tags = Image.Exif()
    if exif:
        tags.load(exif)
    return tags


def save_options(fmt: str, packet: bytes | None, exif: bytes | None, notes: list[str]) -> dict[str, Any]:
    """Pillow ``save`` keywords that write ``packet`` into a ``fmt`` file (none where the format has no XMP).

    A TIFF's XMP is one of its tags, which Pillow takes from ``exif`` or ``tiffinfo`` but never both: it is
    added to the file's ``exif`` (given as bytes), and the keywords replace an ``exif`` keyword of their own.
    """
    if packet is None or fmt not in ("JPEG", "WEBP", "PNG", "TIFF"):
        return {}
    if fmt == "JPEG" and len(packet) > JPEG_MAX:  # imageio splits such a packet first (xmp_split) where it can
        notes.append(f"XMP metadata dropped: {len(packet):,} bytes do not fit in a JPEG's XMP segment")
        return {}
    if fmt in ("JPEG", "WEBP"):
        return {"xmp": packet}
    if fmt == "TIFF":
        tags = exif_tags(exif)
        tags[_TIFF_XMP_TAG] = packet
        return {"exif": tags}
    try:
        text = packet.decode("utf-8")
    except UnicodeDecodeError:
        notes.append("XMP metadata dropped: it is not UTF-8, which PNG requires")
        return {}
    chunk = PngImagePlugin.PngInfo()
    chunk.add_itxt("XML:com.adobe.xmp", text)
    return {"pnginfo": chunk}
