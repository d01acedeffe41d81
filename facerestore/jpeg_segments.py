"""Metadata segments added to a JPEG that Pillow has encoded, where its writer has no keyword for them.

Pillow writes EXIF, XMP and ICC segments, and one comment, but not Photoshop's APP13 (the IPTC record), the APP1
segments of extended XMP, nor a second comment. They are added after the encoder's own APPn segments (JFIF,
EXIF, XMP, ICC), before anything that is not one (a comment, the quantisation tables): the order Photoshop and
camera software write, and the only place some readers look for application segments.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

APP1, APP13, COM = 0xE1, 0xED, 0xFE
MAX_PAYLOAD = 65_533  # a segment's 16-bit length counts itself


def insert_segments(data: bytes, segments: Sequence[tuple[int, bytes]]) -> bytes:
    """``data`` (a JPEG as Pillow writes it) with ``segments`` ((marker, payload), in order) after its APPn segments.

    Raises ValueError for a payload a segment cannot hold or for data that does not start as a JPEG.
    """
    if not segments:
        return data
    if not data.startswith(b"\xff\xd8"):
        raise ValueError("not a JPEG")
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF and 0xE0 <= data[pos + 1] <= 0xEF:
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
    raw = b""
    for marker, payload in segments:
        if len(payload) > MAX_PAYLOAD:
            raise ValueError(f"{len(payload):,} bytes do not fit in a JPEG segment")
        raw += bytes((0xFF, marker)) + struct.pack(">H", 2 + len(payload)) + payload
    return data[:pos] + raw + data[pos:]
