"""The photo every per-image benchmark times: the shipped astronaut portrait, upscaled to a full-size photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "examples" / "originals" / "astronaut.png"


def astronaut(size: int = 1024, height: int | None = None) -> np.ndarray:
    """The portrait as uint8 RGB, ``size`` wide and ``height`` (default: as wide) high (Lanczos)."""
    with Image.open(SOURCE) as im:
        return np.asarray(im.convert("RGB").resize((size, height or size), Image.Resampling.LANCZOS))
