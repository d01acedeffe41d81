"""A lossless copy of a JPEG (a PNG, TIFF, BMP or lossless WebP of its decoded pixels): its luma steps, read back.

A JPEG stored each 8x8 block's DCT coefficients as multiples of the file's steps; a copy keeps the decoded pixels,
so their block DCT still lies near those multiples, off by the decoder's rounding and the colour conversion's (a
fraction of a level), except in blocks where the conversion to RGB clipped, which are not read. A frequency's step
is read where enough of its coefficients lie near its multiples, beyond what chance puts there; steps below
``MIN_STEP`` are not read (the finest, at high qualities, where chance and rounding hide a lattice), nor is the DC
step (a block's mean carries the decoder's rounding eightfold). With the steps, a restoration of the copy is held
within the file's luma intervals as the JPEG's own would be (:class:`facerestore.jpeg_constraint.JpegConstraint`);
chroma, which a copy gives no steps for, is left free. Where every step read is the step of one IJG table (libjpeg's
and Pillow's tables, scaled by quality: what most software writes), the copy gets that whole table, the finest and
the DC steps included, as the JPEG file would; otherwise the frequencies without a step are left free. A copy of a
JPEG that was itself saved again on another grid cannot be told from a single save: its intervals are the last
save's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facerestore.damage.analysis import Damage
from facerestore.damage.jpeg_pixels import luma255
from facerestore.damage.jpeg_tables import standard_tables
from facerestore.imageio import LoadedImage
from facerestore.jpeg_constraint import BLOCK, JpegConstraint, block_coefficients

MIN_STEP = 4
MAX_STEP = 255  # baseline JPEG's largest
TOLERANCE = 1.0  # levels: a coefficient this near a multiple of the step lies on it
MIN_SHARE = 0.9  # of a frequency's coefficients on the lattice beyond chance (blocks where RGB clipped lie off it)
NEAR_BEST = 0.1  # a divisor shares as many as the step, give or take chance: 0.05 at 30 coefficients, twice that
MIN_COEFFICIENTS = 30  # away from zero: fewer cannot tell a lattice from chance
MAX_COEFFICIENTS = 2048  # a frequency's coefficients a step is judged on, spread over the image
MIN_FREQUENCIES = 6  # steps found; fewer and the pixels are not taken for a copy


def luma_steps(pixels: np.ndarray) -> np.ndarray:
    """The 64 luma steps (row by row) of 8x8 blocks from the top-left corner of decoded 8-bit ``pixels`` (H x W x C
    in [0, 1]); 0 where the pixels do not show one.

    A frequency's coefficients away from zero (beyond ``MIN_STEP / 2``: rounding moves a zero by less) are judged
    against every step: a step's share is how many lie within ``TOLERANCE`` of its multiples, beyond the share that
    chance puts there (a fine lattice catches many coefficients that lie off the true one). The true step's share
    is near 1; one step more or less moves its multiples off them, and a multiple of it misses its odd multiples,
    but its divisors do as well as it give or take chance, so where the best share is at least ``MIN_SHARE`` the
    step is the largest whose share is near the best."""
    blocks = _luma_blocks(pixels)
    return _steps(blocks[0][~blocks[1]]) if blocks is not None else np.zeros(BLOCK * BLOCK, dtype=np.int64)


def completed_steps(steps: np.ndarray) -> np.ndarray:
    """``steps`` (64, row by row, 0 where not read) completed from the IJG luma tables whose steps are all of those
    read: each step they do not show where those tables agree on it. Such a table is what the JPEG was saved with;
    unread steps are the finest (under ``MIN_STEP``), the DC and frequencies too rarely used to show, and where the
    copy's file had them its restoration should be held by them too. Steps no IJG table holds are returned as read."""
    read = steps > 0
    if not read.any():
        return steps
    tables = standard_tables("luma")
    matches = tables[(tables[:, read] == steps[read]).all(axis=1)]
    if not len(matches):
        return steps
    agreed = (matches == matches[0]).all(axis=0)
    return np.where(~read & agreed, matches[0], steps)


