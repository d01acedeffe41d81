"""Traces of JPEG compression left in decoded pixels: for files that no longer carry tables (a JPEG saved as
PNG, a scan of a print) and to catch a JPEG file whose pixels were compressed harder before its last save.

Two measures, on the BT.601 luma JPEG itself codes:

- **Blockiness**: how much larger the steps between neighbouring pixels are across the boundaries of an 8 px
  grid than at any position inside its blocks (0 for a photo that never met JPEG). The grid is searched at all
  8 x 8 offsets, since a crop moves it.
- **The quantisation lattice**: JPEG stores each 8x8 block's DCT coefficients as multiples of a step. On that
  grid the decoded pixels' coefficients still sit within about half a grey level of those multiples, so the IJG
  quality whose steps fit them best is the one the image was last compressed at (Fan & de Queiroz, 2003). This
  is nearly exact where it applies; a resize or filter after the compression erases it.

Where the lattice fits no IJG quality (custom tables, light editing) but blocking is clear, blockiness maps to a
quality through a table calibrated on the training faces (``export/calibrate_damage.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from facerestore.damage.jpeg_tables import LUMA_BASE, ZIGZAG, ijg_scale_percent
from facerestore.metrics import LUMA_WEIGHTS

# --- calibrated by export/calibrate_damage.py on the training faces (see its docstring); do not edit by hand ---
# (IJG quality, median blockiness on the (0, 0) grid of the training faces JPEG-compressed at it)
BLOCKINESS_BY_QUALITY = (
    (5, 2.930), (10, 1.492), (15, 1.087), (20, 0.863), (25, 0.723), (30, 0.609), (40, 0.483),
    (50, 0.380), (60, 0.301), (70, 0.217), (80, 0.139), (85, 0.089), (90, 0.040), (95, 0.000),
)
# Blockiness above this is JPEG blocking: above every good training face as it is.
BLOCKINESS_CLEAN_MAX = 0.36
# (IJG quality, median lattice evidence of the training faces JPEG-compressed at that quality)
EVIDENCE_BY_QUALITY = (
    (5, 0.435), (10, 0.668), (15, 0.675), (20, 0.812), (25, 0.879), (30, 0.897), (40, 0.885),
    (50, 0.918), (60, 0.884), (70, 0.787), (80, 0.595), (85, 0.425), (90, 0.113), (95, -0.510),
)
# No lattice is taken as JPEG's with less evidence than this: above every resized training face.
EVIDENCE_MIN = 0.30
# --- end of calibrated constants ---

# The coefficients compared with the lattice: DC and the first AC ones in zigzag order. They have the finest
# steps at low quality (a usable lattice down to quality 1) and are rarely all zero.
LATTICE_COEFFICIENTS = 10
# The lattice is read from at most this many blocks (the most textured ones: flat blocks hold only zeros).
LATTICE_BLOCKS = 4096
_LUMA255 = LUMA_WEIGHTS * np.float32(255.0)
_HALF_UNITS = 2081  # coefficient magnitudes 0 .. 1040 in half grey levels (DC peaks at 1024)


def luma255(pixels: np.ndarray) -> np.ndarray:
    """BT.601 luma on the 0-255 scale (H x W float32) of float pixels in [0, 1]: JPEG's Y, unrounded."""
    if pixels.shape[-1] == 1:
        return pixels[..., 0] * np.float32(255.0)
    return pixels[..., :3] @ _LUMA255  # one product over the interleaved channels: 4x faster than three passes


def _band_steps(y: np.ndarray, axis: int) -> np.ndarray:
    """Mean absolute step between neighbours along ``axis``, one row per band of 8 lines across it and one column
    per position of the step modulo 8 (bands x 8).

    Entry (j, k) holds the step between pixels 8j + k and 8j + k + 1: a grid that starts at offset o has its block
    boundaries at k = (o - 1) mod 8. Every other line across the axis is plenty.
    """
    lines = y[:, ::2] if axis == 0 else y[::2]
    steps = np.abs(np.diff(lines, axis=axis))
    per_line = steps.mean(axis=1 - axis)
    n = per_line.size // 8 * 8
    return per_line[:n].reshape(-1, 8)


