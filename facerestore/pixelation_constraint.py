"""Pixelated images: each restored block keeps the mean the file gives it.

A nearest-neighbour upscale (:func:`facerestore.degrade.pixelate`, an old small photo zoomed, a mosaic) is made of
blocks: runs of identical rows crossed with runs of identical columns. Each block's value is the mean of the
original over it where the small image was made by averaging (a box downscale by a whole factor, a mosaic filter),
and close to it after other downscalers. So the originals lie in (or near) the set of images whose block means are
the file's block values, and the closest image of that set to a restoration is the restoration less, in each block,
the mean of what it changed there. Nothing else holds a restoration of pixelation to its photo: without it `big`
drifted the colours of a saturated portrait enough to make it 1.4-4.8 dB worse than its input. On the validation
faces pixelated by 1.2-4 at 256 and 512 px every model gained more with it on every damage and size, none of 20
faces worse (`big` +1.0 to +1.9 dB more on upscales by 1.2-1.5; runs/README.txt, "Pixelation constraint").

The blocks are taken from the file itself, and only where they explain the pixelation the analysis read (their
mean size on each axis at least ``MIN_SIZE_SHARE`` of it): a photo pixelated in part, or resized or compressed
since, has no whole identical lines and keeps its restoration as it is. JPEG files are left to their own constraint.
"""

from __future__ import annotations

import numpy as np

from facerestore.damage.analysis import Damage
from facerestore.imageio import LoadedImage

# Blocks must account for this share of the pixelation read: a nearest upscale by f has runs of mean length f on
# both axes, read as f within 0.1 up to 3 px and as about 4.6 for 4 px blocks (damage/pixels.py); at 0.9 most 4 px
# blocks at 512 px went without (runs/README.txt, "Pixelation constraint").
MIN_SIZE_SHARE = 0.8


def block_starts(pixels: np.ndarray, axis: int) -> np.ndarray:
    """Where each run of identical lines along ``axis`` (0: rows, 1: columns) of ``pixels`` starts."""
    lines = np.moveaxis(pixels, axis, 0)
    same = (lines[1:] == lines[:-1]).all(axis=tuple(range(1, lines.ndim)))
    return np.flatnonzero(np.concatenate(([True], ~same)))


class PixelationConstraint:
    """The blocks of one decoded pixelated image, to keep each block's mean of a restoration at the file's."""

    def __init__(self, pixels: np.ndarray, rows: np.ndarray, columns: np.ndarray):
        self._pixels = pixels    # H x W x C floats, the decoded image
        self._rows = rows        # where each run of identical rows starts
        self._columns = columns  # where each run of identical columns starts
        self._heights = np.diff(np.append(rows, pixels.shape[0]))
        self._widths = np.diff(np.append(columns, pixels.shape[1]))

    @classmethod
    def of(cls, loaded: LoadedImage, damage: Damage) -> PixelationConstraint | None:
        """The constraint of a decoded file (``damage``: its analysis), or None where no pixelation is read or its
        blocks are not whole runs of identical rows and columns."""
        if loaded.jpeg is not None or damage.pixelation <= 1.0:
            return None
        pixels = loaded.pixels
        rows, columns = block_starts(pixels, 0), block_starts(pixels, 1)
        least = MIN_SIZE_SHARE * damage.pixelation
        if pixels.shape[0] / rows.size < least or pixels.shape[1] / columns.size < least:
            return None
        return cls(pixels, rows, columns)

    def enforce(self, restored: np.ndarray) -> np.ndarray:
        """``restored`` (H x W x C floats in [0, 1], the decoded image's shape) less, in each block, the mean of its
        difference from the decoded image there; kept in [0, 1]."""
        out = np.array(restored, dtype=np.float32)  # a copy, then worked in place: a 12 MP photo is 144 MB a copy
        change = out - self._pixels
        sums = np.add.reduceat(np.add.reduceat(change, self._rows, axis=0), self._columns, axis=1)
        del change
        means = sums / (self._heights[:, None, None] * self._widths[None, :, None]).astype(np.float32)
        out -= np.repeat(np.repeat(means, self._heights, axis=0), self._widths, axis=1)
        return np.clip(out, 0.0, 1.0, out=out)
