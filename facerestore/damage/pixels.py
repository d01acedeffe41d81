"""Damage read from the pixels alone, whatever the file format: intensity collapse (banding) and pixelation."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from facerestore.metrics import channel_histograms

# The histogram's tails (the darkest and brightest 0.1 % of pixels) are too sparse to show gaps.
TAIL = 0.001
# A level is in use when it holds at least this share of the mean count over the used range: the smear a
# later JPEG spreads between collapsed levels stays below it, a photo's natural histogram stays above.
LEVEL_SHARE = 0.05
# A channel spanning fewer intensities than this (a flat colour, a single pixel) shows nothing about collapse: any
# photo of it would use few levels.
MIN_SPAN = 16
# Equal neighbours below this share are what smooth regions of an 8-bit photo give on their own.
PIXELATION_MIN_FACTOR = 1.5
# Pixelation is measured where the image is not flat over this many px (blocks up to that size are read true).
FLAT_WINDOW = 8
# ... and not flat means a step of at least this many levels in some channel within the window: where a photo is
# smooth (sky, skin, the blocks a good JPEG or WebP flattens, an interpolated upscale) its 8-bit rounding alone
# makes equal neighbours. Measured on 55 face and natural photos: counting windows with any step read 9-13 % of
# the clean ones and of their JPEGs at 85-95 as pixelated (1.5-2 px), and this step none; blocks of 2, 3 and 4 px
# read 2.1, 2.9 and 4.6 (median; 2.1, 3.1 and 4.1 before), and blocks of 1.5 px are found in 65 % of them (all).
PIXELATION_MIN_STEP = 4
# A nearest upscale by f repeats whole lines, a share 1 - 1/f of its rows and of its columns: a position along the
# sampled lines counts as repeated where every one of at least DUP_MIN_LINES lines textured there holds equal
# neighbours. Solid strokes between sharp steps hold equal neighbours too, but not on the same positions of every
# line: clean renders of text at 18-48 px read 1.6-2.6 from the share above and 1.000-1.009 from this one, faces
# pixelated by 1.5-4 read 1.49-4.0 (runs/pixelation-text), so a reading from the share stands only where this one
# is at least DUP_MIN_FACTOR. Below PIXELATION_MIN_FACTOR this share reads the factor itself: on the 103 training
# faces (256 and 512 px) and 29 natural photos (512 and 1024 px), clean and as JPEG 40-95 and WebP 50-90, the
# smaller share of the two axes was at most 0.016 (factor 1.016); nearest upscales by 1.2, 1.25, 1.33 and 1.5 read
# 0.159-0.167, 0.192-0.200, 0.246-0.251 and 0.289-0.335 (runs/pixelation-small). Readings start at 1.15: 1.2 is the
# smallest factor the strength curves are fitted on.
DUP_MIN_LINES = 8
DUP_MIN_FACTOR = 1.15


# Steps between neighbouring pixels (luma, 0-255) of at least SHARP_STEP are edges of ink on paper or of text on a
# screen; steps of at least TEXTURE_STEP are anything that is not flat (sharp_edge_share).
SHARP_STEP = 96
TEXTURE_STEP = 8


def sharp_edge_share(y: np.ndarray) -> float:
    """The share of the steps between neighbouring pixels of the luma plane ``y`` (0-255) that are not flat
    (``TEXTURE_STEP``) and are sharp edges (``SHARP_STEP``), along every other row and every other column: a photo's
    texture is mostly gentle steps, text and line art are mostly edges on flat ground (0 where nothing steps)."""
    if min(y.shape) < 2:
        return 0.0
    textured = sharp = 0
    for steps in (np.abs(np.diff(y[::2], axis=1)), np.abs(np.diff(y[:, ::2], axis=0))):
        textured += int(np.count_nonzero(steps >= TEXTURE_STEP))
        sharp += int(np.count_nonzero(steps >= SHARP_STEP))
    return sharp / textured if textured else 0.0


def effective_levels(levels: np.ndarray) -> float:
    """Intensities in use per channel of 8-bit pixels (H x W or H x W x C), scaled to the full 256: 256 for a
    photo, N after posterizing to N.

    Counted over each channel's own range, so a dark or low-contrast photo is not taken for a collapsed one;
    the mean over the channels that span at least ``MIN_SPAN`` intensities (256 where none does: no evidence).
    A small image leaves intensities empty by chance (the 14 pixels a 7x7 image gives on every 4th line cannot
    fill its 31), so the share in use is measured against the share a smooth spread of that many pixels would
    fill, ``1 - e^-(pixels per intensity)``: for photos of a few hundred pixels across that is 1, as before.
    """
    values = []
    for counts in channel_histograms(levels):
        total = counts.sum()
        if total <= 0:
            continue
        cdf = np.cumsum(counts) / total
        lo = int(np.searchsorted(cdf, TAIL, side="right"))
        hi = int(np.searchsorted(cdf, 1.0 - TAIL, side="left"))
        span = counts[lo:hi + 1]
        if span.size < MIN_SPAN:
            continue
        used = int((span >= LEVEL_SHARE * span.mean()).sum())
        chance_fill = -np.expm1(-span.sum() / span.size)
        values.append(min(256.0, 256.0 * used / span.size / chance_fill))
    return float(np.clip(np.mean(values), 2.0, 256.0)) if values else 256.0


def _packed(lines: np.ndarray) -> np.ndarray:
    """One integer per pixel (its channels side by side), so equal pixels are one comparison."""
    if lines.ndim == 2 or lines.shape[2] == 1:
        return lines.reshape(lines.shape[0], lines.shape[1])
    code = lines[..., 0].astype(np.int32)
    for c in range(1, lines.shape[2]):
        code = (code << 8) | lines[..., c]
    return code


def main_colours(lines: np.ndarray, share: float) -> int:
    """How many of the commonest pixel values (all channels together) of 8-bit ``lines`` (n x length (x C))
    it takes to cover ``share`` of the pixels."""
    return len(_commonest(lines, share))


def _commonest(lines: np.ndarray, share: float) -> np.ndarray:
    """The commonest pixel values (packed, :func:`_packed`) of 8-bit ``lines`` that cover ``share`` of them."""
    values, counts = np.unique(_packed(lines), return_counts=True)
    order = np.argsort(counts, kind="stable")[::-1]
    return values[order[:int(np.searchsorted(np.cumsum(counts[order]), share * counts.sum()) + 1)]]


# What posterizing to N levels per channel leaves: round(k * 255 / (N - 1)), k = 0 .. N - 1, for N up to this.
MAX_POSTERIZED_LEVELS = 64


def on_posterized_scale(lines: np.ndarray, share: float) -> bool:
    """Whether every channel value of the commonest colours of 8-bit ``lines`` covering ``share`` of them lies on
    one scale of N evenly spaced levels (N <= MAX_POSTERIZED_LEVELS), as a posterized photo's do; a drawing's
    colours, picked one by one, do not."""
    channels = 1 if lines.ndim == 2 else lines.shape[2]
    packed = _commonest(lines, share).astype(np.int64)
    used = np.unique(np.concatenate([(packed >> (8 * c)) & 0xFF for c in range(channels)]))
    for n in range(2, MAX_POSTERIZED_LEVELS + 1):
        step = 255.0 / (n - 1)
        # Within half a level of a multiple of the step: whichever way the posterizer rounded its halves.
        if (np.abs(used - np.rint(used / step) * step) <= 0.5 + 1e-9).all():
            return True
    return False


class EqualNeighbours(NamedTuple):
    """Equal neighbours along 8-bit lines, counted where the line is textured (steps by ``PIXELATION_MIN_STEP``
    levels within ``FLAT_WINDOW`` px): their ``share`` of those pairs, and per position along the lines how many
    lines are textured there (``textured``) and how many of those hold equal neighbours there (``equal``)."""
    share: float
    textured: np.ndarray
    equal: np.ndarray


def equal_neighbours(lines: np.ndarray) -> EqualNeighbours | None:
    """:class:`EqualNeighbours` of 8-bit ``lines`` (lines x length (x C)); None where too short or not textured
    anywhere: flat backgrounds and smooth gradients have equal neighbours at any resolution."""
    if lines.shape[1] <= FLAT_WINDOW:
        return None
    code = _packed(lines)
    same = code[:, 1:] == code[:, :-1]
    steps = np.abs(np.diff(lines.astype(np.int16), axis=1))
    if steps.ndim == 3:
        # channel by channel: numpy's max over a short last axis is ten times slower on a 12 MP photo
        steps = np.maximum.reduce([steps[..., c] for c in range(steps.shape[2])])
    pairs = FLAT_WINDOW - 1
    # large steps in each window of FLAT_WINDOW px, from a running count along the line
    count = np.zeros((same.shape[0], same.shape[1] + 1), dtype=np.int32)
    np.cumsum(steps >= PIXELATION_MIN_STEP, axis=1, out=count[:, 1:])
    textured = count[:, pairs:] - count[:, :-pairs] > 0                # the window is not flat
    centre = same[:, pairs // 2:pairs // 2 + textured.shape[1]]
    if not textured.any():
        return None
    return EqualNeighbours(float(centre[textured].mean()), textured.sum(axis=0), (centre & textured).sum(axis=0))


def pixelation_readings(rows: np.ndarray, columns: np.ndarray) -> tuple[float, float] | None:
    """The two readings :func:`pixelation_factor` weighs, from some rows and some columns laid out as rows: the
    factor from the share of equal neighbours (1 - 1/f inside blocks of f px), and the factor from the share of
    positions whose neighbours are equal on every one of at least ``DUP_MIN_LINES`` lines textured there (1 - 1/f
    of a nearest upscale's rows and columns repeat whole), each from the axis reading less. None where either axis
    shows nothing."""
    shares, repeated = [], []
    for lines in (rows, columns):
        found = equal_neighbours(lines)
        if found is None:
            return None
        shares.append(found.share)
        counted = found.textured >= DUP_MIN_LINES
        whole = counted & (found.equal == found.textured)
        repeated.append(float(whole.sum() / max(int(counted.sum()), 1)))
    return 1.0 / max(1.0 - min(shares), 1e-3), 1.0 / max(1.0 - min(repeated), 1e-3)


def pixelation_factor(rows: np.ndarray, columns: np.ndarray) -> float:
    """The size in px of the uniform blocks an image is made of: 1 for a photo, f after a nearest-neighbour
    upscale by f. ``rows`` holds some of its rows and ``columns`` some of its columns laid out as rows (8-bit,
    lines x length (x C)): every 4th line of each is plenty.

    From the share of equal neighbours inside textured stretches (:func:`pixelation_readings`), only where whole
    lines repeat (``DUP_MIN_FACTOR``): text's strokes hold equal neighbours too, but not on the same positions of
    every line. Below ``PIXELATION_MIN_FACTOR``, from the share of those positions alone: an upscale by less than
    1.5 repeats whole lines.
    """
    readings = pixelation_readings(rows, columns)
    if readings is None:
        return 1.0
    factor, lines_factor = readings
    if lines_factor < DUP_MIN_FACTOR:
        return 1.0
    # The repeated lines speak for the factors the share misses (a 1.5x upscale can read just under 1.5 there).
    return float(min(factor, 8.0)) if factor >= PIXELATION_MIN_FACTOR else min(lines_factor, PIXELATION_MIN_FACTOR)
