"""Keep a restored JPEG consistent with its own file: the quantisation constraint.

A JPEG stores every 8x8 block of its Y, Cb and Cr planes as DCT coefficients divided by the file's quantisation
steps and rounded: the original's coefficient ``c`` was stored as ``k = round(c / q)``, so it lies in
``[(k - 1/2) q, (k + 1/2) q]``. The indices ``k`` come back from the decoded pixels (their block DCT divided by
``q`` and rounded; the decoder's rounding is far below half a step except for the finest steps of the best
qualities). Clipping the restored image's coefficients into those intervals is the projection onto a convex
set that holds the original, so it moves every block of the restoration nearer to the original, never farther
(in YCbCr, before the 8-bit rounding of the output). It takes back what a model invents beyond what the file
allows, which matters most at high qualities, where the intervals are narrow and the photo good.

Chroma stored at half resolution (4:2:0, 4:2:2, 4:4:0) was averaged over 2x2 (2x1, 1x2) pixels before its DCT, and
the decoder spreads it back with libjpeg's "fancy" triangle filter (Pillow's default): the box average of decoded
chroma is the stored plane smoothed by [1/8, 3/4, 1/8] along each halved axis, which is undone here before the
indices are read. A correction of a half-resolution plane is spread back by repetition: the smallest change at
full resolution whose box average is that correction.

It applies to the pixels of a JPEG file as decoded (after any EXIF turn, which is undone for it), in YCbCr or gray,
to the blocks the image covers completely: edge blocks were padded with pixels the file does not keep. 4:1:1
chroma is left alone (its luma is kept). It does not apply where the damage analysis finds an earlier, harsher
compression than the file's own (a quality 10 photo re-saved at 95): the file's intervals then surround that
damage, and clipping into them would undo the restoration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facerestore.damage.analysis import Damage
from facerestore.damage.block_dct import BLOCK, block_coefficients, block_pixels
from facerestore.damage.jpeg_pixels import luma255
from facerestore.imageio import LoadedImage, apply_orientation, undo_orientation
from facerestore.metrics import LUMA_WEIGHTS

BAND = 256  # image rows per pass: whole blocks of every sampling (a multiple of 16)
# JFIF's full-range BT.601 YCbCr, as libjpeg converts: rows Y (the runtime's luma), Cb, Cr (chroma centred on 128),
# and its inverse.
_TO_YCC = np.vstack([LUMA_WEIGHTS, [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]]).astype(np.float64)
_FROM_YCC = np.linalg.inv(_TO_YCC).astype(np.float32)
_TO_CHROMA_LEVELS = (_TO_YCC[1:] * 255).astype(np.float32)  # Cb, Cr from pixels in [0, 1]
# Chroma sampling -> (rows, columns) of full-resolution pixels per stored chroma sample.
SAMPLINGS = {"4:4:4": (1, 1), "4:2:2": (1, 2), "4:2:0": (2, 2), "4:4:0": (2, 1)}
# The inverse of [1/8, 3/4, 1/8]: taps sqrt(2) r^|n| with r = 2 sqrt(2) - 3, cut where they fall below 1e-4
# (what is cut moves a chroma sample by under 0.01 of a level).
_R = 2 * np.sqrt(2) - 3
_UNSMOOTH = np.sqrt(2) * _R ** np.abs(np.arange(-5, 6))
_UNSMOOTH = (_UNSMOOTH / _UNSMOOTH.sum()).astype(np.float32)


@dataclass(frozen=True)
class _Plane:
    channel: int  # 0 Y (or gray), 1 Cb, 2 Cr
    factors: tuple[int, int]  # full-resolution pixels per stored sample, rows and columns
    blocks: tuple[int, int]  # whole blocks, rows and columns
    half_steps: np.ndarray  # half of each of the 64 quantisation steps, float32
    centres: np.ndarray  # (blocks, 64) centres k q of the stored intervals, float32


def _shrink(plane: np.ndarray, factors: tuple[int, int]) -> np.ndarray:
    """Box average over ``factors`` pixels, the plane edge-padded to whole samples (as the encoder pads)."""
    fy, fx = factors
    if factors == (1, 1):
        return plane
    if plane.shape[0] % fy or plane.shape[1] % fx:
        plane = np.pad(plane, ((0, -plane.shape[0] % fy), (0, -plane.shape[1] % fx)), mode="edge")
    if fy == 2:
        plane = plane[0::2] + plane[1::2]
    if fx == 2:
        plane = plane[:, 0::2] + plane[:, 1::2]
    return plane * np.float32(1 / (fy * fx))


def _unsmooth(planes: np.ndarray, axis: int) -> np.ndarray:
    """Undo [1/8, 3/4, 1/8] along one axis (edges repeated): the stored chroma from its decoded box average."""
    r = _UNSMOOTH.size // 2
    padded = np.pad(planes, [(r, r) if a == axis else (0, 0) for a in range(planes.ndim)], mode="edge")
    n = planes.shape[axis]

    def shifted(offset: int) -> np.ndarray:
        index = [slice(None)] * planes.ndim
        index[axis] = slice(r + offset, r + offset + n)
        return padded[tuple(index)]

    out = shifted(0) * _UNSMOOTH[r]
    for k in range(1, r + 1):
        pair = shifted(-k) + shifted(k)
        pair *= _UNSMOOTH[r + k]
        out += pair
    return out


def _chroma(pixels: np.ndarray, factors: tuple[int, int]) -> list[np.ndarray]:
    """Cb and Cr in 0..255 levels, box-averaged by ``factors``."""
    # Box averaging commutes with the colour transform: average R, G, B first, at full size only once.
    small = np.stack([_shrink(pixels[..., c], factors) for c in range(3)], axis=-1)
    return [small @ _TO_CHROMA_LEVELS[0] + np.float32(128), small @ _TO_CHROMA_LEVELS[1] + np.float32(128)]


def _planes(pixels: np.ndarray, luma: bool, chroma: tuple[int, int] | None) -> list[np.ndarray | None]:
    """Y (or gray) at full resolution where ``luma`` is held (else None in its place), then Cb and Cr at the file's
    chroma sampling when it is kept."""
    return [luma255(pixels) if luma else None] + (_chroma(pixels, chroma) if chroma is not None else [])


def _band_rows(plane: _Plane, y0: int, y1: int) -> tuple[int, int]:
    """The block rows of ``plane`` whose pixels lie in image rows [y0, y1) (bands start on block rows)."""
    height = BLOCK * plane.factors[0]
    return y0 // height, min(y1 // height, plane.blocks[0])


def stored_chroma(pixels: np.ndarray, factors: tuple[int, int]) -> np.ndarray:
    """Cb and Cr (2 x h x w, 0..255 levels) as a JPEG stored them at the chroma sampling ``factors``, from its
    decoded pixels: box-averaged, then libjpeg's triangle upsampling undone along each halved axis."""
    chroma = np.stack(_chroma(pixels, factors))
    for axis in (0, 1):
        if factors[axis] == 2:
            chroma = _unsmooth(chroma, axis + 1)
    return chroma


