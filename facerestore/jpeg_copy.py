"""A lossless copy of a JPEG (a PNG, TIFF, BMP or lossless WebP of its decoded pixels) held within the luma
quantisation intervals of its JPEG, as the JPEG file itself is (:class:`facerestore.jpeg_constraint.JpegConstraint`):
the steps are read back from its pixels (:mod:`facerestore.damage.jpeg_steps`), completed from the IJG table they
belong to where they all belong to one; frequencies without a step are left free. Such a copy's chroma is held too
where its Cb and Cr lie on the lattice of the same quality's IJG chroma table at one sampling and grid (4:4:4,
4:2:0, 4:2:2 or 4:4:0; a halved axis puts the chroma blocks on every other luma block, either one); elsewhere chroma
is left free. A copy of a JPEG turned by 90 or 270 degrees (the analysis reads its blocks as transposed,
``Damage.jpeg_transposed``) is held on its pixels transposed, as its JPEG stored them. A copy of a JPEG that was
itself saved again on another grid cannot be told from a single save: its intervals are the last save's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facerestore.damage.analysis import Damage
from facerestore.damage.block_dct import block_coefficients
from facerestore.damage.jpeg_steps import (MIN_FREQUENCIES, SAMPLE_BLOCKS, completed_steps, ijg_chroma_steps,
                                           lattice_share, luma_blocks, read_steps)
from facerestore.imageio import LoadedImage
from facerestore.jpeg_constraint import SAMPLINGS, JpegConstraint, stored_chroma

# The sampling and grid whose chroma lies best on the lattice is the copy's where its share is at least CHROMA_SHARE
# and every grid with another origin reads CHROMA_MARGIN less. Samplings on the same origin share blocks where the
# chroma is smooth (at JPEG 95 a 4:2:0 copy read 0.79 as itself, 0.74 as 4:4:0 and 0.67 as 4:2:2), so they only
# compete on their share. On validation faces at 256 and 512 px, JPEG 75-95 at 4:4:4 and 4:2:0, the file's own read
# 0.79-0.99 and every other origin less than 0.1. Two grids are on the same origin where their blocks' edges nest on
# each axis (_nested): a 4:2:0 copy cropped off its 16 px chroma grid, whose chroma blocks start 8 px into the luma
# grid, read 0.55 as 4:2:2 a block row above, and that grid, taken for another origin, refused its own (0.83).
CHROMA_SHARE = 0.7
CHROMA_MARGIN = 0.3
CHROMA_SAMPLE = 512  # px: the chroma lattice is judged on a crop at most this high and wide


@dataclass(frozen=True)
class JpegCopyConstraint:
    """A copy's intervals: luma on blocks ``offset`` (rows, columns) from its top-left corner (its luma grid), with Cb
    and Cr where its chroma grid was found: in ``intervals`` where the chroma blocks start on that origin, else alone
    in ``chroma``, on blocks from ``chroma_offset`` (a cropped copy's, where its sampling halves an axis, can start a
    luma block further along it). Where ``transposed`` (a copy of a JPEG turned by a quarter), all of it holds the
    pixels transposed, and both offsets are in their rows and columns."""

    intervals: JpegConstraint
    offset: tuple[int, int]
    chroma: JpegConstraint | None = None
    chroma_offset: tuple[int, int] = (0, 0)
    transposed: bool = False

    @classmethod
    def of(cls, loaded: LoadedImage, damage: Damage) -> JpegCopyConstraint | None:
        """The constraint of an image that is not a JPEG file but whose pixels the analysis read a single JPEG
        save in (``damage``), or None where its steps do not show."""
        if loaded.jpeg is not None or damage.jpeg_quality_source != "pixels":
            return None
        # Any bit depth: a PNG or TIFF widened from the JPEG's 8-bit pixels (x257) keeps their steps, and the
        # analysis reads its quality from them, so it is held as its 8-bit copy is.
        if damage.grid_offset is None:
            return None
        transposed = damage.jpeg_transposed
        oy, ox = damage.grid_offset[::-1] if transposed else damage.grid_offset
        pixels = _as_stored(loaded.pixels, transposed)[oy:, ox:]
        blocks = luma_blocks(pixels, SAMPLE_BLOCKS)
        if blocks is None:
            return None
        steps = read_steps(blocks[0][~blocks[1]])
        if np.count_nonzero(steps) < MIN_FREQUENCIES:
            return None
        steps = completed_steps(steps)
        chroma, factors, (cy, cx) = None, None, (0, 0)
        if pixels.shape[2] == 3:
            table = ijg_chroma_steps(steps)
            found = _chroma_grid(pixels, table) if table is not None else None
            if found is not None:
                chroma, (factors, (cy, cx)) = table, found
        if not cy and not cx:
            intervals, apart = JpegConstraint.of_pixels(pixels, steps, chroma, factors), None
        else:  # luma on its own grid, its blocks before the chroma's included; chroma alone (luma steps of 0: free)
            intervals = JpegConstraint.of_pixels(pixels, steps)
            apart = JpegConstraint.of_pixels(pixels[cy:, cx:], np.zeros_like(steps), chroma, factors)
        return cls(intervals, (oy, ox), apart, (oy + cy, ox + cx), transposed) if intervals is not None else None

    def enforce(self, restored: np.ndarray) -> np.ndarray:
        """``restored`` (H x W x C floats in [0, 1]) with every whole block on the copy's grids clipped into its
        intervals (luma, then chroma where it is held apart); the rows and columns before a grid's first block only
        clamped to [0, 1]. A change of luma leaves Cb and Cr as they were (but where the clamp moves them)."""
        out = _held(self.intervals, _as_stored(restored, self.transposed), self.offset)
        out = out if self.chroma is None else _held(self.chroma, out, self.chroma_offset)
        return np.ascontiguousarray(_as_stored(out, self.transposed))  # a transpose undoes itself


def _as_stored(pixels: np.ndarray, transposed: bool) -> np.ndarray:
    """``pixels`` with their blocks as the copy's JPEG stored them: transposed for a copy turned by a quarter (the
    turn's flip only changes the signs of coefficients, which the intervals, read from these pixels, follow)."""
    return pixels.swapaxes(0, 1) if transposed else pixels


