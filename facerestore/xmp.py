"""XMP metadata (ratings, keywords, captions, edit history) carried from an input to its re-encoded output.

Pillow reads a file's XMP packet into ``info["xmp"]`` for JPEG, PNG, WebP and TIFF, and writes it back through a
different door for each format. A byte-copied output keeps it anyway; this is for outputs encoded from pixels.
"""

from __future__ import annotations

import re
from typing import Any

from PIL import Image, PngImagePlugin

# A JPEG holds XMP in one APP1 segment: 65,533 bytes less its namespace header. Larger packets ("extended XMP")
# are split by a scheme Pillow does not write.
_JPEG_MAX = 65_533 - len(b"http://ns.adobe.com/xap/1.0/\0")
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


def upright(packet: bytes) -> bytes:
    """``packet`` with any tiff:Orientation set to 1 (normal), for pixels already turned upright."""
    return _ORIENTATION.sub(rb"\g<1>1", packet)


def save_options(fmt: str, packet: bytes | None, exif: bytes | None, notes: list[str]) -> dict[str, Any]:
    """Pillow ``save`` keywords that write ``packet`` into a ``fmt`` file (none where the format has no XMP).

    A TIFF's XMP is one of its tags, which Pillow takes from ``exif`` or ``tiffinfo`` but never both: it is
    added to the file's ``exif`` (given as bytes), and the keywords replace an ``exif`` keyword of their own.
    """
    if packet is None or fmt not in ("JPEG", "WEBP", "PNG", "TIFF"):
        return {}
    if fmt == "JPEG" and len(packet) > _JPEG_MAX:
        notes.append(f"XMP metadata dropped: {len(packet):,} bytes do not fit in a JPEG's XMP segment")
        return {}
    if fmt in ("JPEG", "WEBP"):
        return {"xmp": packet}
    if fmt == "TIFF":
        tags = Image.Exif()
        if exif:
            tags.load(exif)
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
