"""Photoshop image resources, and the IPTC-IIM record among them: captions, keywords, credits, copyright.

Photoshop, Lightroom, photo agencies and newsrooms keep a photo's IPTC-IIM datasets in resource 1028 of the
Photoshop image resource blocks (the "IRB": ``8BIM``, a 16-bit id, a padded Pascal name, a 32-bit size, the
data padded to even), held in a JPEG's APP13 segments after ``Photoshop 3.0\\0`` and in a TIFF's tag 34377; a
TIFF also has the IPTC record alone in its IPTC/NAA tag 33723. Pillow reads them but writes neither back, so
this module reads the blocks, leaves out those that describe the old pixels, and gives them back as the
output's format takes them: APP13 payloads for a JPEG, tags for a TIFF. PNG and WebP have no place for them
(their XMP carries IPTC Core where the software that wrote the file put it there).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

APP13_HEADER = b"Photoshop 3.0\0"
IPTC = 0x0404                      # the IPTC-IIM record (1028)
TIFF_IPTC, TIFF_PHOTOSHOP = 33723, 34377
# The JPEG thumbnail of the pixels as they were (1036; 1033 is Photoshop 4's, in BGR order). Kept, it would show
# viewers and file browsers the damaged picture for the restored one, as a stale EXIF preview would (imageio
# drops that too). Every other resource says something about the photo, not about its old pixels: the IPTC
# record itself, and its MD5 (1061, which Photoshop compares with the record to tell whether another program
# edited it: both travel unchanged, so it still matches), resolution (1005: the pixel grid is unchanged),
# copyright flag and URL, slices, guides, print settings... They are kept as they were, byte for byte.
_OLD_PIXELS = frozenset({0x0409, 0x040C})
_SIGNATURES = (b"8BIM", b"PHUT", b"AgHg", b"DCSR")  # Photoshop's, and those of older writers readers accept
# A JPEG segment holds 65,533 bytes of payload; the header repeats in each APP13 segment.
_SEGMENT_DATA = 65_533 - len(APP13_HEADER)


def _blocks(irb: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """(each resource's id and its whole block, bytes as they were), and how many bytes at the end are no block."""
    blocks: list[tuple[int, bytes]] = []
    pos = 0
    while pos + 12 <= len(irb) and irb[pos:pos + 4] in _SIGNATURES:
        code, name_length = struct.unpack_from(">HB", irb, pos + 4)
        start = pos + 6 + (name_length + 2) // 2 * 2          # the name with its length byte, padded to even
        if start + 4 > len(irb):
            break
        (size,) = struct.unpack_from(">I", irb, start)
        end = start + 4 + size + (size & 1)
        if start + 4 + size > len(irb):
            break
        blocks.append((code, irb[pos:end].ljust(end - pos, b"\0")))  # a last block may lack its padding byte
        pos = end
    return blocks, len(irb[pos:].rstrip(b"\0"))  # zeros after the last block are padding, not damage


def _data(block: bytes) -> bytes:
    name_length = block[6]
    start = 6 + (name_length + 2) // 2 * 2
    (size,) = struct.unpack_from(">I", block, start)
    return block[start + 4:start + 4 + size]


def _block(code: int, data: bytes) -> bytes:
    return b"8BIM" + struct.pack(">HHI", code, 0, len(data)) + data + b"\0" * (len(data) & 1)


def kept(irb: bytes | None, notes: list[str]) -> bytes | None:
    """``irb``'s resources less those that picture the old pixels (and a damaged end, with a note); None if
    nothing is left."""
    if not irb:
        return None
    blocks, damaged = _blocks(irb)
    if damaged:
        notes.append(f"Photoshop image resources: {damaged:,} damaged bytes at their end dropped")
    kept_blocks = b"".join(block for code, block in blocks if code not in _OLD_PIXELS)
    return kept_blocks or None


def from_jpeg(applist: Iterable[tuple[str, bytes]]) -> bytes | None:
    """The image resources of a JPEG's APP13 segments (Pillow's ``applist``), joined in file order: Photoshop
    splits resources larger than a segment across several, and readers join them the same way."""
    parts = [payload[len(APP13_HEADER):] for name, payload in applist
             if name == "APP13" and payload.startswith(APP13_HEADER)]
    return b"".join(parts) or None


def from_tiff(tags: Any) -> bytes | None:
    """The image resources of a TIFF (its tag 34377), with the record of its IPTC/NAA tag 33723 as resource 1028
    where it has one (the tag is the TIFF's own place for it; Photoshop writes both, the same)."""
    irb = _tag_bytes(tags, TIFF_PHOTOSHOP)
    iptc = _tag_bytes(tags, TIFF_IPTC)
    if iptc is None:
        return irb
    blocks, _ = _blocks(irb or b"")
    if any(code == IPTC and _data(block) == iptc for code, block in blocks):
        return irb
    others = [block for code, block in blocks if code != IPTC]
    return b"".join(others) + _block(IPTC, iptc)


def _tag_bytes(tags: Any, tag: int) -> bytes | None:
    """A TIFF tag's value as the bytes it holds: some writers store the IPTC record as an array of LONGs."""
    value = tags.get(tag)
    if isinstance(value, bytes):
        return value or None
    if isinstance(value, tuple) and value and all(isinstance(v, int) for v in value):
        code = {1: "B", 3: "H", 4: "L", 7: "B"}.get(tags.tagtype.get(tag, 1))
        if code is None:
            return None
        try:
            order = ">" if tags.prefix == b"MM" else "<"  # the file's own byte order
            return struct.pack(f"{order}{len(value)}{code}", *value)
        except struct.error:
            return None
    return None


def iptc(irb: bytes | None) -> bytes | None:
    """The IPTC-IIM datasets (resource 1028), or None."""
    blocks, _ = _blocks(irb or b"")
    return next((_data(block) for code, block in blocks if code == IPTC), None)


def jpeg_payloads(irb: bytes) -> list[bytes]:
    """APP13 payloads holding ``irb``: a block that fits in one segment is not split, a larger one is split across
    segments from where the last one ends (readers join the segments' data, as :func:`from_jpeg` does)."""
    payloads: list[bytes] = []
    current = b""
    for _, block in _blocks(irb)[0]:
        if current and len(current) + len(block) > _SEGMENT_DATA and len(block) <= _SEGMENT_DATA:
            payloads.append(current)
            current = b""
        current += block
        while len(current) > _SEGMENT_DATA:
            payloads.append(current[:_SEGMENT_DATA])
            current = current[_SEGMENT_DATA:]
    if current:
        payloads.append(current)
    return [APP13_HEADER + payload for payload in payloads]


def tiff_tags(irb: bytes) -> dict[int, bytes]:
    """The TIFF tags for ``irb``: the IPTC record in its IPTC/NAA tag, and the resources in Photoshop's tag where
    they hold more than that record."""
    blocks, _ = _blocks(irb)
    tags = {}
    record = iptc(irb)
    if record is not None:
        tags[TIFF_IPTC] = record
    if any(code != IPTC for code, _ in blocks):
        tags[TIFF_PHOTOSHOP] = irb
    return tags


def dropped(irb: bytes, fmt: str) -> str:
    """The note for a ``fmt`` output that cannot hold ``irb``."""
    if iptc(irb) is not None:
        return (f"IPTC metadata (caption, keywords, credits, copyright) dropped: {fmt} has no place for it; "
                "write JPEG or TIFF to keep it")
    return f"Photoshop image resources dropped: {fmt} has no place for them"
