"""Degradation operations and chains, on a real photograph (Grace Hopper, public domain).

Histogram vocabulary used below, per 8-bit channel:
- gaps: empty levels strictly between the lowest and highest level used (``facerestore.metrics``);
- spikes: used levels holding more than twice the mean count of their two neighbouring levels, i.e. isolated
  peaks of a comb-like histogram. A smooth photo has almost none; a collapsed one has one per surviving level.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from facerestore.degrade import OPS, PRESETS, Chain, parse_chain, random_chain
from facerestore.errors import DegradationSpecError
from facerestore.metrics import histogram, histogram_stats, psnr


def gaps(channel: np.ndarray) -> int:
    return histogram_stats(histogram(channel)).gaps


def spikes(channel: np.ndarray) -> int:
    h = histogram(channel).astype(np.float64)
    padded = np.pad(h, 1)
    neighbours = (padded[:-2] + padded[2:]) / 2
    return int(np.count_nonzero((h > 0) & (h > 2 * neighbours)))


def blockiness(img: np.ndarray) -> float:
    """Mean jump across 8-pixel block borders divided by the mean jump inside blocks (1.0: no blocking)."""
    g = img.astype(np.float64).mean(axis=2) if img.ndim == 3 else img.astype(np.float64)
    d = np.abs(np.diff(g, axis=1))
    border = d[:, 7::8].mean()
    inside = np.delete(d, np.s_[7::8], axis=1).mean()
    return float(border / inside)


def laplacian_energy(img: np.ndarray) -> float:
    g = img.astype(np.float64).mean(axis=2)
    lap = 4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    return float(np.mean(lap ** 2))


# ---- the operations, one by one ----------------------------------------------------------------------

def test_jpeg_blocks_and_lower_quality_loses_more(hopper_rgb):
    q10, q50 = parse_chain("jpeg:10").apply(hopper_rgb), parse_chain("jpeg:50").apply(hopper_rgb)
    assert q10.shape == hopper_rgb.shape and q10.dtype == np.uint8
    assert psnr(q10, hopper_rgb) < psnr(q50, hopper_rgb) - 2
    assert blockiness(q10) > 1.3 * blockiness(hopper_rgb)


def test_jpeg_chroma_subsampling_costs_colour_detail(hopper_rgb):
    from PIL import Image

    def chroma(a: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(a).convert("YCbCr"))[..., 1:]

    full = parse_chain("jpeg:40:444").apply(hopper_rgb)
    sub = parse_chain("jpeg:40:420").apply(hopper_rgb)
    assert psnr(chroma(sub), chroma(hopper_rgb)) < psnr(chroma(full), chroma(hopper_rgb))


def test_webp_is_a_real_lossy_webp_told_the_level_its_header_reads(hopper_rgb, tmp_path):
    """The op's level, from its quality, is the level the runtime reads from such a file's header."""
    from facerestore.damage.analysis import analyze
    from facerestore.imageio import read_image

    scores = {}
    for quality in (10, 50, 90):
        out = parse_chain(f"webp:{quality}").apply(hopper_rgb)
        assert out.shape == hopper_rgb.shape and out.dtype == np.uint8
        scores[quality] = psnr(out, hopper_rgb, 255.0)
        Image.fromarray(hopper_rgb).save(tmp_path / "w.webp", quality=quality)
        read = analyze(read_image(tmp_path / "w.webp"))
        with Image.open(tmp_path / "w.webp") as im:
            assert np.array_equal(out, np.asarray(im.convert("RGB")))  # the very pixels such a file decodes to
        assert read.kind == "webp" and parse_chain(f"webp:{quality}").level == pytest.approx(read.level, abs=0.04)
    assert scores[10] < scores[50] < scores[90] < 60
    assert parse_chain("webp:100").level == 0.0 and parse_chain("webp:5").level > parse_chain("webp:20").level


def test_double_jpeg_is_two_generations(hopper_rgb):
    twice = parse_chain("jpeg2:30:20").apply(hopper_rgb)
    np.testing.assert_array_equal(twice, parse_chain("jpeg:30,jpeg:20").apply(hopper_rgb))
    assert not np.array_equal(twice, parse_chain("jpeg:20").apply(hopper_rgb))


@pytest.mark.parametrize("levels", [2, 12, 20, 64])
def test_posterize_keeps_only_evenly_spaced_levels(hopper_rgb, levels):
    out = parse_chain(f"posterize:{levels}").apply(hopper_rgb)
    step = 255 / (levels - 1)
    grid = np.round(np.arange(levels) * step).astype(np.uint8)
    assert set(np.unique(out)) <= set(grid.tolist())
    assert np.abs(out.astype(int) - hopper_rgb).max() <= np.ceil(step / 2)
    for c in range(3):
        assert len(np.unique(out[..., c])) <= levels


def test_pixelate_makes_flat_blocks(hopper_rgb):
    out = parse_chain("pixelate:4").apply(hopper_rgb)  # 600 x 512 divides into 4 x 4 blocks exactly
    blocks = out.reshape(150, 4, 128, 4, 3)
    assert np.all(blocks == blocks[:, :1, :, :1, :])
    # Each block is the (rounded) mean of its source block.
    src = hopper_rgb.reshape(150, 4, 128, 4, 3).astype(np.float64).mean(axis=(1, 3))
    assert np.abs(blocks[:, 0, :, 0, :] - src).max() <= 1


def test_blur_removes_fine_detail_and_keeps_brightness(hopper_rgb):
    out = parse_chain("blur:1.5").apply(hopper_rgb)
    assert laplacian_energy(out) < 0.3 * laplacian_energy(hopper_rgb)
    assert abs(out.mean() - hopper_rgb.mean()) < 1.0
    np.testing.assert_array_equal(parse_chain("blur:0").apply(hopper_rgb), hopper_rgb)


def test_noise_has_the_requested_strength_and_follows_the_seed(hopper_rgb):
    chain = parse_chain("noise:6")
    a = chain.apply(hopper_rgb, np.random.default_rng(1))
    b = chain.apply(hopper_rgb, np.random.default_rng(1))
    c = chain.apply(hopper_rgb, np.random.default_rng(2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    mid = (hopper_rgb > 30) & (hopper_rgb < 225)  # away from clipping at 0 and 255
    diff = a.astype(np.float64) - hopper_rgb
    assert 5.4 < diff[mid].std() < 6.6 and abs(diff[mid].mean()) < 0.2


def test_ops_work_on_grayscale_arrays(hopper_rgb):
    gray = hopper_rgb.mean(axis=2).astype(np.uint8)
    for spec in ("jpeg:20", "jpeg2:40:20", "webp:20", "posterize:8", "pixelate:2", "blur:1", "noise:3"):
        out = parse_chain(spec).apply(gray)
        assert out.shape == gray.shape and out.dtype == np.uint8 and not np.array_equal(out, gray), spec


# ---- the report's preset: many intensities collapsed into few ------------------------------------------

def test_paper_preset_histogram_has_gaps_and_spikes(hopper_rgb):
    out = parse_chain("paper").apply(hopper_rgb)
    for c in range(3):
        orig, deg = hopper_rgb[..., c], out[..., c]
        assert gaps(orig) <= 5 and gaps(deg) >= 150, c
        assert spikes(orig) <= 5 and spikes(deg) >= 4 * max(spikes(orig), 3), c
        assert len(np.unique(deg)) <= 25


def test_order_matters_a_jpeg_after_quantising_fills_the_gaps(hopper_rgb):
    paper = PRESETS["paper"]
    reversed_order = ",".join(reversed(paper.split(",")))
    assert parse_chain(reversed_order).steps != parse_chain(paper).steps
    wrong = parse_chain(reversed_order).apply(hopper_rgb)
    right = parse_chain(paper).apply(hopper_rgb)
    for c in range(3):
        assert gaps(wrong[..., c]) < gaps(right[..., c]) / 4, c


def test_every_preset_parses_and_degrades(hopper_rgb):
    small = hopper_rgb[::4, ::4].copy()
    for name, spec in PRESETS.items():
        assert str(parse_chain(name)) == str(parse_chain(spec))
        assert not np.array_equal(parse_chain(name).apply(small), small), name


# ---- chains: parsing, errors, determinism --------------------------------------------------------------

def test_chain_text_round_trips():
    chain = parse_chain(" posterize:12 , jpeg:20:444,noise:3 ")
    assert str(chain) == "posterize:12,jpeg:20:444,noise:3"
    assert parse_chain(str(chain)) == chain
    assert [s.name for s in chain.steps] == ["posterize", "jpeg", "noise"]


@pytest.mark.parametrize("spec, message", [
    ("sharpen:2", "unknown degradation"),
    ("jpeg:20:420:1", "at most 2"),
    ("jpeg:0", "quality"),
    ("jpeg:20:411", "subsampling"),
    ("jpeg:abc", "bad degradation"),
    ("webp:101", "webp quality"),
    ("posterize:1", "levels"),
    ("pixelate:0.5", "factor"),
    ("blur:-1", "sigma"),
    ("noise:-2", "sigma"),
    ("noise:nan", "finite"),
    ("blur:inf", "finite"),
    (" , ", "empty"),
])
def test_bad_chains_raise_a_spec_error(spec, message):
    with pytest.raises(DegradationSpecError, match=message):
        parse_chain(spec)


def test_chain_refuses_non_8_bit_arrays(hopper_rgb):
    with pytest.raises(ValueError):
        parse_chain("jpeg:20").apply(hopper_rgb.astype(np.float32) / 255)


def test_chains_are_deterministic_with_a_seed(hopper_rgb):
    chain = parse_chain("blur:0.8,noise:4,jpeg:25,posterize:30")
    a = chain.apply(hopper_rgb, np.random.default_rng(11))
    b = chain.apply(hopper_rgb, np.random.default_rng(11))
    np.testing.assert_array_equal(a, b)


def test_random_chains_cover_the_blind_mixture_and_repeat_with_a_seed(hopper_rgb):
    draw = lambda seed: [random_chain(rng) for rng in [np.random.default_rng(seed)] for _ in range(300)]
    chains = draw(5)
    assert [str(c) for c in chains] == [str(c) for c in draw(5)]
    names = {s.name for c in chains for s in c.steps}
    assert names == {"jpeg", "jpeg2", "posterize", "pixelate", "blur"}
    # jpeg:QUALITY:SUBSAMPLING and jpeg2:FIRST:SECOND; the final quality is what the goals are stated at.
    qualities = [int(s.args[0] if s.name == "jpeg" else s.args[1]) for c in chains for s in c.steps
                 if s.name in ("jpeg", "jpeg2")]
    assert min(qualities) >= 5 and max(qualities) <= 50 and max(qualities) - min(qualities) > 30
    for c in chains[:20]:  # every drawn chain is valid text and applies to a real image
        assert isinstance(c, Chain) and parse_chain(str(c)) == c
        out = c.apply(hopper_rgb[:96, :96].copy(), np.random.default_rng(0))
        assert out.shape == (96, 96, 3)
    assert set(OPS) >= names
