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
MAX_PSNR = 99.0


def recompression_psnr(y: np.ndarray, table: np.ndarray, grid: tuple[int, int]) -> float | None:
    """Luma PSNR (dB) of ``y`` (the decoded luma, 0-255 floats) compressed again with the luma quantisation
    ``table`` (64 steps in natural order) on blocks half a block off ``grid`` (the file's (rows, columns) offset);
    None where the image holds no whole block off its grid, or the table is not one a baseline JPEG can hold (steps
    over 255, which extended JPEGs allow: libjpeg then writes a warning on stderr; such photos keep their quality)."""
    steps = [int(step) for step in np.ravel(table)]
    sample = _strips(y, grid)
    if sample is None or len(steps) != BLOCK * BLOCK or not all(1 <= step <= 255 for step in steps):
        return None
    buf = io.BytesIO()
    Image.fromarray(sample).save(buf, format="JPEG", qtables=[steps])
    buf.seek(0)
    with Image.open(buf) as decoded:
        again = np.asarray(decoded.convert("L"), dtype=np.float64)
    mse = float(np.mean((again - sample) ** 2))
    return MAX_PSNR if mse <= 0.0 else min(MAX_PSNR, 10.0 * math.log10(255.0 ** 2 / mse))


def _strips(y: np.ndarray, grid: tuple[int, int]) -> np.ndarray | None:
    """The 8-bit rows of blocks the measure is taken on, one under the other, on the moved grid."""
    top, left = ((grid[0] + BLOCK // 2) % BLOCK, (grid[1] + BLOCK // 2) % BLOCK)
    count = (y.shape[0] - top) // BLOCK
    width = (y.shape[1] - left) // BLOCK * BLOCK
    if count < 1 or width < BLOCK:
        return None
    picked = np.unique(np.linspace(0, count - 1, min(count, MAX_STRIPS)).round().astype(int)) * BLOCK + top
    rows = (picked[:, None] + np.arange(BLOCK)).ravel()
    return np.clip(np.rint(y[rows, left:left + width]), 0, 255).astype(np.uint8)
