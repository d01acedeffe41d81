"""What a JPEG quality cost one photo's content (damage.jpeg_cost), and the level that follows it, on real photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from facerestore.damage import levels
from facerestore.damage.analysis import analyze
from facerestore.damage.jpeg_cost import recompression_psnr
from facerestore.damage.jpeg_pixels import luma255
from facerestore.damage.jpeg_tables import LUMA_BASE, ijg_table
from facerestore.imageio import read_image
from facerestore.metrics import luminance

ORIGINALS = Path(__file__).resolve().parent.parent / "examples" / "originals"


def _photo(name: str, blur: float = 0.0, mode: str = "RGB") -> Image.Image:
    with Image.open(ORIGINALS / name) as im:
        im = im.convert("RGB").resize((256, 256), Image.Resampling.LANCZOS)
    return (im.filter(ImageFilter.GaussianBlur(blur)) if blur else im).convert(mode)


def _saved(im: Image.Image, path: Path, quality: int, **options) -> Path:
    im.save(path, quality=quality, **options)
    return path


def _luma_psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0 ** 2 / np.mean((a.astype(np.float64) - b) ** 2)))


@pytest.mark.parametrize("name", ["astronaut.png", "grace_hopper.jpg"])
@pytest.mark.parametrize("blur", [0.0, 1.5])
def test_the_measure_follows_what_the_file_lost(tmp_path, name, blur):
    """Re-compressing the decoded luma off the grid tracks the file's own luma PSNR against its original, which the
    runtime never sees: within 2.5 dB at every quality, rising with quality, and higher for the same photo blurred."""
    im = _photo(name, blur)
    truth = luminance(np.asarray(im, dtype=np.float32) / 255.0) * 255.0
    measured = []
    for quality in (20, 50, 75, 90):
        loaded = read_image(_saved(im, tmp_path / f"{quality}.jpg", quality))
        y = luma255(loaded.pixels)
        measure = recompression_psnr(y, loaded.jpeg.luma_table, loaded.jpeg.grid)
        assert measure == pytest.approx(_luma_psnr(y, truth), abs=2.5)
        measured.append(measure)
    assert measured == sorted(measured)


def test_a_soft_photo_is_told_less_damage_than_a_sharp_one_at_the_same_quality(tmp_path):
    sharp = analyze(read_image(_saved(_photo("astronaut.png"), tmp_path / "sharp.jpg", 75)))
    soft = analyze(read_image(_saved(_photo("astronaut.png", blur=2.0), tmp_path / "soft.jpg", 75)))
    assert sharp.jpeg_quality == soft.jpeg_quality == 75
    assert sharp.cost_quality < soft.cost_quality <= levels.COST_MAX_QUALITY
    assert soft.level < sharp.level <= levels.jpeg_level(75)
    assert soft.to_json()["cost_quality"] == soft.cost_quality


def test_a_detailed_photo_keeps_the_level_of_its_quality(tmp_path):
    """Content that lost more than the faces do is never told more damage than its quality calls for."""
    rng = np.random.default_rng(0)
    texture = np.asarray(_photo("grace_hopper.jpg"), dtype=np.float64) + rng.normal(0, 12, (256, 256, 3))
    noisy = Image.fromarray(np.clip(np.rint(texture), 0, 255).astype(np.uint8))
    damage = analyze(read_image(_saved(noisy, tmp_path / "noisy.jpg", 50)))
    assert damage.jpeg_quality == damage.cost_quality == 50
    assert damage.level == pytest.approx(levels.jpeg_level(50))


def test_a_copy_of_a_jpeg_is_measured_at_the_quality_its_pixels_show(tmp_path):
    """A PNG of a JPEG has no tables: the measure uses IJG's at the quality read from the pixels, on their grid."""
    im = _photo("astronaut.png", blur=2.0)
    jpeg = analyze(read_image(_saved(im, tmp_path / "a.jpg", 40)))
    with Image.open(tmp_path / "a.jpg") as decoded:
        decoded.save(tmp_path / "a.png")
    copy = analyze(read_image(tmp_path / "a.png"))
    assert copy.jpeg_quality_source == "pixels" and abs(copy.jpeg_quality - 40) <= 2
    assert copy.cost_quality > copy.jpeg_quality
    assert abs(copy.cost_quality - jpeg.cost_quality) <= 4


