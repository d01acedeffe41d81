"""The quantisation steps a JPEG left in its decoded pixels, read where the file that holds them no longer carries
its tables: a PNG, TIFF, BMP or lossless WebP copy of a JPEG.

A JPEG stored each 8x8 block's DCT coefficients as multiples of the file's steps; a copy keeps the decoded pixels,
so their block DCT still lies near those multiples, off by the decoder's rounding and the colour conversion's (a
fraction of a level), except in blocks where the conversion to RGB clipped, which are not read. A frequency's step
is read where enough of its coefficients lie near its multiples, beyond what chance puts there; steps below
``MIN_STEP`` are not read (the finest, at high qualities, where chance and rounding hide a lattice), nor is the DC
step (a block's mean carries the decoder's rounding eightfold). Where every step read is the step of IJG tables
(libjpeg's and Pillow's, scaled by quality: what most software writes), those name the quality the copy was saved
at (:func:`ijg_quality`) and complete the steps the pixels do not show (:func:`completed_steps`).
"""

from __future__ import annotations

import numpy as np

from facerestore.damage.block_dct import BLOCK, block_coefficients
from facerestore.damage.jpeg_pixels import luma255
from facerestore.damage.jpeg_tables import standard_tables

MIN_STEP = 4
MAX_STEP = 255  # baseline JPEG's largest
TOLERANCE = 1.0  # levels: a coefficient this near a multiple of the step lies on it
MIN_SHARE = 0.9  # of a frequency's coefficients on the lattice beyond chance (blocks where RGB clipped lie off it)
NEAR_BEST = 0.1  # a divisor shares as many as the step, give or take chance: 0.05 at 30 coefficients, twice that
MIN_COEFFICIENTS = 30  # away from zero: fewer cannot tell a lattice from chance
MAX_COEFFICIENTS = 2048  # a frequency's coefficients a step is judged on, spread over the image
# A frequency is judged on its MAX_COEFFICIENTS only where SCREEN_COEFFICIENTS of them show a lattice's share of at
# least SCREEN_SHARE: a photo that never was a JPEG shows none, and judging its 63 frequencies in full took 0.2 s.
SCREEN_COEFFICIENTS = 256
SCREEN_SHARE = 0.7
MIN_FREQUENCIES = 6  # steps found; fewer and the pixels are not taken for a copy
# Blocks steps are read on, whole rows of them spread down the image (all of a 1 MP image's): the steps a copy shows
# show on a sample too, at a twelfth of the work of a 12 MP photo's 187,500 blocks.
SAMPLE_BLOCKS = 16384


def luma_steps(pixels: np.ndarray) -> np.ndarray:
    """The 64 luma steps (row by row) of 8x8 blocks from the top-left corner of decoded 8-bit ``pixels`` (H x W x C
    in [0, 1]); 0 where the pixels do not show one.

    A frequency's coefficients away from zero (beyond ``MIN_STEP / 2``: rounding moves a zero by less) are judged
    against every step: a step's share is how many lie within ``TOLERANCE`` of its multiples, beyond the share that
    chance puts there (a fine lattice catches many coefficients that lie off the true one). The true step's share
    is near 1; one step more or less moves its multiples off them, and a multiple of it misses its odd multiples,
    but its divisors do as well as it give or take chance, so where the best share is at least ``MIN_SHARE`` the
    step is the largest whose share is near the best."""
    blocks = luma_blocks(pixels)
    return read_steps(blocks[0][~blocks[1]]) if blocks is not None else np.zeros(BLOCK * BLOCK, dtype=np.int64)


def completed_steps(steps: np.ndarray) -> np.ndarray:
    """``steps`` (64, row by row, 0 where not read) completed from the IJG luma tables whose steps are all of those
    read: each step they do not show where those tables agree on it. Such a table is what the JPEG was saved with;
    unread steps are the finest (under ``MIN_STEP``), the DC and frequencies too rarely used to show, and where the
    copy's file had them its restoration should be held by them too. Steps no IJG table holds are returned as read."""
    return _agreed(standard_tables("luma"), steps, keep=steps)


def ijg_chroma_steps(steps: np.ndarray) -> np.ndarray | None:
    """The chroma steps (64, row by row; 0 where they differ) of the IJG qualities whose luma table holds every
    luma step read, ``steps``: an encoder scales both tables by one quality. None where no IJG table holds them."""
    return _agreed(standard_tables("chroma"), steps, keep=None)


def _agreed(tables: np.ndarray, steps: np.ndarray, keep: np.ndarray | None) -> np.ndarray | None:
    """The steps ``tables`` (100 x 64, row q - 1 at quality q) agree on at the qualities whose luma table holds
    every step read; where they differ, ``keep``'s (0 without it). ``keep`` itself, or None, where no quality does."""
    read = steps > 0
    hits = _ijg_hits(steps) if read.any() else np.empty(0, dtype=np.int64)
    if not hits.size:
        return keep
    chosen = tables[hits]
    agreed = (chosen == chosen[0]).all(axis=0)
    if keep is None:
        return np.where(agreed, chosen[0], 0)
    return np.where(~read & agreed, chosen[0], keep)


def _ijg_hits(steps: np.ndarray) -> np.ndarray:
    """Rows (quality - 1) of the IJG luma tables that hold every step read."""
    read = steps > 0
    return np.flatnonzero((standard_tables("luma")[:, read] == steps[read]).all(axis=1))