def _luma_blocks(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The luma DCT coefficients of the whole blocks of ``pixels`` (one row per block, rows of blocks in order) and
    which blocks hold a clipped value; None where no whole block fits."""
    rows, cols = pixels.shape[0] // BLOCK, pixels.shape[1] // BLOCK
    if not rows or not cols:
        return None
    whole = pixels[:rows * BLOCK, :cols * BLOCK]
    clipped = ((whole <= 0) | (whole >= 1)).any(axis=2).reshape(rows, BLOCK, cols, BLOCK).any(axis=(1, 3))
    return block_coefficients(luma255(whole), rows, cols), clipped.ravel()


def _steps(coefficients: np.ndarray) -> np.ndarray:
    """:func:`luma_steps` from the coefficients of the blocks it may read."""
    steps = np.zeros(BLOCK * BLOCK, dtype=np.int64)
    for f in range(1, BLOCK * BLOCK):  # not DC
        values = np.abs(coefficients[:, f])
        values = values[values > MIN_STEP / 2]
        if len(values) < MIN_COEFFICIENTS:
            continue
        if len(values) > MAX_COEFFICIENTS:
            values = values[np.linspace(0, len(values) - 1, MAX_COEFFICIENTS).astype(np.int64)]
        candidates = np.arange(MIN_STEP, min(MAX_STEP, int(values.max()) + 1) + 1, dtype=np.float32)
        if not len(candidates):
            continue
        off = np.abs(values[:, None] - candidates * np.rint(values[:, None] / candidates))
        chance = 2 * TOLERANCE / candidates  # of values off any lattice, on this one
        share = (np.mean(off <= TOLERANCE, axis=0) - chance) / (1 - chance)
        best = share.max()
        if best >= MIN_SHARE:
            steps[f] = int(candidates[np.flatnonzero(share >= best - NEAR_BEST)[-1]])
    return steps


@dataclass(frozen=True)
class JpegCopyConstraint:
    """A copy's luma intervals, on blocks ``offset`` (rows, columns) from its top-left corner."""

    intervals: JpegConstraint
    offset: tuple[int, int]

    @classmethod
    def of(cls, loaded: LoadedImage, damage: Damage) -> JpegCopyConstraint | None:
        """The constraint of an image that is not a JPEG file but whose pixels the analysis read a single JPEG
        save in (``damage``), or None where its steps do not show."""
        if loaded.jpeg is not None or damage.jpeg_quality_source != "pixels":
            return None
        if loaded.bit_depth != 8 or damage.grid_offset is None:
            return None
        oy, ox = damage.grid_offset
        pixels = loaded.pixels[oy:, ox:]
        blocks = _luma_blocks(pixels)
        if blocks is None:
            return None
        coefficients, clipped = blocks
        steps = _steps(coefficients[~clipped])
        if np.count_nonzero(steps) < MIN_FREQUENCIES:
            return None
        steps = completed_steps(steps)
        grid = (pixels.shape[0] // BLOCK, pixels.shape[1] // BLOCK)
        return cls(JpegConstraint.of_luma(coefficients, grid, steps), (oy, ox))

    def enforce(self, restored: np.ndarray) -> np.ndarray:
        """``restored`` (H x W x C floats in [0, 1]) with the luma of every whole block on the copy's grid clipped
        into its intervals; the rows and columns before the grid's first block only clamped to [0, 1]."""
        oy, ox = self.offset
        inside = self.intervals.enforce(restored[oy:, ox:])  # a new array, clamped
        if not oy and not ox:
            return inside  # the usual copy, uncropped: no second image-sized array
        out = np.clip(restored, 0.0, 1.0).astype(np.float32, copy=False)  # clip made the copy
        out[oy:, ox:] = inside
        return out