def test_cost_quality_never_lowers_the_quality_nor_passes_its_cap():
    knots = dict(levels.COST_KNOTS)
    assert levels.cost_quality(75, None) == 75
    assert levels.cost_quality(75, 20.0) == 75  # lost more than the faces: stays at 75
    assert levels.cost_quality(40, 80.0) == levels.COST_MAX_QUALITY  # lost almost nothing: capped
    # A measure COST_MARGIN above the faces' mean at 90 reads as 90.
    assert levels.cost_quality(50, knots[90] + levels.COST_MARGIN) == 90
    assert levels.cost_quality(97, 80.0) == 97  # a quality above the cap is kept as it is


def test_the_measure_needs_a_whole_block_off_the_grid():
    table = ijg_table(LUMA_BASE, 75)
    flat = np.full((11, 40), 128.0, dtype=np.float32)
    assert recompression_psnr(flat, table, (0, 0)) is None  # 11 rows: 7 below the moved grid's first line
    assert recompression_psnr(np.full((12, 40), 128.0, dtype=np.float32), table, (0, 0)) == 99.0


def test_a_table_no_baseline_jpeg_can_hold_is_measured_at_its_steps_clamped(capfd):
    """Steps over 255 (an extended JPEG's) are measured at 255, what a baseline encoder writes; nothing on stderr.
    A table with a step of 0 is no table."""
    y = np.asarray(_photo("astronaut.png", mode="L"), dtype=np.float32)
    at_255 = recompression_psnr(y, np.full(64, 255), (0, 0))
    assert at_255 is not None
    assert recompression_psnr(y, np.full(64, 300), (0, 0)) == at_255
    assert recompression_psnr(y, np.full(64, 0), (0, 0)) is None
    assert recompression_psnr(y, np.full(63, 16), (0, 0)) is None
    assert capfd.readouterr().err == ""


def _extended(src: Path, dst: Path, luma: np.ndarray) -> Path:
    """``src`` (a baseline JPEG) with table 0 rewritten with 16-bit ``luma`` steps and its frame marked extended
    (SOF1), as cjpeg writes below quality 25 unless told -baseline."""
    from facerestore.damage.jpeg_tables import ZIGZAG

    data, out, at = src.read_bytes(), bytearray(b"\xff\xd8"), 2
    while data[at + 1] != 0xDA:  # every segment up to the scan
        marker, length = data[at + 1], int.from_bytes(data[at + 2:at + 4], "big")
        body = data[at + 4:at + 2 + length]
        if marker == 0xDB:
            tables, i = bytearray(), 0
            while i < len(body):
                precision, slot = body[i] >> 4, body[i] & 15
                size = 128 if precision else 64
                if slot == 0:
                    tables += bytes([0x10]) + b"".join(int(v).to_bytes(2, "big") for v in np.ravel(luma)[ZIGZAG])
                else:
                    tables += body[i:i + 1 + size]
                i += 1 + size
            body = bytes(tables)
        out += bytes([0xFF, 0xC1 if marker == 0xC0 else marker]) + (len(body) + 2).to_bytes(2, "big") + body
        at += 2 + length
    dst.write_bytes(bytes(out + data[at:]))
    return dst


def test_an_extended_jpeg_is_measured_as_its_baseline_twin(tmp_path, capfd):
    """cjpeg's default at quality 20 writes IJG's steps unclamped (up to 303): the same soft photo saved with the
    baseline table of 20 (steps at most 255) is told the same damage, not its bare quality."""
    baseline = _saved(_photo("astronaut.png", blur=2.0), tmp_path / "baseline.jpg", 20)
    extended = read_image(_extended(baseline, tmp_path / "extended.jpg", ijg_table(LUMA_BASE, 20, baseline=False)))
    assert extended.jpeg.luma_table.max() > 255
    soft, twin = analyze(read_image(baseline)), analyze(extended)
    assert twin.jpeg_quality == soft.jpeg_quality == 20
    assert twin.cost_quality == soft.cost_quality > 20
    assert capfd.readouterr().err == ""


