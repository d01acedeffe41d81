"""Every statistic of facerestore.metrics against hand-computed answers on small hand-made images."""

from __future__ import annotations

import math

import numpy as np
import pytest

from facerestore import degrade, metrics


def ramp(width: int = 256, height: int = 4) -> np.ndarray:
    """Every level 0..255 exactly ``height`` times (one column per level)."""
    return np.tile(np.arange(width, dtype=np.uint8), (height, 1))


def test_histogram_counts_levels_of_every_dtype():
    img = np.array([[0, 0, 7], [255, 7, 7]], dtype=np.uint8)
    h = metrics.histogram(img)
    assert h.shape == (256,) and h.sum() == 6
    assert (h[0], h[7], h[255]) == (2, 3, 1)
    # 16-bit values are binned by their high byte; floats in [0, 1] by rounding x * 255.
    assert metrics.histogram(np.array([[0x0700, 0x07FF]], dtype=np.uint16))[7] == 2
    assert metrics.histogram(np.array([[7 / 255, 1.0]], dtype=np.float32))[[7, 255]].tolist() == [1, 1]


def test_smooth_ramp_has_no_gaps_and_full_entropy():
    st = metrics.histogram_stats(metrics.histogram(ramp()))
    assert st.gaps == 0 and st.levels == 256
    assert st.entropy == pytest.approx(8.0)  # uniform over 256 levels
    assert st.spikiness == pytest.approx(13 / 256)  # top 13 bins of equal height
    assert st.peak_ratio == pytest.approx(1.0)


@pytest.mark.parametrize("levels", [2, 5, 16, 52])
def test_posterized_ramp_has_known_gaps(levels):
    # A full ramp posterized to n levels uses exactly n levels spread from 0 to 255: 256 - n empty bins between.
    post = degrade.posterize(ramp(), levels)
    st = metrics.histogram_stats(metrics.histogram(post))
    assert st.levels == levels
    assert st.gaps == 256 - levels
    if levels <= 13:
        assert st.spikiness == pytest.approx(1.0)
    # Equal-count levels: entropy is log2(n) only if they are equally filled; check against the counts.
    counts = metrics.histogram(post)
    p = counts[counts > 0] / counts.sum()
    assert st.entropy == pytest.approx(float(-(p * np.log2(p)).sum()))


def test_gaps_only_count_inside_the_used_range():
    # Levels 10, 11, 15 used: bins 12, 13, 14 empty inside; everything below 10 and above 15 is not a gap.
    img = np.array([10, 11, 15, 15], dtype=np.uint8)
    st = metrics.histogram_stats(metrics.histogram(img))
    assert (st.gaps, st.levels) == (3, 3)
    # peak ratio: biggest bin 2 over mean bin in [10, 15] = 4 / 6.
    assert st.peak_ratio == pytest.approx(2 / (4 / 6))
    # entropy of (1/4, 1/4, 1/2) = 1.5 bits; spikiness: 13 fullest bins hold everything.
    assert st.entropy == pytest.approx(1.5)
    assert st.spikiness == pytest.approx(1.0)


def test_flat_image_statistics():
    st = metrics.histogram_stats(metrics.histogram(np.full((8, 8), 77, np.uint8)))
    assert (st.gaps, st.levels, st.entropy, st.spikiness) == (0, 1, 0.0, 1.0)
    assert metrics.histogram_stats(np.zeros(256)).levels == 0


def test_spikiness_share_of_top_five_percent_of_bins():
    # 200 levels with one pixel each, level 0 with 56 pixels: top 13 bins = 56 + 12 singles = 68 of 256.
    values = np.concatenate([np.arange(1, 201), np.zeros(56)]).astype(np.uint8)
    assert metrics.histogram_stats(metrics.histogram(values)).spikiness == pytest.approx(68 / 256)


