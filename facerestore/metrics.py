"""Image-quality statistics: histogram shape, Wasserstein distance, PSNR and SSIM (pure numpy).

Degradation (banding, JPEG blocking) collapses many intensities into a few: the histogram gets tall spikes
with empty gaps between them. A good restoration spreads them back toward the original's distribution.
The statistics here measure exactly that, on the 256 intensity levels of an 8-bit channel:

- ``gaps``: empty levels strictly between the lowest and the highest level that occurs.
- ``levels``: distinct levels that occur (non-empty bins).
- ``spikiness``: share of the pixels that fall in the 13 fullest levels (the top 5 % of the 256 bins).
  About 0.05-0.2 for a smooth photo, 1.0 when an image has 13 levels or fewer.
- ``peak_ratio``: the fullest bin divided by the mean bin over the occupied range [lowest, highest level]
  (gaps count as empty bins). About 1-3 for a smooth photo; 16 for a full-range ramp posterized to 16 levels.
- ``entropy``: Shannon entropy of the level distribution, in bits (0 for a flat colour, 8 at most).
- ``wasserstein``: earth mover's distance between two normalised histograms, in intensity levels: how far,
  on average, a pixel's level must move to turn one distribution into the other (shifting a whole image by
  k levels gives k).

Fidelity against a reference (the original) is measured with PSNR (dB; ``inf`` for identical images) and
SSIM (Wang et al. 2004: Gaussian window sigma 1.5 truncated to 11x11, K1 = 0.01, K2 = 0.03, computed over
the window positions that fit inside the image, on the BT.601 luma of colour images).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

LEVELS = 256
# The "top 5 % of bins" used by spikiness: ceil(0.05 * 256) = 13 bins.
TOP_BINS = math.ceil(0.05 * LEVELS)
SSIM_SIGMA = 1.5
SSIM_RADIUS = 5  # 11x11 window, as in the SSIM paper
SSIM_K1 = 0.01
SSIM_K2 = 0.03
# ITU-R BT.601 luma weights: the Y of the YCbCr that JPEG uses, as in Pillow's "L" conversion.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """8-bit levels of an image: uint8 kept, uint16 shifted down, floats in [0, 1] scaled and rounded."""
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.dtype == np.uint16:
        return (pixels >> 8).astype(np.uint8)
    if np.issubdtype(pixels.dtype, np.floating):
        scaled = pixels * 255.0  # one temporary, rounded and clipped in place: a 12 MP photo is 144 MB of floats
        np.rint(scaled, out=scaled)
        np.clip(scaled, 0, 255, out=scaled)
        return scaled.astype(np.uint8)
    raise TypeError(f"unsupported pixel dtype {pixels.dtype}")


def channels_of(image: np.ndarray) -> list[np.ndarray]:
    """The channel planes of an H x W, H x W x 1 or H x W x 3 array."""
    if image.ndim == 2:
        return [image]
    return [image[..., c] for c in range(image.shape[-1])]


def luminance(image: np.ndarray, keepdims: bool = False) -> np.ndarray:
    """BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B of a colour image, in its dtype (integers rounded).

    A gray image is returned as it is. Float32 colour gives the unrounded float32 product: the Y that a
    1-channel model restores (``facerestore.restore``). H x W, or H x W x 1 with ``keepdims``.
    """
    if image.ndim == 3 and image.shape[-1] >= 3:
        y = np.asarray(image[..., :3], dtype=np.float32) @ LUMA_WEIGHTS
        if np.issubdtype(image.dtype, np.integer):
            y = np.rint(y).astype(image.dtype)
        else:
            y = y.astype(image.dtype, copy=False)
    else:
        y = image if image.ndim == 2 else image[..., 0]
    return y[..., None] if keepdims else y


def histogram(channel: np.ndarray) -> np.ndarray:
    """Counts of the 256 levels of one channel (uint8, uint16 binned by its high byte, or floats in [0, 1])."""
    levels = to_uint8(channel)
    return np.bincount(levels.ravel(), minlength=LEVELS).astype(np.int64)


@dataclass(frozen=True)
class HistogramStats:
    """Shape statistics of one channel's 256-level histogram (definitions in the module docstring)."""

    gaps: int
    levels: int
    spikiness: float
    peak_ratio: float
    entropy: float

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def histogram_stats(counts: np.ndarray) -> HistogramStats:
    """Gaps, distinct levels, spikiness, peak ratio and entropy of a histogram (an empty one gives zeros)."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    used = np.flatnonzero(counts)
    if total <= 0 or used.size == 0:
        return HistogramStats(0, 0, 0.0, 0.0, 0.0)
    lo, hi = int(used[0]), int(used[-1])
    gaps = (hi - lo + 1) - used.size  # empty bins strictly inside [lo, hi]
    top = np.sort(counts)[-TOP_BINS:]
    spikiness = float(top.sum() / total)
    peak_ratio = float(counts.max() / (total / (hi - lo + 1)))
    p = counts[used] / total
    entropy = float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0 turns -0.0 into 0.0
    return HistogramStats(int(gaps), int(used.size), spikiness, peak_ratio, entropy)


def wasserstein(hist_a: np.ndarray, hist_b: np.ndarray) -> float:
    """1-D earth mover's distance between two histograms over the same levels, in levels.

    Both are normalised to sum to 1; with unit bin width the distance is the L1 norm of the difference of
    their cumulative distributions: ``sum_k |CDF_a(k) - CDF_b(k)|``.
    """
    a = np.asarray(hist_a, dtype=np.float64)
    b = np.asarray(hist_b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"histograms differ in length: {a.shape} vs {b.shape}")
    if a.sum() <= 0 or b.sum() <= 0:
        raise ValueError("cannot compare an empty histogram")
    return float(np.abs(np.cumsum(a / a.sum()) - np.cumsum(b / b.sum())).sum())


def default_range(dtype: np.dtype) -> float:
    """The peak value of an image type: 255 (uint8), 65535 (uint16), 1.0 (floats in [0, 1])."""
    if dtype == np.uint8:
        return 255.0
    if dtype == np.uint16:
        return 65535.0
    return 1.0


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")


def psnr(a: np.ndarray, b: np.ndarray, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(peak^2 / MSE)``; ``inf`` when the images are identical.

    ``data_range`` (the peak) defaults to 255 for uint8, 65535 for uint16 and 1.0 for floats.
    """
    _check_pair(a, b)
    peak = default_range(a.dtype) if data_range is None else float(data_range)
    if a.dtype == b.dtype and a.dtype in (np.uint8, np.uint16):
        # Integer levels: exact integer squares (twice as fast as float64, the same number).
        d = np.subtract(a, b, dtype=np.int32 if a.dtype == np.uint8 else np.int64)
        mse = float(np.sum(d * d, dtype=np.int64)) / d.size
    else:
        mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(peak * peak / mse)