def test_the_measure_is_taken_on_the_grid_the_file_names(tmp_path):
    """An EXIF rotation moves the block grid in the oriented pixels: the measure follows the grid the file names,
    so the rotated file measures what the upright one does."""
    im = _photo("grace_hopper.jpg").crop((0, 0, 251, 253))
    upright = read_image(_saved(im, tmp_path / "upright.jpg", 60))
    exif = Image.Exif()
    exif[0x0112] = 3  # rotated 180 degrees: the decoder's grid starts at the far edges
    _saved(im.rotate(180), tmp_path / "turned.jpg", 60, exif=exif.tobytes())
    turned = read_image(tmp_path / "turned.jpg")
    assert turned.jpeg.grid != (0, 0)
    a = recompression_psnr(luma255(upright.pixels), upright.jpeg.luma_table, upright.jpeg.grid)
    b = recompression_psnr(luma255(turned.pixels), turned.jpeg.luma_table, turned.jpeg.grid)
    assert b == pytest.approx(a, abs=0.3)


def test_a_big_photo_is_measured_on_strips_that_follow_the_whole(tmp_path, monkeypatch):
    """A sample of the rows reads what every row does, though the detail lies in one corner of the photo."""
    from facerestore.damage import jpeg_cost

    with Image.open(ORIGINALS / "astronaut.png") as im:
        photo = im.convert("RGB").resize((1280, 1280), Image.Resampling.LANCZOS)
    photo.paste(photo.crop((0, 0, 640, 640)).filter(ImageFilter.GaussianBlur(3)), (0, 0))
    photo.paste(photo.crop((0, 0, 640, 1280)).filter(ImageFilter.GaussianBlur(3)), (0, 0))
    photo.save(tmp_path / "big.jpg", quality=70)
    loaded = read_image(tmp_path / "big.jpg")
    y = luma255(loaded.pixels)
    sampled = recompression_psnr(y, loaded.jpeg.luma_table, loaded.jpeg.grid)
    monkeypatch.setattr(jpeg_cost, "MAX_STRIPS", 10_000)
    every_row = recompression_psnr(y, loaded.jpeg.luma_table, loaded.jpeg.grid)
    assert sampled == pytest.approx(every_row, abs=0.1)


def test_a_panorama_is_measured_on_fewer_strips_that_still_follow_the_whole(monkeypatch):
    """A 20000 px wide panorama: 64 strips across it were most of a 600 px high image (10 Mpx, 90 ms); its sample is
    held to what a 4096 px wide photo's 64 strips hold, at least 16 strips, and still reads what every row does."""
    from facerestore.damage import jpeg_cost

    with Image.open(ORIGINALS / "astronaut.png") as a, Image.open(ORIGINALS / "grace_hopper.jpg") as b:
        tiles = [im.convert("L").resize((1000, 600), Image.Resampling.LANCZOS) for im in (a, b)]
    pano = np.concatenate([np.asarray(tiles[k % 2]) for k in range(20)], axis=1).astype(np.float32)
    table = ijg_table(LUMA_BASE, 75)
    sample = jpeg_cost._strips(pano, (0, 0))
    assert sample.shape[1] == 19_992 and sample.size <= 16 * 8 * 19_992
    assert jpeg_cost._strips(pano[:, :4096], (0, 0)).shape[0] == 64 * 8  # a photo up to 4096 px: as calibrated
    sampled = recompression_psnr(pano, table, (0, 0))
    monkeypatch.setattr(jpeg_cost, "MAX_STRIPS", 10_000)
    monkeypatch.setattr(jpeg_cost, "MIN_STRIPS", 10_000)
    assert sampled == pytest.approx(recompression_psnr(pano, table, (0, 0)), abs=0.1)


def test_a_plain_border_does_not_hide_the_damage_of_the_picture(tmp_path):
    """A detailed photo at quality 30 on a white canvas of nine times its area (a scanned print, a product shot)
    reads the quality the photo alone reads: the border's blocks, which lose nothing, are not its content."""
    photo = _photo("grace_hopper.jpg")
    alone = analyze(read_image(_saved(photo, tmp_path / "alone.jpg", 30)))
    canvas = Image.new("RGB", (768, 768), (255, 255, 255))
    canvas.paste(photo, (0, 0))
    bordered = analyze(read_image(_saved(canvas, tmp_path / "bordered.jpg", 30)))
    assert alone.cost_quality == 30
    assert bordered.cost_quality <= 32 and bordered.level == pytest.approx(alone.level, abs=0.02)
    blank = np.full((64, 64), 255.0, dtype=np.float32)
    assert recompression_psnr(blank, ijg_table(LUMA_BASE, 30), (0, 0)) == 99.0  # nothing but border: lost nothing
