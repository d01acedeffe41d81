"""A JPEG written back as a JPEG is quantised again: under ``--strength auto`` a photo whose restoration that re-save
would undo is left unchanged (its bytes copied), and one whose restoration survives it is restored."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from facerestore.cli import cli
from facerestore.damage.analysis import analyze
from facerestore.damage.strength import resave_loses
from facerestore.imageio import read_image
from facerestore.metrics import psnr
from facerestore.summary import RESTORED, UNCHANGED


def _enhance(args: list[str]) -> dict[str, dict]:
    result = CliRunner().invoke(cli, ["enhance", *args, "--json", "--no-report"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return {Path(r["input"]).name: r for r in map(json.loads, result.stdout.splitlines())}


@pytest.fixture
def original(astronaut_path) -> np.ndarray:
    with Image.open(astronaut_path) as im:
        return np.asarray(im.convert("RGB").crop((128, 16, 352, 240)))


def _save(pixels: np.ndarray, path: Path, quality: int) -> Path:
    Image.fromarray(pixels).save(path, quality=quality)
    return path


def _decoded(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def test_a_good_jpeg_kept_as_jpeg_is_copied_and_a_png_output_restores_it(original, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    _save(original, src / "q90.jpg", 90)

    same = _enhance([str(src), "-o", str(tmp_path / "jpeg")])["q90.jpg"]
    assert same["status"] == UNCHANGED and same["damage"]["strength"] == 0
    assert "saved again as a JPEG at quality 95" in same["damage"]["reason"]
    assert (tmp_path / "jpeg" / "q90.jpg").read_bytes() == (src / "q90.jpg").read_bytes()

    # A lossless output keeps what the model restores; so does an explicit strength, as the user asked.
    png = _enhance([str(src), "-o", str(tmp_path / "png"), "--format", "png"])["q90.jpg"]
    assert png["status"] == RESTORED and png["damage"]["strength"] > 0
    forced = _enhance([str(src), "-o", str(tmp_path / "forced"), "--strength", "0.5"])["q90.jpg"]
    assert forced["status"] == RESTORED and forced["damage"]["strength"] == 0.5


def test_a_damaged_jpeg_is_restored_and_its_jpeg_output_is_nearer_the_original(original, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    _save(original, src / "q40.jpg", 40)
    # Quality 10 re-saved at 95: the harsher first compression is what counts, not the file's tables.
    buf = io.BytesIO()
    Image.fromarray(original).save(buf, "JPEG", quality=10)
    _save(np.asarray(Image.open(buf).convert("RGB")), src / "q10-resaved.jpg", 95)

    records = _enhance([str(src), "-o", str(tmp_path / "out")])
    for name in ("q40.jpg", "q10-resaved.jpg"):
        assert records[name]["status"] == RESTORED, records[name]["damage"]
        assert psnr(_decoded(tmp_path / "out" / name), original) > psnr(_decoded(src / name), original) + 0.2
    assert records["q10-resaved.jpg"]["damage"]["jpeg_quality"] == 10


def test_the_rule_follows_the_output_quality_and_the_kind_of_damage(original, tmp_path):
    qualities = (50, 60, 75, 80, 85, 95)
    damage = {q: analyze(read_image(_save(original, tmp_path / f"q{q}.jpg", q))) for q in qualities}
    assert {q: d.jpeg_quality for q, d in damage.items()} == {q: q for q in qualities}

    def restored(output_quality: int) -> list[int]:
        return [q for q in qualities if resave_loses(damage[q], "JPEG", output_quality) is None]

    assert restored(95) == [50, 60, 75]  # quality 80 and up: the re-save at 95 costs what restoring gains
    assert restored(100) == [50, 60, 75, 80]  # a re-save at 100 still costs about what one at 97-98 does
    assert restored(85) == [50, 60]
    assert restored(75) == []
    # Banding or pixelation dominating a light JPEG gains more than the re-save costs.
    assert resave_loses(replace(damage[95], banding=0.9, level=0.9), "JPEG", 95) is None
    # Another output format re-quantises nothing the JPEG rule knows of.
    assert resave_loses(damage[95], "PNG", 95) is None


def test_a_phones_mpo_at_high_quality_is_copied_with_its_extra_frames(original, tmp_path):
    """Pillow opens many phone photos as MPO (a JPEG with previews or depth maps appended): kept as a JPEG and
    left unchanged, the file is copied whole, not re-encoded from its first frame."""
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(original).save(src / "phone.jpg", format="MPO", save_all=True, quality=92,
                                   append_images=[Image.fromarray(original).resize((56, 56))])
    record = _enhance([str(src), "-o", str(tmp_path / "out")])["phone.jpg"]
    assert record["status"] == UNCHANGED and record["damage"]["jpeg_quality_source"] == "tables"
    assert (tmp_path / "out" / "phone.jpg").read_bytes() == (src / "phone.jpg").read_bytes()
