"""The two pixelation readings of an image (facerestore.damage.pixels.pixelation_readings) on the lines the analysis
samples: the factor from the equal-neighbour share inside textured stretches, and the factor from the positions
whose neighbours are equal on every line."""
import numpy as np

from facerestore.damage import pixels as px
from facerestore.damage.analysis import sampled_lines


def readings(pixels: np.ndarray) -> tuple[float, float]:
    found = px.pixelation_readings(*sampled_lines(pixels))
    return found if found is not None else (1.0, 1.0)