def _half_steps(table: np.ndarray) -> np.ndarray:
    """Half of each step, infinite where the step is 0 (not known: the frequency is left free)."""
    steps = np.asarray(table, dtype=np.float32)
    return np.where(steps > 0, steps / 2, np.inf).astype(np.float32)


def _centres(coefficients: np.ndarray, half_steps: np.ndarray) -> np.ndarray:
    """The centre of the interval each coefficient lies in: the nearest multiple of its step (itself where the
    step is not known)."""
    known = np.isfinite(half_steps)
    steps = np.where(known, 2 * half_steps, 1).astype(np.float32)
    return np.where(known, np.rint(coefficients / steps) * steps, coefficients).astype(np.float32, copy=False)


class JpegConstraint:
    """The quantisation intervals of one decoded JPEG file, to clip restorations of its pixels into.

    Both steps work through the image in bands of ``BAND`` rows, so their working memory stays a few bands'
    worth whatever the image size (the intervals themselves take 4 bytes per stored sample).
    """

    def __init__(self, planes: list[_Plane], orientation: int):
        self._planes = planes
        self._orientation = orientation
        self._chroma = next((p.factors for p in planes if p.channel), None)
        self._luma = planes[0].channel == 0  # a copy's chroma held apart from its luma holds no luma plane

    @classmethod
    def of(cls, loaded: LoadedImage, damage: Damage) -> JpegConstraint | None:
        """The constraint of a decoded JPEG file (``damage``: its analysis), or None where it does not hold: pixels
        that cannot be matched to the file's blocks, or a file whose pixels show an earlier, harsher compression
        than its own (a re-saved JPEG: its intervals hold that damage, not the original)."""
        info = loaded.jpeg
        if info is None or info.luma_table is None or loaded.bit_depth != 8 or loaded.mode not in ("RGB", "L"):
            return None
        if damage.double_compression:
            return None
        colour = loaded.pixels.shape[2] == 3
        if colour and not info.ycbcr:
            return None  # RGB or CMYK components: the decoded pixels are not its YCbCr planes
        factors = SAMPLINGS.get(info.subsampling or "") if colour and info.chroma_table is not None else None
        stored = undo_orientation(loaded.pixels, loaded.orientation)
        return cls.of_pixels(stored, info.luma_table, info.chroma_table if factors else None, factors,
                             loaded.orientation)

    @classmethod
    def of_pixels(cls, stored: np.ndarray, luma_table: np.ndarray, chroma_table: np.ndarray | None = None,
                  factors: tuple[int, int] | None = None, orientation: int = 1) -> JpegConstraint | None:
        """The intervals of decoded pixels as the file stored them (``orientation`` turns them upright), quantised
        with ``luma_table`` and, where given, Cb and Cr with ``chroma_table`` at the chroma sampling ``factors``
        (64 steps each, row by row), in blocks from the top-left corner; None where no plane has both a whole
        block and a known step. A step of 0 is not known: that frequency is left free, and a table of no known
        step holds nothing, so its plane is not transformed at all (a copy's chroma held apart from its luma)."""
        height, width = stored.shape[:2]
        tables = [luma_table] + ([chroma_table] * 2 if factors else [])
        planes = []
        for channel, table in enumerate(tables):
            sampling = factors if channel else (1, 1)
            rows, cols = height // (BLOCK * sampling[0]), width // (BLOCK * sampling[1])
            if rows and cols and np.count_nonzero(table):
                planes.append(_Plane(channel, sampling, (rows, cols), _half_steps(table),
                                     np.empty((rows * cols, BLOCK * BLOCK), dtype=np.float32)))
        if not planes:
            return None
        constraint = cls(planes, orientation)
        # Chroma is unsmoothed across band edges, so it is read whole (a quarter of the pixels under 4:2:0).
        chroma = stored_chroma(stored, factors) if factors else None
        for y0 in range(0, height, BAND):
            luma = luma255(stored[y0:y0 + BAND]) if constraint._luma else None
            for plane in constraint._planes:
                r0, r1 = _band_rows(plane, y0, y0 + BAND)
                if r1 <= r0:
                    continue
                cols = plane.blocks[1]
                source = luma if plane.channel == 0 else chroma[plane.channel - 1][r0 * BLOCK:r1 * BLOCK]
                plane.centres[r0 * cols:r1 * cols] = _centres(block_coefficients(source, r1 - r0, cols),
                                                              plane.half_steps)
        return constraint

    def enforce(self, restored: np.ndarray) -> np.ndarray:
        """``restored`` (H x W x C floats in [0, 1], the decoded image's shape) with every whole block's
        coefficients clipped into the file's intervals, clamped to [0, 1]."""
        out = undo_orientation(restored, self._orientation).astype(np.float32)  # a copy: changed in place
        for y0 in range(0, out.shape[0], BAND):
            self._enforce_band(out[y0:y0 + BAND], y0)
        np.clip(out, 0.0, 1.0, out=out)
        return apply_orientation(out, self._orientation)

    def _enforce_band(self, band: np.ndarray, y0: int) -> None:
        """Clip the blocks of image rows [y0, y0 + len(band)), changing ``band`` (a view of the output) in place."""
        planes = _planes(band, self._luma, self._chroma)
        changes: dict[int, np.ndarray] = {}
        for plane in self._planes:
            r0, r1 = _band_rows(plane, y0, y0 + band.shape[0])
            if r1 <= r0:
                continue
            cols = plane.blocks[1]
            # Offset from each interval's centre; the part beyond half a step is taken back.
            offset = block_coefficients(planes[plane.channel], r1 - r0, cols)
            offset -= plane.centres[r0 * cols:r1 * cols]
            taken_back = np.clip(offset, -plane.half_steps, plane.half_steps)
            taken_back -= offset
            if taken_back.any():
                changes[plane.channel] = block_pixels(taken_back, r1 - r0, cols) * np.float32(1 / 255)
        if 0 in changes:
            luma = changes[0]
            # With Cb and Cr held, a change of Y is the same change of R, G and B (and of a gray plane).
            band[:luma.shape[0], :luma.shape[1]] += luma[..., None]
        if 1 in changes or 2 in changes:
            _add_chroma(band, changes.get(1), changes.get(2), self._chroma)


def _add_chroma(out: np.ndarray, cb: np.ndarray | None, cr: np.ndarray | None, factors: tuple[int, int]) -> None:
    """Add changes of the (subsampled) Cb and Cr planes to R, G, B, each sample repeated over its pixels."""
    shape = (cb if cb is not None else cr).shape
    rgb = np.zeros(shape + (3,), dtype=np.float32)
    for plane, column in ((cb, 1), (cr, 2)):
        if plane is not None:
            rgb += plane[..., None] * _FROM_YCC[:, column]
    # Repeated into one contiguous block and added once: twice as fast as an add per offset through strides.
    for axis, factor in enumerate(factors):
        if factor > 1:
            rgb = rgb.repeat(factor, axis=axis)
    out[:rgb.shape[0], :rgb.shape[1]] += rgb
