"""The damage level: one number in [0, 1] for how much restoration an image needs (0 clean, 1 the worst trained).

Training draws it from each patch's degradation parameters (``degrade.Chain.level``); the runtime estimates the
same parameters from a file (its JPEG tables, or its pixels) and maps them through the same functions, so a model
conditioned on the level sees at run time the scale it was trained on. One departure: a JPEG photo clearly smoother
than the training faces is placed at the quality whose damage its own quality did to it (``cost_quality``), not at
its quality, since the faces a quality was trained on lost more to it.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

LEVEL_MIN, LEVEL_MAX = 0.0, 1.0


def _clip(x: float) -> float:
    return min(LEVEL_MAX, max(LEVEL_MIN, x))


def ijg_scale(quality: float) -> float:
    """The IJG quality scaling factor in percent: quantisation steps are the standard tables times this / 100."""
    q = min(100.0, max(1.0, float(quality)))
    return 5000.0 / q if q < 50 else 200.0 - 2.0 * q


# The quantisation step grows geometrically as quality falls, and so does the visible damage: the level is the
# log of the IJG scale, 0 at scale 5 (quality 97.5 and above: indistinguishable from clean) and 1 at quality 5.
_LOG_CLEAN, _LOG_WORST = math.log(5.0), math.log(ijg_scale(5))


def jpeg_level(quality: float) -> float:
    """Quality 5 -> 1.0, 10 -> 0.87, 20 -> 0.74, 50 -> 0.57, 75 -> 0.44, 90 -> 0.26, 95 -> 0.13, >= 98 -> 0."""
    scale = ijg_scale(quality)
    if scale <= 5.0:
        return 0.0
    return _clip((math.log(scale) - _LOG_CLEAN) / (_LOG_WORST - _LOG_CLEAN))


# Banding, scaling and lossy WebP sit at the level of the JPEG quality that costs the same PSNR on the training faces: a
# damage-conditioned model, told each level by hand, restores banding and pixelation best near that level
# (measured on the validation faces), so one scale serves every kind of damage; the strength curves per kind
# (facerestore.damage.strength) fit what remains between kinds.
# libwebp qualities export/calibrate_levels.py measures WEBP_KNOTS at, one knot each in this order: its quality 100
# is index 0, 0 is 127 (the coarsest).
WEBP_QUALITIES = (100, 95, 90, 85, 75, 60, 50, 40, 30, 20, 10, 5, 0)
# --- calibrated by export/calibrate_levels.py on the training faces; do not edit by hand ---
BANDING_KNOTS = (
    (4, 1.000), (6, 0.994), (8, 0.873), (12, 0.684), (16, 0.543), (20, 0.447), (24, 0.362),
    (32, 0.239), (48, 0.053), (64, 0.010), (96, 0.000), (128, 0.000), (256, 0.000),
)
PIXELATION_KNOTS = (
    (1, 0.000), (1.25, 0.561), (1.5, 0.684), (2, 0.747), (2.5, 0.849), (3, 0.887), (4, 0.958),
    (6, 1.000),
)
RESAMPLE_KNOTS = (
    (1, 0.000), (1.3, 0.355), (1.5, 0.453), (2, 0.608), (2.5, 0.707), (3, 0.774), (4, 0.863),
    (6, 0.963),
)
WEBP_KNOTS = (
    (0, 0.000), (4.3, 0.113), (9.3, 0.243), (15, 0.341), (27.7, 0.476), (35.1, 0.526), (40.9, 0.560),
    (47.2, 0.598), (54.8, 0.648), (64.1, 0.698), (77.3, 0.755), (87.6, 0.794), (127, 0.914),
)
COST_KNOTS = (
    (5, 25.78), (7, 27.65), (10, 29.51), (15, 31.35), (20, 32.53), (30, 34.04), (40, 35.00),
    (50, 35.68), (60, 36.42), (70, 37.46), (80, 38.98), (90, 42.02), (95, 45.54), (97, 48.54),
    (99, 54.97),
)
# --- end of calibrated levels ---


def _on_knots(knots: tuple[tuple[float, float], ...], x: float) -> float:
    """Interpolated in log(x) between (parameter, level) knots sorted by parameter, flat beyond both ends."""
    t = math.log(x)
    points = [(math.log(k), lv) for k, lv in knots]
    if t <= points[0][0]:
        return _clip(points[0][1])
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if t <= x1:
            return _clip(y0 + (y1 - y0) * (t - x0) / (x1 - x0))
    return _clip(points[-1][1])


def banding_level(levels: float) -> float:
    """Intensities collapsed to ``levels`` per channel: 256 -> 0, fewer -> the level of equally costly JPEG."""
    return _on_knots(BANDING_KNOTS, min(256.0, max(2.0, float(levels))))


def pixelation_level(factor: float) -> float:
    """Blocks of ``factor`` px: 1 -> 0, larger -> the level of equally costly JPEG."""
    return _on_knots(PIXELATION_KNOTS, max(1.0, float(factor)))


def resample_level(factor: float) -> float:
    """Down- and up-scaled by ``factor``: 1 -> 0, larger -> the level of equally costly JPEG."""
    return _on_knots(RESAMPLE_KNOTS, max(1.0, float(factor)))


def webp_level(index: float) -> float:
    """A lossy WebP of luma quantiser ``index`` (0 finest .. 127, its header's): the level of equally costly
    JPEG, linear between the knots (VP8's steps already grow about geometrically with the index)."""
    points, values = zip(*WEBP_KNOTS)
    return _clip(float(np.interp(float(index), points, values))) if len(points) > 1 else 0.0


def webp_quality_level(quality: float) -> float:
    """A lossy WebP saved at libwebp ``quality`` (0-100): the level of the index the training faces' headers state
    at that quality (their mean; a file's own header may differ a little, as one photo's PSNR does)."""
    qualities = np.array(WEBP_QUALITIES[::-1], dtype=np.float64)
    knot_levels = np.array([lv for _, lv in WEBP_KNOTS][::-1], dtype=np.float64)
    return _clip(float(np.interp(float(quality), qualities, knot_levels)))


# A JPEG's level follows the quality that costs the training faces what its own quality cost the image's content
# (COST_KNOTS: their mean re-compression luma PSNR per quality, facerestore.damage.jpeg_cost), read COST_MARGIN dB
# below that measure and never above COST_MAX_QUALITY: only content clearly smoother than the faces is told less
# damage. Measured against the quality alone (PNG output, auto): on soft faces (training faces at 256 px blurred by
# 1-2 px, colour and gray, JPEG 10-95) `darn` went from 75 of 312 worse to 8 (+0.84 -> +1.41 dB mean), `big` from
# 15 to 11 (+1.13 -> +1.09); on the validation faces at 256 px (JPEG 10-95, colour and gray) `darn` from 2 of 280 worse
# to none (+1.318 -> +1.325), `big` unchanged (+1.035 -> +1.037); on natural photos (512 px, JPEG 30-95) none worse
# either way, `big` +0.90 -> +0.86, `darn` +1.02 -> +0.95. Read at the measure itself and up to quality 99, `darn`
# lost 0.07 dB on the validation faces, and soft faces at JPEG 95, which it restores by +0.73 dB with none worse,
# were left unchanged (above 95 the knots rise 3 dB per 2 points). runs/content-cost.
COST_MARGIN = 2.0
COST_MAX_QUALITY = 95


def cost_quality(quality: int, psnr: float | None) -> int:
    """The JPEG quality whose damage one image's content took at ``quality`` (``psnr``: its re-compression luma
    PSNR, ``facerestore.damage.jpeg_cost``), on the training faces' scale (COST_KNOTS, COST_MARGIN), never below
    ``quality`` nor above COST_MAX_QUALITY: a soft photo that lost little at 75 sits where the faces do at 90 and
    is restored as such; a detailed one stays at its quality, its restoration never raised above what the quality
    alone calls for. ``quality`` where there is no measure."""
    if psnr is None or len(COST_KNOTS) < 2:
        return quality
    qualities, costs = zip(*COST_KNOTS)
    found = round(float(np.interp(psnr - COST_MARGIN, costs, qualities)))
    return max(quality, min(found, COST_MAX_QUALITY))


def blur_level(sigma: float) -> float:
    """Gaussian blur of ``sigma`` px: 2 px or more -> 1."""
    return _clip(float(sigma) / 2.0)


def noise_level(sigma: float) -> float:
    """Noise of ``sigma`` grey levels (0-255): 25 or more -> 1."""
    return _clip(float(sigma) / 25.0)


def combine(levels: Iterable[float]) -> float:
    """Damage compounds: each further degradation takes its share of what quality is left."""
    kept = 1.0
    for level in levels:
        kept *= 1.0 - _clip(level)
    return _clip(1.0 - kept)
