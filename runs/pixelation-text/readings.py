"""The two pixelation readings of an image, as facerestore.damage.pixels.pixelation_factor computes them on the
lines the analysis samples: the factor from the equal-neighbour share inside textured stretches, and the factor
from the positions whose neighbours are equal on every line."""
import numpy as np

from facerestore.damage import pixels as px
from facerestore.damage.analysis import LINE_STRIDE, _levels8


def readings(pixels: np.ndarray) -> tuple[float, float]:
    rows = _levels8(pixels[::LINE_STRIDE])
    columns = _levels8(pixels[:, ::LINE_STRIDE].swapaxes(0, 1))
    shares, repeated = [], []
    for lines in (rows, columns):
        same = px._packed(lines)
        same = same[:, 1:] == same[:, :-1]
        steps = np.abs(np.diff(lines.astype(np.int16), axis=1))
        if steps.ndim == 3:
            steps = steps.max(axis=2)
        pairs = px.FLAT_WINDOW - 1
        count = np.zeros((same.shape[0], same.shape[1] + 1), dtype=np.int32)
        np.cumsum(steps >= px.PIXELATION_MIN_STEP, axis=1, out=count[:, 1:])
        textured = count[:, pairs:] - count[:, :-pairs] > 0
        centre = same[:, pairs // 2:pairs // 2 + textured.shape[1]]
        if not textured.any():
            return 1.0, 1.0
        shares.append(float(centre[textured].mean()))
        lines_textured = textured.sum(axis=0)
        counted = lines_textured >= px.DUP_MIN_LINES
        whole = counted & ((centre & textured).sum(axis=0) == lines_textured)
        repeated.append(float(whole.sum() / max(int(counted.sum()), 1)))
    return 1 / max(1 - min(shares), 1e-3), 1 / max(1 - min(repeated), 1e-3)