def _spread(bands: np.ndarray, k: int) -> float:
    """The share of bands whose step at phase k is larger than at every other phase of the band. JPEG blocking
    lifts the grid line of nearly every band; a few straight edges that happen to lie on one phase (a logo, a
    chart) lift as much on average, from a few bands."""
    return float((bands[:, k] > np.delete(bands, k, axis=1).max(axis=1)).mean())


@dataclass(frozen=True)
class Blocking:
    offset: tuple[int, int]     # (rows, columns) where the strongest 8 px grid starts
    strength: float             # blockiness on that grid: excess boundary step over the largest in-block step
    aligned: float              # blockiness on the grid at (0, 0), where an uncropped JPEG has it
    step: float = 0.0           # that excess in grey levels, the mean of both axes
    spread: float = 0.0         # the share of 8-line bands that grid lifts, the lower of both axes (_spread)


def _excess(profile: np.ndarray, k: int) -> float:
    """How far phase k stands above every other phase: JPEG lifts one phase in 8; a periodic texture or a
    pixelation by 2 or 4 lifts several equally, and so adds nothing."""
    others = np.delete(profile, k)
    return float(profile[k] / max(float(others.max()), 1e-6) - 1.0)


def blocking(y: np.ndarray) -> Blocking:
    """Blockiness of a luma plane on its strongest 8 px grid and on the grid at (0, 0) (zeros if too small)."""
    if min(y.shape) < 16:
        return Blocking((0, 0), 0.0, 0.0)
    row_bands, col_bands = _band_steps(y, 0), _band_steps(y, 1)
    rows, cols = row_bands.mean(axis=0), col_bands.mean(axis=0)
    kr, kc = int(np.argmax(rows)), int(np.argmax(cols))
    strength = _both_axes(_excess(rows, kr), _excess(cols, kc))
    aligned = _both_axes(_excess(rows, 7), _excess(cols, 7))
    step = (_step_excess(rows, kr) + _step_excess(cols, kc)) / 2.0
    spread = min(_spread(row_bands, kr), _spread(col_bands, kc))
    return Blocking(((kr + 1) % 8, (kc + 1) % 8), strength, aligned, step, spread)


def _step_excess(profile: np.ndarray, k: int) -> float:
    """How many grey levels phase k's mean step stands above every other phase's."""
    return float(profile[k] - np.delete(profile, k).max())


def _both_axes(across_rows: float, across_columns: float) -> float:
    """The blockiness of a grid: the mean of both axes' excess, and 0 unless both are lifted. JPEG blocks every
    8 px both ways; one edge or stripe that happens to lie on the grid (a flat two-tone image) lifts one axis."""
    if across_rows <= 0.0 or across_columns <= 0.0:
        return 0.0
    return (across_rows + across_columns) / 2


def blockiness_quality(strength: float) -> int | None:
    """The IJG quality whose typical blockiness ``strength`` is (interpolated), None below JPEG blocking."""
    if strength <= BLOCKINESS_CLEAN_MAX:
        return None
    q, b = (np.array(v, dtype=np.float64) for v in zip(*BLOCKINESS_BY_QUALITY))
    order = np.argsort(b)  # blockiness falls as quality rises
    return int(round(float(np.interp(strength, b[order], q[order]))))


# A lattice is taken as JPEG's only with at least this share of the evidence JPEG typically leaves at that
# quality: a few flat blocks fit the coarse steps of a very low quality, but only a real one fits them all.
EVIDENCE_SHARE = 0.35


def evidence_needed() -> np.ndarray:
    """Evidence a lattice needs to count as JPEG's, by quality (100 values, index q - 1)."""
    q, e = (np.array(v, dtype=np.float64) for v in zip(*EVIDENCE_BY_QUALITY))
    typical = np.interp(np.arange(1, 101), q, e)
    return np.maximum(EVIDENCE_MIN, EVIDENCE_SHARE * typical)


@lru_cache(maxsize=1)
def _dct_basis() -> np.ndarray:
    """64 x K: a flattened 8x8 block times this gives its first K zigzag DCT coefficients, as JPEG computes
    them (the orthonormal 2-D DCT-II, D @ B @ D.T, with only the columns needed: one matrix product)."""
    k = np.arange(8)[:, None]
    n = np.arange(8)[None, :]
    d = np.cos((2 * n + 1) * k * np.pi / 16) * np.sqrt(2 / 8)
    d[0] /= np.sqrt(2)
    full = np.kron(d, d)  # row u*8+v: the basis image of coefficient (u, v), flattened row-major
    return np.ascontiguousarray(full[ZIGZAG[:LATTICE_COEFFICIENTS]].T).astype(np.float32)


