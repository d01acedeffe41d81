"""The fit's validation cases the pixelation constraint may hold (not JPEG files, pixelation read): what the
reading-only scripts here (always_tolerant.py, union_reading.py, grid_reading.py) look at."""
from pathlib import Path

from export.fit_strength import fit_cases


def pixelated_fit_cases(gray: bool = False):
    """The fit's validation cases at 256 and 512 px (colour, or ``gray``) that a pixelation constraint may hold."""
    for case in fit_cases(Path("../shared/data/faces"), sides=(256, 512), gray=gray, upscale=True):
        if case.loaded.jpeg is None and case.damage.pixelation > 1.0:
            yield case
