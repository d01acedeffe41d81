"""What a file itself says its undamaged original could have been, to keep every restoration of it within.

A JPEG's quantisation intervals (:mod:`facerestore.jpeg_constraint`), the luma intervals of a lossless copy of a
JPEG (:mod:`facerestore.jpeg_copy`), a banded image's level bins (:mod:`facerestore.level_constraint`) or a
pixelated image's block means (:mod:`facerestore.pixelation_constraint`). Each is a set that holds the original
(the block means: near it, after downscalers that do not average), so clipping or projecting into it never takes a
pixel further from the original. Every command reads a file's constraint here, once, and
:func:`facerestore.restore.restore_image` applies it after the strength.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from facerestore.damage.analysis import Damage
from facerestore.imageio import LoadedImage
from facerestore.jpeg_constraint import JpegConstraint
from facerestore.jpeg_copy import JpegCopyConstraint
from facerestore.level_constraint import LevelConstraint
from facerestore.pixelation_constraint import PixelationConstraint


class Constraint(Protocol):
    def enforce(self, restored: np.ndarray) -> np.ndarray:
        """``restored`` (H x W x C floats in [0, 1], the decoded image's shape) kept within the set."""
        ...


def read_constraint(loaded: LoadedImage, damage: Damage) -> Constraint | None:
    """The constraint of a decoded file (``damage``: its analysis), or None where none holds."""
    for kind in (JpegConstraint, JpegCopyConstraint, LevelConstraint, PixelationConstraint):
        constraint = kind.of(loaded, damage)
        if constraint is not None:
            return constraint
    return None