def gaussian_window(sigma: float = SSIM_SIGMA, radius: int = SSIM_RADIUS) -> np.ndarray:
    """The normalised 1-D Gaussian taps (length 2 * radius + 1) whose outer product is the SSIM window."""
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return w / w.sum()


def _filter_valid(planes: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Separable 'valid' filtering of a stack of planes (N x H x W) with symmetric taps.

    Each axis is one shifted add per pair of equal taps, done in place: no per-pixel Python and no
    temporary per tap, which keeps SSIM of a 1024x1024 photo well under a second.
    """
    n = taps.size
    r = n // 2
    h, w = planes.shape[1] - n + 1, planes.shape[2] - n + 1
    rows = planes[:, :, r:r + w] * taps[r]
    tmp = np.empty_like(rows)
    for k in range(r):
        np.add(planes[:, :, k:k + w], planes[:, :, n - 1 - k:n - 1 - k + w], out=tmp)
        tmp *= taps[k]
        rows += tmp
    out = rows[:, r:r + h, :] * taps[r]
    tmp = np.empty_like(out)
    for k in range(r):
        np.add(rows[:, k:k + h, :], rows[:, n - 1 - k:n - 1 - k + h, :], out=tmp)
        tmp *= taps[k]
        out += tmp
    return out


SSIM_STRIP = 32  # output rows per pass: the strip's filtered planes stay in cache (2x faster at 1024 px)


class SsimReference:
    """A reference image that several images are scored against with :func:`ssim`.

    The reference's own local means and mean squares are filtered once, here; each score then filters only the
    image's mean, mean square and product with the reference: three planes instead of five, so a report that
    scores its input and its output spends 8/10 of the filtering two separate calls would.
    """

    def __init__(self, reference: np.ndarray, data_range: float | None = None):
        if min(reference.shape[0], reference.shape[1]) < 1:
            raise ValueError("cannot compute SSIM of an empty image")
        self.shape = reference.shape
        self.peak = default_range(reference.dtype) if data_range is None else float(data_range)
        radius = min(SSIM_RADIUS, (min(reference.shape[0], reference.shape[1]) - 1) // 2)
        self.taps = gaussian_window(SSIM_SIGMA, radius).astype(np.float32)
        self._y = self._centred(reference)
        n = self.taps.size
        rows, cols = self._y.shape[0] - n + 1, self._y.shape[1] - n + 1
        # Per window: the centred mean, the mean, mean^2 + C1 and variance + C2, the reference's parts of SSIM.
        # Filtered in strips like the scores: whole-image passes would not stay in cache.
        self._parts = np.empty((4, rows, cols), dtype=np.float32)
        for r0 in range(0, rows, SSIM_STRIP):
            sy = self._y[r0:r0 + SSIM_STRIP + n - 1]
            myc, myy = _filter_valid(np.stack([sy, sy * sy]), self.taps)
            my = myc + np.float32(0.5)
            self._parts[:, r0:r0 + SSIM_STRIP] = myc, my, my * my + SSIM_K1 ** 2, myy - myc * myc + SSIM_K2 ** 2

    def _centred(self, image: np.ndarray) -> np.ndarray:
        # Float32 on [0, 1] centred at 0.5: variances are differences of nearly equal numbers, and centring keeps
        # them small (covariances are shift invariant; the means are shifted back).
        return (_luma_plane(image) / np.float32(self.peak)) - np.float32(0.5)

    def score(self, image: np.ndarray) -> float:
        """The mean SSIM of ``image`` (the reference's shape) against the reference."""
        if image.shape != self.shape:
            raise ValueError(f"images differ in shape: {image.shape} vs {self.shape}")
        xc, yc = self._centred(image), self._y
        c1, c2 = np.float32(SSIM_K1 ** 2), np.float32(SSIM_K2 ** 2)
        n = self.taps.size
        rows, cols = self._parts.shape[1:]
        total = 0.0
        for r0 in range(0, rows, SSIM_STRIP):
            sx, sy = xc[r0:r0 + SSIM_STRIP + n - 1], yc[r0:r0 + SSIM_STRIP + n - 1]
            mxc, mxx, mxy = _filter_valid(np.stack([sx, sx * sx, sx * sy]), self.taps)
            myc, my, my2_c1, vy_c2 = self._parts[:, r0:r0 + SSIM_STRIP]
            # In place, one temporary: SSIM = (2 mx my + C1)(2 cov + C2) / ((mx^2 + my^2 + C1)(vx + vy + C2)).
            tmp = mxc * mxc
            mxx -= tmp  # the variance of x
            np.multiply(mxc, myc, out=tmp)
            mxy -= tmp  # the covariance
            mxc += np.float32(0.5)  # the mean of x
            num = mxc * my
            num *= 2
            num += c1
            mxy *= 2
            mxy += c2
            num *= mxy
            np.multiply(mxc, mxc, out=tmp)
            tmp += my2_c1
            mxx += vy_c2
            tmp *= mxx
            num /= tmp
            total += float(np.sum(num, dtype=np.float64))
        return total / (rows * cols)


def ssim(a: np.ndarray, b: np.ndarray, data_range: float | None = None) -> float:
    """Mean structural similarity (1.0 for identical images); colour images are compared on their luma.

    Local means, variances and covariance come from an 11x11 Gaussian window (sigma 1.5) at every position
    where it fits inside the image; images smaller than 11 pixels use the largest odd window that fits.
    Colour (3-channel) images are reduced to BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B (unrounded) first:
    the usual choice in restoration papers, and a third of the cost of averaging the three channels.
    To score several images against one reference, :class:`SsimReference` filters the reference once.
    """
    _check_pair(a, b)
    return SsimReference(b, default_range(a.dtype) if data_range is None else data_range).score(a)


def _luma_plane(image: np.ndarray) -> np.ndarray:
    """One float32 plane: the image itself (gray) or its unrounded BT.601 luma (colour)."""
    if image.ndim == 2:
        return image.astype(np.float32)
    if image.shape[-1] == 1:
        return image[..., 0].astype(np.float32)
    if image.shape[-1] != 3:
        raise ValueError(f"SSIM needs 1 or 3 channels, got {image.shape[-1]}")
    return luminance(image.astype(np.float32))


def channel_histograms(image: np.ndarray) -> list[np.ndarray]:
    """The 256-level histogram of every channel of an image."""
    planes = image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image
    if planes.dtype == np.uint8 and (planes.ndim == 2 or planes.shape[-1] == 3):
        # Pillow counts every channel in one pass over the interleaved pixels, about 5x faster than a
        # bincount per strided channel (the report histograms two 8-bit images per restored photo).
        from PIL import Image

        counts = np.asarray(Image.fromarray(np.ascontiguousarray(planes)).histogram(), dtype=np.int64)
        return list(counts.reshape(-1, LEVELS))
    return [histogram(c) for c in channels_of(image)]


def mean_stats(hists: list[np.ndarray]) -> dict[str, float]:
    """Histogram statistics averaged over channels (a gray image has one)."""
    per_channel = [histogram_stats(h).as_dict() for h in hists]
    return {k: float(np.mean([s[k] for s in per_channel])) for k in per_channel[0]}


def mean_wasserstein(hists_a: list[np.ndarray], hists_b: list[np.ndarray]) -> float:
    """Wasserstein distance averaged over matching channels."""
    if len(hists_a) != len(hists_b):
        raise ValueError(f"channel counts differ: {len(hists_a)} vs {len(hists_b)}")
    return float(np.mean([wasserstein(x, y) for x, y in zip(hists_a, hists_b)]))