def lattice_share(coefficients: np.ndarray, steps: np.ndarray) -> float | None:
    """How many of the coefficients (one row per block) lie on the lattice of known ``steps``, beyond chance: the
    mean over frequencies with a step of at least ``MIN_STEP`` and ``MIN_COEFFICIENTS`` coefficients beyond half of
    it (near 1 on a JPEG's own blocks, near 0 off them); None where no frequency has enough."""
    shares = []
    for f in np.flatnonzero(steps >= MIN_STEP):
        values = np.abs(coefficients[:, f])
        values = values[values > steps[f] / 2]
        if len(values) < MIN_COEFFICIENTS:
            continue
        values = _spread(values, MAX_COEFFICIENTS)
        chance = 2 * TOLERANCE / steps[f]
        on = np.mean(np.abs(values - steps[f] * np.rint(values / steps[f])) <= TOLERANCE)
        shares.append((on - chance) / (1 - chance))
    return float(np.mean(shares)) if shares else None


def luma_blocks(pixels: np.ndarray, max_blocks: int | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """The luma DCT coefficients of the whole blocks of ``pixels`` (one row per block, rows of blocks in order) and
    which blocks hold a clipped value; None where no whole block fits. With ``max_blocks``, only about that many:
    whole rows of blocks spread evenly down the image."""
    rows, cols = pixels.shape[0] // BLOCK, pixels.shape[1] // BLOCK
    if not rows or not cols:
        return None
    if max_blocks is not None and rows * cols > max_blocks:
        kept = np.unique(np.linspace(0, rows - 1, max(1, max_blocks // cols)).astype(np.int64))
        whole = pixels[(kept[:, None] * BLOCK + np.arange(BLOCK)).ravel(), :cols * BLOCK]  # the sample's rows only
        rows = len(kept)
    else:
        whole = pixels[:rows * BLOCK, :cols * BLOCK]
    # Channel by channel, then over each block's rows and columns in turn: numpy reduces a 3-long last axis or two
    # axes at once an order of magnitude slower (70 ms a megapixel, where this takes 3).
    clipped = np.zeros(whole.shape[:2], dtype=bool)
    for channel in range(whole.shape[2]):
        clipped |= whole[..., channel] <= 0
        clipped |= whole[..., channel] >= 1
    clipped = clipped.reshape(rows, BLOCK, cols * BLOCK).any(axis=1).reshape(rows, cols, BLOCK).any(axis=2)
    return block_coefficients(luma255(whole), rows, cols), clipped.ravel()


def read_steps(coefficients: np.ndarray) -> np.ndarray:
    """:func:`luma_steps` from the coefficients of the blocks it may read."""
    steps = np.zeros(BLOCK * BLOCK, dtype=np.int64)
    for f in range(1, BLOCK * BLOCK):  # not DC
        values = np.abs(coefficients[:, f])
        values = values[values > MIN_STEP / 2]
        if len(values) < MIN_COEFFICIENTS:
            continue
        if len(values) > SCREEN_COEFFICIENTS and _shares(_spread(values, SCREEN_COEFFICIENTS))[2] < SCREEN_SHARE:
            continue  # no lattice here: most frequencies of a photo that never was a JPEG
        candidates, share, best = _shares(_spread(values, MAX_COEFFICIENTS))
        if best >= MIN_SHARE:
            steps[f] = int(candidates[np.flatnonzero(share >= best - NEAR_BEST)[-1]])
    return steps


def _spread(values: np.ndarray, most: int) -> np.ndarray:
    """At most ``most`` of ``values``, evenly spread over them."""
    return values if len(values) <= most else values[np.linspace(0, len(values) - 1, most).astype(np.int64)]


def _shares(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(candidate steps, the share of ``values`` on each one's lattice beyond chance, the best share or -1 where
    no step fits under the largest value)."""
    candidates = np.arange(MIN_STEP, min(MAX_STEP, int(values.max()) + 1) + 1, dtype=np.float32)
    if not len(candidates):
        return candidates, candidates, -1.0
    off = np.abs(values[:, None] - candidates * np.rint(values[:, None] / candidates))
    chance = 2 * TOLERANCE / candidates  # of values off any lattice, on this one
    share = (np.mean(off <= TOLERANCE, axis=0) - chance) / (1 - chance)
    return candidates, share, float(share.max())


def ijg_quality(steps: np.ndarray) -> int | None:
    """The IJG quality whose luma table holds every step read (``steps`` as :func:`luma_steps` gives), where at
    least ``MIN_FREQUENCIES`` were: the middle one where several do; None where none does or too few were read."""
    if np.count_nonzero(steps) < MIN_FREQUENCIES:
        return None
    hits = _ijg_hits(steps)
    return int(hits[hits.size // 2]) + 1 if hits.size else None


def transposed(steps: np.ndarray) -> np.ndarray:
    """64 steps (row by row) of 8x8 blocks as the same blocks transposed hold them: a JPEG turned by 90 or 270
    degrees has its blocks transposed (the turn's flip changes signs only)."""
    return steps.reshape(BLOCK, BLOCK).T.ravel()


def copy_quality(pixels: np.ndarray, grids: list[tuple[int, int]],
                 orientations: tuple[bool, ...] = (False,)) -> tuple[int, tuple[int, int], bool] | None:
    """(quality, grid, transposed) of the first of ``grids`` (row, column offsets of an 8 px grid) on which decoded
    ``pixels`` (H x W x C in [0, 1]) show the steps of an IJG table, read on about ``SAMPLE_BLOCKS`` blocks, in the
    first of ``orientations`` that holds them (True: the table transposed, :func:`transposed`); None where none
    does."""
    for grid in dict.fromkeys(grids):
        blocks = luma_blocks(pixels[grid[0]:, grid[1]:], SAMPLE_BLOCKS)
        if blocks is None:
            continue
        steps = read_steps(blocks[0][~blocks[1]])
        for turned in orientations:
            quality = ijg_quality(transposed(steps) if turned else steps)
            if quality is not None:
                return quality, grid, turned
    return None
