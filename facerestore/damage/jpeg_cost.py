"""What a JPEG quality cost one photo: its decoded luma compressed again with the same luma table, on a grid moved
by half a block, and compared with itself.

The same quality costs a soft photo far less than a detailed one (every tenth training face at 256 px, sharp or
blurred by up to 2 px, kept 34.7 to 48.7 dB of luma PSNR at quality 75), and a network told the quality's usual
damage takes a soft photo's remaining detail for it. The runtime never has the original, but compressing the
decoded pixels again on a grid four pixels off the file's own measures what that quality takes from this content:
the new blocks straddle the old ones, so the file's steps are compressed again as detail instead of being
reproduced. On those faces, colour and gray, JPEG 30-95, the result follows the file's own luma PSNR with a
correlation of 0.985-0.998 at each quality (about 0.9 dB below it, one standard deviation 0.3-0.9 dB;
runs/content-cost/correlation.txt). ``facerestore.damage.levels.cost_quality`` puts it on the training faces'
quality scale.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

BLOCK = 8
# Where the measure is taken: at most MAX_STRIPS rows of blocks across the whole width, spread evenly down the image.
# PSNR is dominated by the image's most detailed parts, wherever they are, so the sample spans every column: on the
# natural photos (up to 2560 px, JPEG 50 and 85) 64 strips read within 0.04 dB of every row, where 16 tiles of 256 px
# spread over the image read up to 2.6 dB off. A 12 MP photo takes about 15 ms.
MAX_STRIPS = 64
# A panorama wider than SAMPLE_WIDTH px gets fewer strips, so that the sample stays within what 64 strips of a photo
# that wide hold (at least MIN_STRIPS): 64 strips of a 20000 px panorama (12 MP at 600 px high) were 10 Mpx and
# 90 ms, 40 % on top of its analysis without the measure (now 13 ms). Panoramas of the natural photos side by side
# (16000-16600 px wide, 400-1500 px high, JPEG 50-90) read within 0.07 dB of every row on 16 strips, 0.03 on 24.
SAMPLE_WIDTH = 4096
MIN_STRIPS = 16
MAX_PSNR = 99.0
# The largest step a baseline table holds. An extended JPEG (16-bit tables: cjpeg writes IJG's steps unclamped below
# quality 25 unless told -baseline, up to 605 at 10) is measured at its steps clamped to it: the coefficients those
# steps quantise round to zero at 255 too, nearly always, and faces sharp or blurred saved by cjpeg at 10-20 either
# way measured the same to the hundredth of a dB, where the extended files had kept their quality (blurred ones at
# 20 read as 20 instead of the baseline file's 39-51).
MAX_STEP = 255


def recompression_psnr(y: np.ndarray, table: np.ndarray, grid: tuple[int, int]) -> float | None:
    """Luma PSNR (dB) of ``y`` (the decoded luma, 0-255 floats) compressed again with the luma quantisation
    ``table`` (64 steps in natural order; steps over MAX_STEP, an extended JPEG's, clamped to it) on blocks half a
    block off ``grid`` (the file's (rows, columns) offset); None where the image holds no whole block off its grid,
    or the table is no quantisation table (not 64 steps, or a step below 1)."""
    steps = [int(step) for step in np.ravel(table)]
    if len(steps) != BLOCK * BLOCK or min(steps) < 1:
        return None
    sample = _strips(y, grid)
    if sample is None:
        return None
    buf = io.BytesIO()
    # Steps up to MAX_STEP: libjpeg writes a warning on stderr for a table a baseline JPEG cannot hold.
    Image.fromarray(sample).save(buf, format="JPEG", qtables=[[min(step, MAX_STEP) for step in steps]])
    buf.seek(0)
    with Image.open(buf) as decoded:
        again = np.asarray(decoded if decoded.mode == "L" else decoded.convert("L"))
    # Only blocks with content count: a plain border or a blown sky loses nothing at any quality, and counted it would
    # read a detailed photo on a white canvas of nine times its area, saved at 30, as quality 78.
    blocks = _blocks(sample)
    content = blocks.max(axis=1) != blocks.min(axis=1)
    if not content.any():
        return MAX_PSNR
    # The squared error summed exactly in integers: what the float mean of the squares gave, in a third of the time.
    diff = _blocks(np.subtract(again, sample, dtype=np.int32))[content].ravel()
    mse = int(np.dot(diff, diff)) / diff.size
    return MAX_PSNR if mse <= 0.0 else min(MAX_PSNR, 10.0 * math.log10(255.0 ** 2 / mse))


def _blocks(plane: np.ndarray) -> np.ndarray:
    """A plane whose sides are multiples of BLOCK as one row of BLOCK x BLOCK values per block."""
    rows, cols = plane.shape[0] // BLOCK, plane.shape[1] // BLOCK
    return plane.reshape(rows, BLOCK, cols, BLOCK).swapaxes(1, 2).reshape(rows * cols, BLOCK * BLOCK)


def _strips(y: np.ndarray, grid: tuple[int, int]) -> np.ndarray | None:
    """The 8-bit rows of blocks the measure is taken on, one under the other, on the moved grid."""
    top, left = ((grid[0] + BLOCK // 2) % BLOCK, (grid[1] + BLOCK // 2) % BLOCK)
    count = (y.shape[0] - top) // BLOCK
    width = (y.shape[1] - left) // BLOCK * BLOCK
    if count < 1 or width < BLOCK:
        return None
    strips = max(MIN_STRIPS, MAX_STRIPS * SAMPLE_WIDTH // width) if width > SAMPLE_WIDTH else MAX_STRIPS
    picked = np.unique(np.linspace(0, count - 1, min(count, strips)).round().astype(int))
    sample = y[top:top + count * BLOCK, left:left + width].reshape(count, BLOCK, width)[picked].reshape(-1, width)
    if not np.issubdtype(sample.dtype, np.floating):
        sample = sample.astype(np.float32)
    np.clip(sample, 0, 255, out=sample)  # in place (picking by index copied): the same as rounding, then clipping
    return np.rint(sample, out=sample).astype(np.uint8)
