"""JPEG files that end without their EOI marker yet hold every pixel.

Some writers leave off the two-byte end-of-image marker, and some copies lose it. libjpeg decodes such a file
whole with a warning, so every viewer shows it; Pillow refuses it as truncated. :func:`closed_copy` tells the
two apart for a sequential JPEG with one scan: the scan is whole when bytes added after it change no pixel,
since a scan cut short decodes them as image data (a lost last byte that held only padding, or bits too
small to change a pixel, passes: the pixels are then those of the whole file). Progressive files stay
refused: one cut between scans decodes without error at a lower quality.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

EOI = b"\xff\xd9"
SOS = b"\xff\xda"
_SEQUENTIAL_HUFFMAN = (0xC0, 0xC1)   # SOF0 baseline, SOF1 extended
_STANDALONE = {0x01, 0xD8, *range(0xD0, 0xD8)}   # TEM, SOI, RST0-7 carry no length
# Scan data never holds an unstuffed 0xFF, so a decoder reads these bytes as more of the scan. libjpeg reads
# zero bits past the end of the data; the first filler differs from that in its first bit, the second later.
_FILLERS = (b"\xfe" * 512, bytes((i * 37 + 11) % 255 for i in range(512)))


def _scan_start(data: bytes) -> int | None:
    """Where the first SOS marker of a sequential Huffman JPEG starts, walking the segments before it."""
    pos, sequential = 2, False
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == 0xDA:
            return pos if sequential else None
        if marker in _STANDALONE:
            pos += 2
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a frame header (SOFn)
            sequential = marker in _SEQUENTIAL_HUFFMAN
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
    return None


def _pixels(data: bytes) -> np.ndarray | None:
    try:
        with Image.open(io.BytesIO(data), formats=("JPEG",)) as im:
            im.load()
            return np.asarray(im)
    except Exception:  # noqa: BLE001 - any failure means "not provably whole"
        return None


def closed_copy(data: bytes) -> bytes | None:
    """``data`` with its EOI marker added, if it is a one-scan sequential JPEG whose scan is whole; else None."""
    if data.endswith(EOI):
        return None
    start = _scan_start(data)
    if start is None or data.find(SOS, start + 2) != -1:   # a second scan: the file could be cut between them
        return None
    closed = data + EOI
    whole = _pixels(closed)
    for filler in _FILLERS:
        padded = _pixels(data + filler + EOI)
        if whole is None or padded is None or not np.array_equal(whole, padded):
            return None
    return closed
