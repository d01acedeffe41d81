"""Banded images: each restored intensity is kept within the bin of the level it was collapsed to.

An image whose channels use only the levels of one evenly spaced grid, ``round(k * 255 / (n - 1))`` for
k = 0 .. n - 1 with n <= ``MAX_LEVELS``, is what the intensity collapse (:func:`facerestore.degrade.posterize`,
the report's banding) leaves: each pixel at level L had an original whose value rounds to L. Clipping a
restoration into L's bin can only bring it closer to such an original, as the JPEG constraint does for a JPEG's
coefficients. The bins include the values at exact ties, so originals rounded either way at a tie stay inside.

The bins hold the image as it was just before the collapse, which is the original only when the collapse was its
only damage: a photo compressed as a JPEG and then banded (the report's ``paper`` preset) has originals outside
them, and clipping there took 0.25-0.35 dB off what the models restore. So the constraint holds only where the
damage analysis finds no JPEG history and no pixelation in the pixels, in 8-bit files that are not JPEGs (a JPEG's
decoded values lie on no grid; its own constraint covers it), and only when every channel fits the same grid. A
channel collapsed some other way, such as keeping the top bits of each value (levels 0, 16, ..., 240), fits no such
grid past a few levels and is left alone: its originals need not lie in the bins. A dithered collapse (levels
chosen with noise or error diffusion) puts some originals in a neighbouring bin; on a real photo `darn` still
gained 0.1 dB from the clip under the web palette's error diffusion, and 0.3 dB under noise dither at 16 and 32
levels, and lost 0.06 dB at 8.
"""

from __future__ import annotations

import numpy as np

from facerestore.damage.analysis import Damage
from facerestore.imageio import LoadedImage
from facerestore.metrics import channel_histograms, to_uint8

MAX_LEVELS = 64  # beyond this the bins are 4 grey levels wide or less: too narrow to matter
# The analysis's count of levels in use (scaled to each channel's own range) reads up to about twice a grid's level
# count where a channel uses only a few of its levels; above this no grid of MAX_LEVELS can hold the image.
MAX_EFFECTIVE_LEVELS = 2 * MAX_LEVELS


def grid_levels(counts: np.ndarray) -> int | None:
    """The fewest evenly spaced levels whose grid holds every value in use (``counts``: a 256-bin histogram of
    8-bit values), or None where no grid of at most ``MAX_LEVELS`` does."""
    used = np.flatnonzero(counts).astype(np.float64)
    for n in range(2, MAX_LEVELS + 1):
        step = 255.0 / (n - 1)
        exact = np.rint(used / step) * step
        # Level values rounded half to even (numpy, the training degradation) or half up (most image tools).
        if np.all((np.rint(exact) == used) | (np.floor(exact + 0.5) == used)):
            return n
    return None


def bins(levels: int) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest 8-bit original of each level value's bin (indexed by the value, 0..255) on the grid of
    ``levels`` evenly spaced levels."""
    step = 255.0 / (levels - 1)
    k = np.rint(np.arange(256) / step)
    low = np.clip(np.ceil((k - 0.5) * step), 0, 255)
    high = np.clip(np.floor((k + 0.5) * step), 0, 255)
    return low.astype(np.float32), high.astype(np.float32)


class LevelConstraint:
    """The level bins of one decoded banded image, to clip restorations of its pixels into."""

    def __init__(self, levels: int, values: np.ndarray):
        self.levels = levels
        self._values = values  # H x W x C uint8: the level each pixel was collapsed to
        low, high = bins(levels)
        self._low, self._high = low / 255.0, high / 255.0

    @classmethod
    def of(cls, loaded: LoadedImage, damage: Damage) -> LevelConstraint | None:
        """The constraint of a decoded file (``damage``: its analysis), or None where its pixels do not show the
        intensity collapse, or show damage from before it."""
        if loaded.jpeg is not None or loaded.bit_depth != 8:
            return None
        if damage.jpeg_quality is not None or damage.pixelation > 1.0:
            return None
        if damage.effective_levels > MAX_EFFECTIVE_LEVELS:
            return None  # a photo's own range of intensities: no pass over its pixels needed
        values = to_uint8(loaded.pixels)
        fits = {grid_levels(counts) for counts in channel_histograms(values)}
        if len(fits) != 1 or None in fits:
            return None
        return cls(fits.pop(), values)

    def enforce(self, restored: np.ndarray) -> np.ndarray:
        """``restored`` (H x W x C floats in [0, 1], the decoded image's shape) with every value clipped into the
        bin of its pixel's level."""
        out = np.array(restored, dtype=np.float32)  # a copy: clipped in place, a channel at a time
        for c in range(out.shape[2]):
            values = self._values[..., c]
            np.clip(out[..., c], self._low[values], self._high[values], out=out[..., c])
        return out
