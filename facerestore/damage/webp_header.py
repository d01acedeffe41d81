"""What a lossy WebP file's own header says about its compression: the quantiser index of its luma.

A lossy WebP holds one VP8 key frame (RFC 6386). Its frame header states the quantiser indices (0 finest .. 127
coarsest) the encoder used: one base index and, where the frame is split into segments (libwebp uses four), a
value per segment, absolute or added to the base. The luma AC index is what the visible damage follows, as a
JPEG's follows its luma table; the index of a frame with segments is their mean. An animated file's is its first
frame's (the one read). A lossless (VP8L) file has none, nor a file whose header cannot be read: those give None,
and their pixels alone are judged.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

MAX_INDEX = 127
_HEADER_BYTES = 256  # of the VP8 data: the frame tag, the key-frame start and the first partition's header
_SEGMENTS = 4
_ANMF_HEADER = 16  # an animation frame's X, Y, width, height, duration (3 bytes each) and flags


@dataclass(frozen=True)
class WebpInfo:
    luma_index: float  # the luma AC quantiser index, 0 (finest) .. 127; the mean over segments where there are
    segments: int      # 1, or the number of segments whose indices were averaged


class _BoolDecoder:
    """RFC 6386 section 7: the boolean entropy decoder the frame header is coded with."""

    def __init__(self, data: bytes):
        self._data, self._pos = data, 2
        self._value = int.from_bytes(data[:2].ljust(2, b"\0"), "big")
        self._range, self._bits = 255, 0

    def bool(self, probability: int = 128) -> int:
        split = 1 + (((self._range - 1) * probability) >> 8)
        big_split = split << 8
        if self._value >= big_split:
            bit, self._range, self._value = 1, self._range - split, self._value - big_split
        else:
            bit, self._range = 0, split
        while self._range < 128:
            self._value, self._range = self._value << 1, self._range << 1
            self._bits += 1
            if self._bits == 8:
                self._bits = 0
                if self._pos < len(self._data):
                    self._value |= self._data[self._pos]
                self._pos += 1
        return bit

    def literal(self, bits: int) -> int:
        value = 0
        for _ in range(bits):
            value = (value << 1) | self.bool()
        return value

    def signed(self, bits: int) -> int:
        magnitude = self.literal(bits)
        return -magnitude if self.bool() else magnitude

    def optional_signed(self, bits: int) -> int:
        """A field sent only when its flag is set (0 otherwise)."""
        return self.signed(bits) if self.bool() else 0

    @property
    def overrun(self) -> bool:
        return self._pos > len(self._data) + 1


def read_webp_info(fp: BinaryIO) -> WebpInfo | None:
    """The lossy WebP file's quantiser facts from its header (``fp`` at any position), None for a lossless or
    unreadable one. An animated file's are its first frame's: the frame that is read and restored."""
    fp.seek(0)
    head = fp.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        return None
    return _image_info(fp, None)


def _image_info(fp: BinaryIO, end: int | None) -> WebpInfo | None:
    """The first image's quantiser facts among the chunks from ``fp``'s position (up to ``end``, an offset)."""
    while end is None or fp.tell() + 8 <= end:
        chunk = fp.read(8)
        if len(chunk) < 8:
            return None
        fourcc, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        if fourcc == b"VP8 ":
            return _frame_info(fp.read(min(size, _HEADER_BYTES)))
        if fourcc == b"VP8L":
            return None
        if fourcc == b"ANMF" and end is None:  # frames hold no frames
            # The frame's position, size, duration and flags (16 bytes), then its own ALPH and VP8/VP8L chunks.
            start = fp.tell()
            fp.seek(_ANMF_HEADER, 1)
            return _image_info(fp, start + size)
        fp.seek(size + (size & 1), 1)  # chunks are padded to an even size
    return None


def _frame_info(data: bytes) -> WebpInfo | None:
    # The frame tag (3 bytes: bit 0 clear for a key frame), the start code and the two sizes (7 more).
    if len(data) < 11 or data[0] & 1 or data[3:6] != b"\x9d\x01\x2a":
        return None
    header = _BoolDecoder(data[10:])
    header.literal(2)  # colour space, clamping
    segment_q: list[int] | None = None
    absolute = False
    if header.bool():  # segmentation enabled
        update_map = header.bool()
        if header.bool():  # segment data updated
            absolute = bool(header.bool())
            segment_q = [header.optional_signed(7) for _ in range(_SEGMENTS)]
            for _ in range(_SEGMENTS):
                header.optional_signed(6)  # loop-filter strength per segment
        if update_map:
            for _ in range(3):
                if header.bool():
                    header.literal(8)  # segment tree probability
    header.literal(1 + 6 + 3)  # filter type, loop-filter level, sharpness
    if header.bool() and header.bool():  # loop-filter deltas enabled, and updated here
        for _ in range(8):
            header.optional_signed(6)
    header.literal(2)  # DCT partitions
    base = header.literal(7)
    if header.overrun:
        return None
    if segment_q is None:
        return WebpInfo(float(base), 1)
    indices = [q if absolute else base + q for q in segment_q]
    clamped = [min(MAX_INDEX, max(0, q)) for q in indices]
    return WebpInfo(sum(clamped) / len(clamped), len(clamped))
