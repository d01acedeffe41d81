"""The damage level: one number in [0, 1] for how much restoration an image needs (0 clean, 1 the worst trained).

Training draws it from each patch's degradation parameters (``degrade.Chain.level``); the runtime estimates the
same parameters from a file (its JPEG tables, or its pixels) and maps them through the same functions, so a model
conditioned on the level sees at run time the scale it was trained on.
"""

from __future__ import annotations

import math
from typing import Iterable

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


def banding_level(levels: float) -> float:
    """Intensities collapsed to ``levels`` per channel: 256 -> 0, 64 -> 0.4, 16 -> 0.8, 8 or fewer -> 1."""
    n = max(2.0, float(levels))
    return _clip(math.log2(256.0 / n) / 5.0)


def pixelation_level(factor: float) -> float:
    """Blocks of ``factor`` px: 1 -> 0, 2 -> 0.5, 4 or more -> 1."""
    return _clip(math.log2(max(1.0, float(factor))) / 2.0)


def resample_level(factor: float) -> float:
    """Down- and up-scaled by ``factor``: 1 -> 0, 2 -> 0.4, 4 -> 0.8."""
    return _clip(0.4 * math.log2(max(1.0, float(factor))))


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