def test_wasserstein_of_identical_is_zero_and_of_a_shift_is_the_shift():
    h = metrics.histogram(ramp(200))
    assert metrics.wasserstein(h, h) == 0.0
    shifted = metrics.histogram(ramp(200) + np.uint8(7))
    assert metrics.wasserstein(h, shifted) == pytest.approx(7.0)
    assert metrics.wasserstein(shifted, h) == pytest.approx(7.0)


def test_wasserstein_hand_computed_and_scale_free():
    a = np.zeros(256); a[0] = 1
    b = np.zeros(256); b[0], b[10] = 1, 1  # half the mass moves 10 levels: distance 5
    assert metrics.wasserstein(a, b) == pytest.approx(5.0)
    assert metrics.wasserstein(a * 1000, b * 3) == pytest.approx(5.0)  # normalised first
    with pytest.raises(ValueError):
        metrics.wasserstein(np.zeros(256), b)


def test_psnr_identical_is_infinite_and_known_error_gives_known_db():
    img = ramp()
    assert metrics.psnr(img, img.copy()) == math.inf
    off = img.astype(np.int16)
    off[:, ::2] += np.where(off[:, ::2] < 255, 1, -1)[0]  # every other pixel off by exactly one level
    off = off.astype(np.uint8)
    # MSE = 1/2 -> PSNR = 10 log10(255^2 / 0.5)
    assert metrics.psnr(img, off) == pytest.approx(10 * math.log10(255 ** 2 / 0.5))
    f = img.astype(np.float32) / 255
    assert metrics.psnr(f, off.astype(np.float32) / 255) == pytest.approx(10 * math.log10(255 ** 2 / 0.5), rel=1e-5)


def test_psnr_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        metrics.psnr(np.zeros((4, 4), np.uint8), np.zeros((4, 5), np.uint8))


def test_ssim_identical_is_one(hopper_rgb):
    assert metrics.ssim(hopper_rgb, hopper_rgb) == pytest.approx(1.0, abs=1e-6)


def test_ssim_of_constant_images_is_the_luminance_term():
    # No variance anywhere: SSIM = (2 mx my + C1) / (mx^2 + my^2 + C1) exactly.
    x = np.full((16, 16), 0.5, np.float32)
    y = np.full((16, 16), 0.25, np.float32)
    c1 = 0.01 ** 2
    assert metrics.ssim(x, y) == pytest.approx((2 * 0.5 * 0.25 + c1) / (0.5 ** 2 + 0.25 ** 2 + c1), rel=1e-6)


def test_ssim_single_window_matches_the_direct_weighted_formula():
    # An 11x11 image has exactly one window position: compute the weighted statistics directly in 2-D.
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (11, 11)).astype(np.uint8)
    y = np.clip(x.astype(int) + rng.integers(-40, 41, (11, 11)), 0, 255).astype(np.uint8)
    g = metrics.gaussian_window()
    w = np.outer(g, g)
    xf, yf = x / 255.0, y / 255.0
    mx, my = (w * xf).sum(), (w * yf).sum()
    vx, vy = (w * xf * xf).sum() - mx ** 2, (w * yf * yf).sum() - my ** 2
    cxy = (w * xf * yf).sum() - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    expected = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    assert metrics.ssim(x, y) == pytest.approx(expected, abs=1e-5)
    assert metrics.gaussian_window().size == 11 and g.sum() == pytest.approx(1.0)


def test_ssim_over_many_windows_is_the_mean_of_the_direct_formula(hopper_rgb):
    # Taller than several of the passes SSIM makes over rows, and not a multiple of one: every window counts once.
    x = metrics.luminance(hopper_rgb[200:200 + 2 * metrics.SSIM_STRIP + 27, 150:190]).astype(np.float64) / 255
    y = metrics.luminance(degrade.posterize(hopper_rgb, 10)[200:200 + 2 * metrics.SSIM_STRIP + 27, 150:190]) / 255
    g = metrics.gaussian_window()
    w = np.outer(g, g)
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    scores = []
    for i in range(x.shape[0] - 10):
        for j in range(x.shape[1] - 10):
            a, b = x[i:i + 11, j:j + 11], y[i:i + 11, j:j + 11]
            mx, my = (w * a).sum(), (w * b).sum()
            vx, vy, cxy = (w * a * a).sum() - mx ** 2, (w * b * b).sum() - my ** 2, (w * a * b).sum() - mx * my
            scores.append((2 * mx * my + c1) * (2 * cxy + c2) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2)))
    assert metrics.ssim(x, y, data_range=1.0) == pytest.approx(np.mean(scores), abs=1e-5)


