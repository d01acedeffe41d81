"""export.calibrate_levels: banding, scaling and WebP placed at the level of the JPEG quality of equal PSNR."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from export.calibrate_levels import BEGIN, calibrate
from facerestore import degrade
from facerestore.damage import levels
from facerestore.metrics import psnr

ORIGINALS = Path(__file__).resolve().parent.parent / "examples" / "originals"


@pytest.fixture(scope="module")
def faces() -> list[np.ndarray]:
    found = []
    for name in ("astronaut.png", "grace_hopper.jpg"):
        with Image.open(ORIGINALS / name) as im:
            found.append(np.asarray(im.convert("RGB").resize((192, 192), Image.Resampling.LANCZOS)))
    return found


@pytest.fixture(scope="module")
def knots(faces) -> dict[str, tuple]:
    block = calibrate(faces)
    assert block.startswith(BEGIN)
    found: dict[str, tuple] = {}
    exec(block, {}, found)  # the block is the Python that --write puts into levels.py
    return found


def _mean_psnr(faces, damaged) -> float:
    return float(np.mean([psnr(d, f) for d, f in zip(damaged, faces)]))


def test_knots_start_clean_and_grow_with_damage(knots):
    assert set(knots) == {"BANDING_KNOTS", "PIXELATION_KNOTS", "RESAMPLE_KNOTS", "WEBP_KNOTS", "COST_KNOTS"}
    webp = knots["WEBP_KNOTS"]
    assert webp[0] == (0.0, 0.0) and [i for i, _ in webp] == sorted(i for i, _ in webp)
    assert [lv for _, lv in webp] == sorted(lv for _, lv in webp) and webp[-1][1] > 0.8
    banding = knots["BANDING_KNOTS"]
    assert banding[-1] == (256.0, 0.0) and [lv for _, lv in banding] == sorted((lv for _, lv in banding), reverse=True)
    for name in ("PIXELATION_KNOTS", "RESAMPLE_KNOTS"):
        assert knots[name][0] == (1.0, 0.0)
        assert [lv for _, lv in knots[name]] == sorted(lv for _, lv in knots[name])


def test_posterize_sits_between_the_jpeg_qualities_that_bracket_its_psnr(faces, knots):
    """Measured independently here: the JPEG qualities just below and above posterize 12's mean PSNR."""
    target = _mean_psnr(faces, [degrade.posterize(f, 12) for f in faces])
    by_quality = {q: _mean_psnr(faces, [degrade.jpeg(f, q) for f in faces]) for q in range(5, 100)}
    worse = max(q for q, p in by_quality.items() if p <= target)
    better = min(q for q, p in by_quality.items() if p >= target)
    level = dict(knots["BANDING_KNOTS"])[12.0]
    assert levels.jpeg_level(better) - 0.02 <= level <= levels.jpeg_level(worse) + 0.02


def test_cost_knots_are_the_faces_mean_recompression_psnr_per_quality(faces, knots, tmp_path):
    """Measured independently here, through JPEG files and the runtime's reading of them: each knot is the faces'
    mean re-compression PSNR at its quality, and they rise with quality."""
    from facerestore.damage.jpeg_cost import recompression_psnr
    from facerestore.damage.jpeg_pixels import luma255
    from facerestore.imageio import read_image

    cost = knots["COST_KNOTS"]
    assert [q for q, _ in cost] == sorted(q for q, _ in cost) and [c for _, c in cost] == sorted(c for _, c in cost)
    for quality, knot in cost[::4]:
        found = []
        for i, face in enumerate(faces):
            path = tmp_path / f"{quality}-{i}.jpg"
            Image.fromarray(face).save(path, "JPEG", quality=quality)
            loaded = read_image(path)
            found.append(recompression_psnr(luma255(loaded.pixels), loaded.jpeg.luma_table, loaded.jpeg.grid))
        assert knot == pytest.approx(float(np.mean(found)), abs=0.01)
