"""The level constraint on real photos: a banded image's bins hold its original, clipping into them only ever brings
a restoration nearer to it, re-banding the result gives the file back, and it applies only to the intensity
collapse."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from facerestore.constraints import read_constraint
from facerestore.damage.analysis import analyze
from facerestore.degrade import parse_chain, posterize
from facerestore.imageio import read_image
from facerestore.level_constraint import LevelConstraint, bins, grid_levels
from facerestore.metrics import psnr


@pytest.fixture(scope="module")
def original(astronaut_path) -> np.ndarray:
    with Image.open(astronaut_path) as im:
        return np.asarray(im.convert("RGB"))[30:30 + 177, 90:90 + 161].copy()


def _png(pixels: np.ndarray, path: Path) -> Path:
    Image.fromarray(pixels).save(path)
    return path


def _of(loaded) -> LevelConstraint | None:
    return LevelConstraint.of(loaded, analyze(loaded))


def _float(pixels: np.ndarray) -> np.ndarray:
    return pixels.astype(np.float32) / 255


@pytest.mark.parametrize("levels", [4, 12, 24, 40, 64])
def test_each_original_value_lies_in_the_bin_of_its_level(original, levels):
    banded = posterize(original, levels)
    assert grid_levels(np.bincount(banded[..., 0].ravel(), minlength=256)) == levels
    low, high = bins(levels)
    assert np.all(low[banded] <= original) and np.all(original <= high[banded])


@pytest.mark.parametrize("levels", [8, 24, 48])
def test_clipping_brings_a_restoration_nearer_to_the_original_and_rebanding_gives_the_file_back(original, tmp_path,
                                                                                                levels):
    loaded = read_image(_png(posterize(original, levels), tmp_path / "banded.png"))
    constraint = _of(loaded)
    assert constraint is not None and constraint.levels == levels
    # A restoration that overshoots: the original plus noise of 6 grey levels (SD), some of it past the bins.
    rng = np.random.default_rng(levels)
    restored = np.clip(_float(original) + rng.normal(0, 6 / 255, original.shape).astype(np.float32), 0, 1)
    kept = constraint.enforce(restored)
    assert psnr(kept, _float(original), data_range=1.0) > psnr(restored, _float(original), data_range=1.0) + 0.5
    assert np.array_equal(posterize(np.rint(kept * 255).astype(np.uint8), levels), np.rint(loaded.pixels * 255))


def test_restoring_a_banded_file_keeps_the_shipped_models_output_within_its_bins(original, tmp_path):
    """What `enhance` writes for a banded PNG: the network's output clipped into the bins, nearer to the original."""
    from facerestore.registry import MODELS_DIR
    from facerestore.restore import restore_image, restore_pixels
    from facerestore.session import open_model

    model = open_model(MODELS_DIR / "darn.onnx", device="cpu")
    loaded = read_image(_png(posterize(original, 24), tmp_path / "banded.png"))
    damage = analyze(loaded)
    network = restore_pixels(model, loaded.pixels, strength=damage.level)
    kept = restore_image(model, loaded, damage, strength=damage.level)
    assert np.array_equal(kept, _of(loaded).enforce(network))
    assert psnr(kept, _float(original), data_range=1.0) > psnr(network, _float(original), data_range=1.0) + 0.1
    assert np.array_equal(posterize(np.rint(kept * 255).astype(np.uint8), 24), posterize(original, 24))


def test_a_gray_banded_image_is_constrained_on_its_one_plane(original, tmp_path):
    gray = np.asarray(Image.fromarray(original).convert("L"))
    loaded = read_image(_png(posterize(gray, 16), tmp_path / "gray.png"))
    constraint = _of(loaded)
    assert constraint is not None and constraint.levels == 16
    kept = constraint.enforce(np.full(loaded.pixels.shape, 0.5, np.float32))  # mid-grey everywhere
    assert kept.shape == loaded.pixels.shape == gray.shape + (1,)
    low, high = bins(16)
    values, out = posterize(gray, 16), np.rint(kept[..., 0] * 255)
    assert np.all(low[values] <= out) and np.all(out <= high[values])
    assert np.array_equal(posterize(out.astype(np.uint8), 16), values)


def test_levels_rounded_half_up_fit_their_grid(original):
    # 11 levels: 25.5 apart, so 76.5 is a tie that numpy rounds to 76 and most tools to 77.
    step = 255 / 10
    half_up = (np.floor(np.floor(original / step + 0.5) * step + 0.5)).astype(np.uint8)
    assert 77 in half_up
    assert grid_levels(np.bincount(half_up.ravel(), minlength=256)) == 11
    low, high = bins(11)
    assert np.all(low[half_up] <= original) and np.all(original <= high[half_up])


def test_only_the_intensity_collapse_gets_a_constraint(original, tmp_path):
    clean = read_image(_png(original, tmp_path / "clean.png"))
    assert _of(clean) is None
    # Keeping the top 4 bits (levels 0, 16, ..., 240): its originals lie above each level, not around it.
    top_bits = read_image(_png(np.asarray(ImageOps.posterize(Image.fromarray(original), 4)), tmp_path / "bits.png"))
    assert _of(top_bits) is None
    # Channels collapsed to different grids.
    mixed = posterize(original, 24)
    mixed[..., 2] = posterize(original, 20)[..., 2]
    assert _of(read_image(_png(mixed, tmp_path / "mixed.png"))) is None
    # A JPEG of a banded image: its decoded values are off the grid, and the JPEG constraint is the one read.
    Image.fromarray(posterize(original, 24)).save(tmp_path / "banded.jpg", quality=95)
    jpeg = read_image(tmp_path / "banded.jpg")
    assert _of(jpeg) is None
    assert type(read_constraint(jpeg, analyze(jpeg))).__name__ == "JpegConstraint"
    # Banded after a JPEG save (the report's `paper` preset): the bins hold the JPEG's pixels, not the original's.
    paper = read_image(_png(parse_chain("paper").apply(original, np.random.default_rng(0)), tmp_path / "paper.png"))
    assert analyze(paper).jpeg_quality is not None
    assert _of(paper) is None
    # A 16-bit file: its values are not 8-bit levels.
    sixteen = (posterize(original, 24)[..., 0].astype(np.uint16) * 257)
    Image.fromarray(sixteen).save(tmp_path / "sixteen.png")
    assert _of(read_image(tmp_path / "sixteen.png")) is None