# Coefficients of decoded pixels sit off the lattice by the decoder's rounding to 8-bit RGB (about this many
# grey levels); a share of them anywhere (clipped colours, noise added after the compression).
LATTICE_NOISE = 0.7
LATTICE_OUTLIERS = 0.05


@lru_cache(maxsize=1)
def _lattice_model() -> tuple[np.ndarray, np.ndarray]:
    """(score: distinct steps x magnitudes, index: 100 x K position of each quality's steps in it).

    score[i, m] is the log-likelihood ratio of a coefficient of magnitude m (in half grey levels) between "on
    the lattice of the i-th distinct step, blurred by the decoder's rounding" and "any value" (0 for values
    that round to zero): a histogram of
    magnitudes then gives every candidate quality's evidence by table look-ups. On the lattice a value is
    s / (sigma sqrt(2 pi)) times likelier than spread evenly over a step s; off it, the outlier share bounds
    the penalty, so a few clipped blocks cannot veto the true quality.
    """
    natural = ZIGZAG[:LATTICE_COEFFICIENTS]
    steps = np.stack([np.clip((LUMA_BASE[natural] * ijg_scale_percent(q) + 50) // 100, 1, 255)
                      for q in range(1, 101)])
    distinct = np.unique(steps)
    m = np.arange(_HALF_UNITS, dtype=np.float64) / 2.0
    s = distinct[:, None].astype(np.float64)
    r2 = (m[None, :] - s * np.round(m[None, :] / s)) ** 2
    gain = s / (LATTICE_NOISE * np.sqrt(2 * np.pi)) * np.exp(-r2 / (2 * LATTICE_NOISE ** 2))
    score = np.log(LATTICE_OUTLIERS + (1 - LATTICE_OUTLIERS) * gain)
    # Values that round to zero say nothing: coefficients cluster at zero in any photo, and counting them would
    # favour the coarsest steps (every small value sits "on" a lattice of step 255).
    score[m[None, :] < s / 2] = 0.0
    return score.astype(np.float32), np.searchsorted(distinct, steps)


@dataclass(frozen=True)
class LatticeFit:
    quality: int        # the IJG quality whose luma steps the coefficients fit best
    evidence: float     # mean log-likelihood ratio per coefficient for that lattice: > 0 favours it
    found: bool         # enough evidence to say the pixels were JPEG-compressed at that quality
    offset: tuple[int, int]
    transposed: bool = False  # fitted to the IJG tables transposed: the blocks of a JPEG turned by a quarter


# OpenBLAS spreads a product of more than 65536 x 4 multiply-adds over all its threads; where the other cores
# are busy (inference running beside the analysis) waiting for them costs a hundred times the product itself.
_SINGLE_THREAD_MACS = 200_000


def _product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` in row chunks small enough for BLAS to keep to the calling thread."""
    rows = max(1, _SINGLE_THREAD_MACS // (a.shape[1] * b.shape[1]))
    if a.shape[0] <= rows:
        return a @ b
    return np.concatenate([a[i:i + rows] @ b for i in range(0, a.shape[0], rows)])


def _blocks(y: np.ndarray, offset: tuple[int, int]) -> np.ndarray:
    """Complete 8x8 blocks of ``y`` on the grid starting at ``offset``, flattened (N x 64): every block row
    while there are few, else evenly spaced rows of blocks, about twice LATTICE_BLOCKS blocks to choose from."""
    oy, ox = offset
    h, w = (y.shape[0] - oy) // 8 * 8, (y.shape[1] - ox) // 8 * 8
    grid = y[oy:oy + h, ox:ox + w].reshape(h // 8, 8, w // 8, 8)
    step = max(1, (h // 8) * (w // 8) // (2 * LATTICE_BLOCKS))
    return grid[::step].swapaxes(1, 2).reshape(-1, 64)


def lattice_fits(y: np.ndarray, offset: tuple[int, int] = (0, 0),
                 orientations: tuple[bool, ...] = (False,)) -> list[LatticeFit] | None:
    """For each of ``orientations`` of the IJG tables, as they are (False) or transposed (True: a copy of a JPEG
    turned by 90 or 270 degrees has its blocks transposed, and a turn's flip changes signs only), the quality whose
    luma lattice the DCT coefficients of the blocks at ``offset`` fit best. One DCT serves every orientation:
    transposing a block permutes its first coefficients.

    None when the image has too few usable blocks (blocks touching black or white are left out: clipping
    moves their coefficients off the lattice).
    """
    per_step = _step_evidence(y, offset)
    if per_step is None:
        return None
    return [_decide(_evidence(per_step, transposed), offset, transposed) for transposed in orientations]


def _decide(per_quality: np.ndarray, offset: tuple[int, int], transposed: bool) -> LatticeFit:
    passing = per_quality >= evidence_needed()
    pool = np.where(passing, per_quality, -np.inf) if passing.any() else per_quality
    best = 99 - int(np.argmax(pool[::-1]))  # equal fits (q 49 and 50 share these steps): the higher quality
    return LatticeFit(best + 1, float(per_quality[best]), bool(passing.any()), offset, transposed)


def lattice_evidence(y: np.ndarray, offset: tuple[int, int] = (0, 0)) -> np.ndarray | None:
    """The lattice evidence for every IJG quality (100 values, index q - 1); None without usable blocks."""
    per_step = _step_evidence(y, offset)
    return _evidence(per_step, transposed=False) if per_step is not None else None


# The first LATTICE_COEFFICIENTS zigzag frequencies are whole anti-diagonals, so a transposed block's are the same
# ones reordered: coefficient k of a transposed block is coefficient _TRANSPOSED[k] of the block as it lies.
_NATURAL = [int(n) for n in ZIGZAG[:LATTICE_COEFFICIENTS]]
_TRANSPOSED = np.array([_NATURAL.index(n % 8 * 8 + n // 8) for n in _NATURAL])


def _step_evidence(y: np.ndarray, offset: tuple[int, int]) -> np.ndarray | None:
    """Each of the first coefficients' evidence for the lattice of every distinct step (LATTICE_COEFFICIENTS x
    distinct steps of ``_lattice_model``; per coefficient read), from the most textured usable blocks at ``offset``;
    None without usable blocks."""
    blocks = _blocks(y, offset)
    if blocks.shape[0] == 0:
        return None
    lo, hi = blocks.min(axis=1), blocks.max(axis=1)
    usable = (lo > 0.5) & (hi < 254.5)
    if usable.sum() < 16:
        return None
    texture = np.where(usable, hi - lo, -1.0)
    if usable.sum() > LATTICE_BLOCKS:
        chosen = np.argpartition(texture, -LATTICE_BLOCKS)[-LATTICE_BLOCKS:]
    else:
        chosen = np.flatnonzero(usable)
    coeffs = _product(blocks[chosen], _dct_basis())
    coeffs[:, 0] -= np.float32(1024.0)  # JPEG codes Y - 128: the level shift lands on DC alone (8 x 128)
    halves = np.minimum(np.rint(np.abs(coeffs) * 2.0), _HALF_UNITS - 1).astype(np.int64)
    k = LATTICE_COEFFICIENTS
    cells = (halves + np.arange(k, dtype=np.int64) * _HALF_UNITS).ravel()
    hist = np.bincount(cells, minlength=k * _HALF_UNITS).reshape(k, _HALF_UNITS).astype(np.float32)
    # evidence[c, s] = sum over magnitudes of their count at coefficient c times their score on step s: one product
    # for every quality and orientation (looking up each quality's steps cell by cell cost 15 times as much)
    return _product(hist, _lattice_model()[0].T) / np.float32(coeffs.size)


def _evidence(per_step: np.ndarray, transposed: bool) -> np.ndarray:
    """The lattice evidence for every IJG quality (100 values, index q - 1): each coefficient's evidence for its step
    in that quality's table, as it is or transposed, summed."""
    index = _lattice_model()[1]
    rows = _TRANSPOSED if transposed else np.arange(LATTICE_COEFFICIENTS)
    return per_step[rows, index].sum(axis=1)