def _held(intervals: JpegConstraint, restored: np.ndarray, offset: tuple[int, int]) -> np.ndarray:
    """``restored`` with the blocks from ``offset`` on clipped into ``intervals``; what lies before them only
    clamped to [0, 1]."""
    oy, ox = offset
    inside = intervals.enforce(restored[oy:, ox:])  # a new array, clamped
    if not oy and not ox:
        return inside  # the usual copy, uncropped: no second image-sized array
    out = np.clip(restored, 0.0, 1.0).astype(np.float32, copy=False)  # clip made the copy
    out[oy:, ox:] = inside
    return out


def _chroma_grid(pixels: np.ndarray, steps: np.ndarray) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """(sampling, origin) of the chroma blocks of a copy's ``pixels`` (on its luma grid) whose Cb and Cr lie on the
    lattice of chroma ``steps``, judged on a central crop; None where no grid stands out."""
    height, width = pixels.shape[:2]
    # A central crop on the luma grid, its corner on every sampling's grid (a multiple of 16 from the origin).
    top = max(0, (height - CHROMA_SAMPLE) // 2) // 16 * 16
    left = max(0, (width - CHROMA_SAMPLE) // 2) // 16 * 16
    crop = pixels[top:top + CHROMA_SAMPLE, left:left + CHROMA_SAMPLE]
    shares = {}
    for factors in SAMPLINGS.values():  # every chroma sampling a JPEG file is held at
        rows, cols = crop.shape[0] // factors[0] * factors[0], crop.shape[1] // factors[1] * factors[1]
        planes = stored_chroma(crop[:rows, :cols], factors)
        # A grid 8 px further along a halved axis is the same stored samples 4 further: its blocks, not new planes.
        for origin in [(dy, dx) for dy in range(0, 8 * factors[0], 8) for dx in range(0, 8 * factors[1], 8)]:
            part = planes[:, origin[0] // factors[0]:, origin[1] // factors[1]:]
            block_rows, block_cols = part.shape[1] // 8, part.shape[2] // 8
            if not block_rows or not block_cols:
                continue
            coefficients = np.concatenate([block_coefficients(plane, block_rows, block_cols) for plane in part])
            share = lattice_share(coefficients, steps)
            if share is not None:
                shares[factors, origin] = share
    if not shares:
        return None
    best = max(shares, key=shares.get)
    elsewhere = [share for grid, share in shares.items() if not _nested(grid, best)]
    if shares[best] < CHROMA_SHARE or shares[best] - max(elsewhere, default=-1.0) < CHROMA_MARGIN:
        return None
    return best


def _nested(a: tuple[tuple[int, int], tuple[int, int]], b: tuple[tuple[int, int], tuple[int, int]]) -> bool:
    """Whether two (sampling, origin) chroma grids are on the same origin: on each axis the edges of the one with the
    larger blocks are edges of the other's (origins equal modulo the smaller blocks, 8 px times the lesser factor)."""
    return all((oa - ob) % (8 * min(fa, fb)) == 0 for fa, fb, oa, ob in zip(a[0], b[0], a[1], b[1]))