def test_a_reference_scores_many_images_as_separate_calls_would(hopper_rgb):
    ref = hopper_rgb[:70, :90]
    images = [degrade.posterize(ref, 6), ref, 255 - ref, degrade.posterize(ref, 30)]
    reference = metrics.SsimReference(ref)
    first = [reference.score(x) for x in images]
    assert [reference.score(x) for x in reversed(images)] == first[::-1]  # scoring leaves the reference as it was
    for x, score in zip(images, first):
        assert score == pytest.approx(metrics.ssim(x, ref), abs=1e-7)
    assert first[1] == pytest.approx(1.0) and first[2] < 0 < first[0] < first[3] < 1
    with pytest.raises(ValueError, match="differ in shape"):
        reference.score(ref[:-1])


def test_ssim_is_symmetric_and_falls_with_noise(hopper_rgb):
    rng = np.random.default_rng(0)
    crop = hopper_rgb[100:228, 100:228]
    noisy = [np.clip(crop + rng.normal(0, s, crop.shape), 0, 255).astype(np.uint8) for s in (2, 8, 30)]
    scores = [metrics.ssim(crop, n) for n in noisy]
    assert scores[0] > scores[1] > scores[2] > 0
    assert metrics.ssim(noisy[1], crop) == pytest.approx(scores[1], abs=1e-6)


def test_ssim_of_colour_is_ssim_of_the_luma(hopper_rgb):
    a = hopper_rgb[:64, :64]
    b = degrade.posterize(a, 8)
    weights = np.array([0.299, 0.587, 0.114])
    luma_a, luma_b = a.astype(np.float64) @ weights, b.astype(np.float64) @ weights  # unrounded, still 0..255
    assert metrics.ssim(a, b) == pytest.approx(metrics.ssim(luma_a, luma_b, data_range=255), abs=1e-6)
    # A pure chroma change with equal luma is invisible to it by design.
    assert metrics.ssim(a[..., :1], a[..., :1]) == pytest.approx(1.0)


def test_ssim_small_image_uses_a_smaller_window():
    x = np.arange(25, dtype=np.uint8).reshape(5, 5) * 10
    assert metrics.ssim(x, x) == pytest.approx(1.0)
    assert metrics.ssim(x, 255 - x) < 0.5


def test_luminance_and_to_uint8():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8)
    assert metrics.luminance(rgb).tolist() == [[76, 150, 29]]  # BT.601 weights, rounded
    assert metrics.to_uint8(np.array([0.0, 0.5, 1.0, 1.2], np.float32)).tolist() == [0, 128, 255, 255]
    assert metrics.to_uint8(np.array([65535, 256], np.uint16)).tolist() == [255, 1]


@pytest.mark.parametrize("shape", [(300, 200, 3), (300, 200, 1), (300, 200)])
def test_channel_histograms_one_pass_equals_per_channel_counts(hopper_rgb, shape):
    """The fast path (Pillow, all channels in one pass) counts exactly what a bincount per channel does."""
    img = hopper_rgb[:300, :200]
    if len(shape) == 2 or shape[-1] == 1:
        img = metrics.luminance(img).reshape(shape)
    hists = metrics.channel_histograms(img)
    expected = [np.bincount(c.ravel(), minlength=256) for c in metrics.channels_of(img)]
    assert len(hists) == len(expected)
    for got, want in zip(hists, expected):
        np.testing.assert_array_equal(got, want)
        assert got.sum() == 300 * 200
