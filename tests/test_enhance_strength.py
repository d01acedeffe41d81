"""``enhance --strength``: each image restored as much as its analysed damage needs, clean ones left unchanged
(bytes copied), an explicit strength forcing the model; the damage in every record, summary file and report."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, PngImagePlugin

from facerestore import degrade
from facerestore.metrics import psnr
from facerestore.cli import cli
from facerestore.summary import FAILED, RESTORED, SKIPPED, UNCHANGED, Record, RunSummary

ARTIST = 0x013B  # EXIF tag


def _run(args: list[str], **kwargs):
    return CliRunner().invoke(cli, args, catch_exceptions=False, **kwargs)


def _records(stdout: str) -> dict[str, dict]:
    """The --json lines by input file name."""
    return {Path(r["input"]).name: r for r in map(json.loads, stdout.splitlines())}


@pytest.fixture
def photos(tmp_path, hopper_path, astronaut_path) -> Path:
    """A clean PNG original with metadata, a clean JPEG (quality 95), a JPEG saved at quality 10 and a banded PNG."""
    root = tmp_path / "photos"
    root.mkdir()
    with Image.open(astronaut_path) as im:
        astronaut = im.convert("RGB").crop((160, 40, 320, 200))
    with Image.open(hopper_path) as im:
        hopper = im.convert("RGB").crop((120, 100, 280, 260))
    exif = Image.Exif()
    exif[ARTIST] = "NASA"
    info = PngImagePlugin.PngInfo()
    info.add_text("Description", "clean original")
    astronaut.save(root / "clean.png", exif=exif, pnginfo=info)
    os.utime(root / "clean.png", (1_500_000_000, 1_500_000_000))
    hopper.save(root / "fine.jpg", quality=95)
    hopper.save(root / "q10.jpg", quality=10)
    Image.fromarray(degrade.posterize(np.asarray(astronaut), 12)).save(root / "banded.png")
    return root


def test_auto_leaves_a_clean_original_byte_identical_and_restores_the_damaged(photos, tiny_rgb_model, tmp_path):
    out = tmp_path / "out"
    result = _run(["enhance", str(photos), "-o", str(out), "--model", str(tiny_rgb_model), "--json"])
    assert result.exit_code == 0, result.stderr
    records = _records(result.stdout)

    clean = records["clean.png"]
    assert clean["status"] == UNCHANGED and clean["error"] is None
    assert clean["damage"]["strength"] == 0 and "no damage worth restoring" in clean["damage"]["reason"]
    assert clean["damage"]["jpeg_quality"] is None and clean["damage"]["level"] < 0.05
    assert (out / "clean.png").read_bytes() == (photos / "clean.png").read_bytes()  # metadata and all
    with Image.open(out / "clean.png") as im:
        assert im.getexif()[ARTIST] == "NASA" and im.info["Description"] == "clean original"
    assert os.stat(out / "clean.png").st_mtime == 1_500_000_000  # like every output: the input's time

    q10 = records["q10.jpg"]
    assert q10["status"] == RESTORED and q10["damage"]["reason"] is None
    assert (q10["damage"]["jpeg_quality"], q10["damage"]["jpeg_quality_source"]) == (10, "tables")
    assert q10["damage"]["strength"] == 1.0  # the default curve: full strength from level 0.5 on
    assert records["banded.png"]["status"] == RESTORED and records["banded.png"]["damage"]["banding"] > 0.5
    # Restored within its level bins: banding the output again gives the file back.
    with Image.open(out / "banded.png") as got, Image.open(photos / "banded.png") as was:
        restored, banded = np.asarray(got), np.asarray(was)
    assert not np.array_equal(restored, banded) and np.array_equal(degrade.posterize(restored, 12), banded)
    assert "unchanged" in result.stderr and "0 failed" in result.stderr

    # The report still covers the unchanged image: its output equals its input, so no metric changes.
    metrics = clean["metrics"]
    assert metrics["gaps_in"] == metrics["gaps_out"] and metrics["entropy_in"] == metrics["entropy_out"]


def test_a_clean_jpeg_is_left_unchanged_or_barely_touched_and_q10_gets_the_full_model(photos, tmp_path):
    """The shipped model with its own curve (fitted, else the default), on small real photos."""
    src = tmp_path / "two"
    src.mkdir()
    for name in ("fine.jpg", "q10.jpg"):
        shutil.copy(photos / name, src / name)
    out = tmp_path / "out"
    result = _run(["enhance", str(src), "-o", str(out), "--model", "big", "--json", "--no-report"])
    assert result.exit_code == 0, result.stderr
    records = _records(result.stdout)
    fine, q10 = records["fine.jpg"], records["q10.jpg"]
    assert (fine["damage"]["jpeg_quality"], fine["damage"]["jpeg_quality_source"]) == (95, "tables")
    # Written as a JPEG again, a quality 95 photo would lose more to the re-save than restoring gains: it is copied.
    assert fine["status"] == UNCHANGED and fine["damage"]["strength"] == 0
    assert (out / "fine.jpg").read_bytes() == (src / "fine.jpg").read_bytes()
    assert q10["status"] == RESTORED and q10["damage"]["jpeg_quality"] == 10 and q10["damage"]["strength"] > 0.5

    # As a PNG it gets a light touch, kept within the file's quantisation intervals: within about a level.
    png = tmp_path / "png"
    result = _run(["enhance", str(src / "fine.jpg"), "-o", str(png), "--model", "big", "--json", "--no-report",
                   "--format", "png"])
    fine = _records(result.stdout)["fine.jpg"]
    assert fine["status"] == RESTORED and 0 < fine["damage"]["strength"] <= 0.5
    with Image.open(png / "fine.png") as got, Image.open(src / "fine.jpg") as was:
        assert psnr(np.asarray(got), np.asarray(was)) > 40


def test_a_strip_too_thin_to_restore_safely_is_copied_and_a_tiny_clean_png_is_not_read_as_banding(hopper_rgb,
                                                                                                     tmp_path):
    """BigCNN made 1 px JPEG strips 2-5 dB worse, and read the few intensities of a clean 7x7 crop as banding."""
    src = tmp_path / "small"
    src.mkdir()
    Image.fromarray(hopper_rgb[200:201, 100:150]).save(src / "strip.jpg", quality=75)
    Image.fromarray(hopper_rgb[200:207, 100:107]).save(src / "tiny.png")
    Image.fromarray(hopper_rgb[200:216, 100:164]).save(src / "thumb.jpg", quality=30)
    out = tmp_path / "out"
    result = _run(["enhance", str(src), "-o", str(out), "--model", "big", "--json", "--no-report"])
    assert result.exit_code == 0, result.stderr
    records = _records(result.stdout)
    strip = records["strip.jpg"]
    assert strip["status"] == UNCHANGED and "too small" in strip["damage"]["reason"]
    assert strip["damage"]["jpeg_quality"] == 75  # the damage is read, and left alone
    assert (out / "strip.jpg").read_bytes() == (src / "strip.jpg").read_bytes()
    tiny = records["tiny.png"]
    assert tiny["status"] == UNCHANGED and tiny["damage"]["banding"] == 0
    assert records["thumb.jpg"]["status"] == RESTORED  # 16 px across is restored
    forced = _run(["enhance", str(src / "strip.jpg"), "-o", str(tmp_path / "forced"), "--model", "big", "--json",
                   "--no-report", "--strength", "0.5"])
    assert _records(forced.stdout)["strip.jpg"]["status"] == RESTORED


@pytest.mark.parametrize("model", ["big", "darn"])
def test_a_photo_brought_up_by_four_thirds_with_nearest_neighbours_is_restored(astronaut_path, tmp_path, model):
    """A nearest upscale by less than 1.5 (an old small photo zoomed) repeats whole rows and columns: read as
    pixelation and restored by the shipped model's fitted curve, closer to the photo it was made from."""
    with Image.open(astronaut_path) as im:
        face = np.asarray(im.convert("RGB"))
    src = tmp_path / "in"
    src.mkdir()
    upscaled = degrade.pixelate(face, 4 / 3)
    Image.fromarray(upscaled).save(src / "zoomed.png")
    out = tmp_path / "out"
    result = _run(["enhance", str(src), "-o", str(out), "--model", model, "--json", "--no-report"])
    assert result.exit_code == 0, result.stderr
    record = _records(result.stdout)["zoomed.png"]
    assert record["status"] == RESTORED and record["damage"]["kind"] == "pixelation", record["damage"]
    assert record["damage"]["pixelation"] == pytest.approx(4 / 3, abs=0.05) and record["damage"]["strength"] > 0
    with Image.open(out / "zoomed.png") as got:
        assert psnr(np.asarray(got), face) > psnr(upscaled, face) + 0.1


def test_an_explicit_strength_forces_the_model_on_a_clean_photo(photos, tiny_rgb_model, tmp_path):
    out = tmp_path / "out"
    result = _run(["enhance", str(photos / "clean.png"), "-o", str(out), "--model", str(tiny_rgb_model),
                   "--json", "--no-report", "--strength", "1"])
    assert result.exit_code == 0, result.stderr
    record = _records(result.stdout)["clean.png"]
    assert record["status"] == RESTORED and record["damage"]["strength"] == 1.0 and record["damage"]["reason"] is None
    with Image.open(out / "clean.png") as got, Image.open(photos / "clean.png") as was:
        assert not np.array_equal(np.asarray(got), np.asarray(was))

    # The same through the environment, as every option.
    env_out = tmp_path / "env"
    result = _run(["enhance", str(photos / "clean.png"), "-o", str(env_out), "--model", str(tiny_rgb_model),
                   "--json", "--no-report"], env={"FACERESTORE_ENHANCE_STRENGTH": "0.5"})
    assert result.exit_code == 0, result.stderr
    assert _records(result.stdout)["clean.png"]["damage"]["strength"] == 0.5


def test_a_conditioned_model_runs_at_the_decided_strength(photos, tiny_conditioned_model, tmp_path):
    """Without a fitted curve a conditioned model is told the damage level itself; the written output is exactly
    a restoration at the strength the record reports."""
    from facerestore.imageio import read_image
    from facerestore.damage.analysis import analyze
    from facerestore.restore import restore_image
    from facerestore.session import open_model

    out = tmp_path / "out"
    result = _run(["enhance", str(photos / "q10.jpg"), "-o", str(out), "--model", str(tiny_conditioned_model),
                   "--json", "--no-report", "--format", "png"])
    assert result.exit_code == 0, result.stderr
    damage = _records(result.stdout)["q10.jpg"]["damage"]
    assert damage["strength"] == pytest.approx(damage["level"], abs=1e-3) and 0.5 < damage["strength"] < 1
    loaded = read_image(photos / "q10.jpg")
    expected = restore_image(open_model(tiny_conditioned_model, device="cpu"), loaded, analyze(loaded),
                             strength=damage["strength"])
    with Image.open(out / "q10.png") as im:
        np.testing.assert_allclose(np.asarray(im) / 255.0, expected, atol=1 / 255 + 1e-6)


@pytest.mark.parametrize("value", ["2", "x", "-0.1"])
def test_a_bad_strength_is_a_usage_error_on_one_line(photos, tiny_rgb_model, tmp_path, value):
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["enhance", str(photos), "-o", str(out), "--model", str(tiny_rgb_model),
                                      "--strength", value])
    assert result.exit_code == 2 and result.stdout == "" and not out.exists()
    errors = [line for line in result.stderr.splitlines() if "strength" in line]
    assert len(errors) == 1 and "--strength" in errors[0] and repr(value) in errors[0], result.stderr
    assert "Traceback" not in result.stderr


def test_unchanged_outputs_are_resumed_like_the_others(photos, tiny_rgb_model, tmp_path):
    out = tmp_path / "out"
    args = ["enhance", str(photos), "-o", str(out), "--model", str(tiny_rgb_model), "--json"]
    first = _records(_run(args).stdout)
    assert first["clean.png"]["status"] == UNCHANGED

    plan = _run(args[:-1] + ["--dry-run"]).stdout.splitlines()
    assert all(line.endswith("\tskip") for line in plan) and len(plan) == 4  # the plan reads no image

    again = _run(args)
    assert again.exit_code == 0 and "0 unchanged, 4 skipped" in again.stderr
    records = _records(again.stdout)
    assert {r["status"] for r in records.values()} == {SKIPPED}
    assert all(r["damage"] is None for r in records.values())  # skipped before any analysis
    summary = json.loads((out / "summary.json").read_text())
    kept = {Path(r["input"]).name: r for r in summary["images"]}
    assert kept["clean.png"]["status"] == UNCHANGED and kept["clean.png"]["damage"]["strength"] == 0
    assert summary["counts"]["unchanged"] == 2 and summary["counts"]["restored"] == 2  # fine.jpg too

    redone = _records(_run(args + ["--overwrite"]).stdout)
    assert redone["clean.png"]["status"] == UNCHANGED
    assert (out / "clean.png").read_bytes() == (photos / "clean.png").read_bytes()


def test_another_output_format_writes_the_unchanged_pixels(photos, tiny_rgb_model, tmp_path):
    out = tmp_path / "out"
    result = _run(["enhance", str(photos / "clean.png"), "-o", str(out), "--model", str(tiny_rgb_model), "--json",
                   "--no-report", "--format", "tiff"])
    assert _records(result.stdout)["clean.png"]["status"] == UNCHANGED
    with Image.open(out / "clean.tif") as got, Image.open(photos / "clean.png") as was:
        assert got.format == "TIFF"
        np.testing.assert_array_equal(np.asarray(got), np.asarray(was.convert("RGB")))


def test_a_png_named_jpg_keeps_its_name_and_its_format(photos, tiny_rgb_model, tmp_path):
    """Formats go by content: left unchanged, such a file is a byte copy; restored, it stays a (lossless) PNG."""
    named = tmp_path / "named"
    named.mkdir()
    shutil.copyfile(photos / "clean.png", named / "clean.jpg")
    shutil.copyfile(photos / "banded.png", named / "banded.jpg")
    out = tmp_path / "out"
    result = _run(["enhance", str(named), "-o", str(out), "--model", str(tiny_rgb_model), "--json"])
    assert result.exit_code == 0, result.stderr
    records = _records(result.stdout)
    assert records["clean.jpg"]["status"] == UNCHANGED
    assert (out / "clean.jpg").read_bytes() == (named / "clean.jpg").read_bytes()
    assert records["banded.jpg"]["status"] == RESTORED
    with Image.open(out / "banded.jpg") as got, Image.open(named / "banded.jpg") as was:
        assert got.format == "PNG"
        restored, banded = np.asarray(got), np.asarray(was)
    assert np.array_equal(degrade.posterize(restored, 12), banded)  # within its level bins: no JPEG loss


def test_summary_files_and_page_carry_the_damage(photos, tiny_rgb_model, tmp_path):
    out = tmp_path / "out"
    (photos / "broken.png").write_bytes(b"not an image")
    result = _run(["enhance", str(photos), "-o", str(out), "--model", str(tiny_rgb_model), "--quiet"])
    assert result.exit_code == 1, result.stderr

    rows = {Path(r["input"]).name: r for r in csv.DictReader((out / "summary.csv").open())}
    assert rows["q10.jpg"]["jpeg_quality"] == "10" and rows["q10.jpg"]["jpeg_quality_source"] == "tables"
    assert float(rows["q10.jpg"]["strength"]) == 1.0 and rows["q10.jpg"]["unchanged_reason"] == ""
    assert float(rows["banded.png"]["banding"]) > 0.5 and float(rows["banded.png"]["damage_level"]) > 0.5
    assert rows["banded.png"]["damage_kind"] == "banding"
    assert rows["clean.png"]["status"] == UNCHANGED and rows["clean.png"]["unchanged_reason"].startswith("no damage")
    assert rows["broken.png"]["damage_level"] == "" and rows["broken.png"]["strength"] == ""
    assert "damage" not in rows["q10.jpg"]  # flat columns, no dict cell

    summary = json.loads((out / "summary.json").read_text())
    by_name = {Path(r["input"]).name: r for r in summary["images"]}
    assert by_name["q10.jpg"]["damage"]["jpeg_quality"] == 10 and by_name["broken.png"]["damage"] is None
    assert summary["counts"] == {"total": 5, "restored": 2, "unchanged": 2, "skipped": 0, "failed": 1}

    page = (out / "report.html").read_text(encoding="utf-8")
    start = page.index('id="data">') + len('id="data">')
    data = json.loads(page[start:page.index("</script>", start)])
    labels = {Path(i["input"]).name: i["damage_label"] for i in data["images"]}
    assert labels["q10.jpg"] == "JPEG q10 (tables) · strength 1.00"
    assert labels["clean.png"] == "clean · unchanged" and labels["broken.png"] is None
    assert "banding (" in labels["banded.png"]
    assert labels["fine.jpg"] == "JPEG q95 (tables) · unchanged"


def test_the_report_rebuilds_from_a_summary_without_damage(photos, tiny_rgb_model, tmp_path):
    """Summaries written before the analysis existed have no ``damage``: the rebuild still works."""
    out = tmp_path / "out"
    assert _run(["enhance", str(photos), "-o", str(out), "--model", str(tiny_rgb_model), "--quiet"]).exit_code == 0
    summary = json.loads((out / "summary.json").read_text())
    for record in summary["images"]:
        del record["damage"]
    (out / "summary.json").write_text(json.dumps(summary))
    rebuilt = _run(["report", str(out), "-q"])
    assert rebuilt.exit_code == 0, rebuilt.stderr
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert len(rows) == 4 and all(r["damage_level"] == "" for r in rows)
    page = (out / "report.html").read_text(encoding="utf-8")
    start = page.index('id="data">') + len('id="data">')
    images = json.loads(page[start:page.index("</script>", start)])["images"]
    assert len(images) == 4 and all(i["damage"] is None and i["damage_label"] is None for i in images)


def test_run_summary_counts_unchanged_as_success():
    summary = RunSummary()
    for status in (RESTORED, UNCHANGED, UNCHANGED, SKIPPED):
        summary.add(Record("a.png", "b.png", status, None, 10, 10, 0.1, None, None))
    assert (summary.unchanged, summary.total, summary.exit_code()) == (2, 4, 0)
    assert "1 restored, 2 unchanged, 1 skipped, 0 failed" in summary.describe()
    assert summary.counts() == "2 unchanged, 1 skipped"
    summary.add(Record("c.png", None, FAILED, "bad", None, None, 0.0, None, None))
    assert summary.exit_code() == 1


def test_shipped_files_follow_their_model_curve_and_user_files_the_default(tmp_path, tiny_rgb_model):
    from facerestore.damage.analysis import KINDS
    from facerestore.damage.strength import DEFAULT_PLAIN, FITTED_ONLY, curve_for, curve_key, model_curve
    from facerestore.registry import MODELS_DIR
    from facerestore.session import open_model

    assert curve_key(open_model(MODELS_DIR / "basic.onnx", device="cpu")) == "basic"
    assert curve_key(open_model(MODELS_DIR / "basic.fp16.onnx", device="cpu")) == "basic"
    copy = shutil.copy(MODELS_DIR / "basic.onnx", tmp_path / "basic.onnx")  # a user's file, whatever its name
    user = open_model(copy, device="cpu")
    for kind in KINDS:
        # A user's file has no curve for damage its model may never have seen (WebP): such photos stay unchanged.
        default = None if kind in FITTED_ONLY else DEFAULT_PLAIN
        assert curve_key(user) is None and model_curve(user, kind) == default
        assert model_curve(open_model(MODELS_DIR / "basic.onnx", device="cpu"), kind) == curve_for("basic", False, kind)
        assert model_curve(open_model(tiny_rgb_model, device="cpu"), kind) == default


def _enhance_with_curves(document: dict, inputs: list[Path], tmp_path: Path, monkeypatch) -> object:
    """``enhance --model basic --json`` on ``inputs`` with ``document`` as strength.json."""
    from facerestore.damage import strength as strength_mod

    path = tmp_path / "strength.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    monkeypatch.setattr(strength_mod, "STRENGTH_FILE", path)
    strength_mod._fitted.cache_clear()
    try:
        return _run(["enhance", *map(str, inputs), "-o", str(tmp_path / "out"), "--model", "basic", "--json",
                     "--no-report"])
    finally:
        strength_mod._fitted.cache_clear()


def test_each_kind_of_damage_follows_its_own_curve(photos, tmp_path, monkeypatch):
    """A banded photo and a JPEG read at comparable levels get the strengths their kinds' curves give: what
    enhance records is the curve of the kind the analysis names, at the level it reads."""
    curves = {"jpeg": [0.0, 0.3, 0.3], "banding": [0.0, 0.9, 1.0], "pixelation": [0.0, 0.5, 0.5]}
    result = _enhance_with_curves({"curves": {"basic": {"levels": [0.0, 0.5, 1.0], "strengths": curves}}},
                                  [photos / "banded.png", photos / "q10.jpg"], tmp_path, monkeypatch)
    assert result.exit_code == 0, result.stderr
    records = _records(result.stdout)
    for name, kind in (("banded.png", "banding"), ("q10.jpg", "jpeg")):
        damage = records[name]["damage"]
        assert damage["kind"] == kind
        expected = float(np.interp(damage["level"], [0.0, 0.5, 1.0], curves[kind]))
        assert damage["strength"] == pytest.approx(expected, abs=2e-3)
    assert records["banded.png"]["damage"]["strength"] > 0.85 > 0.35 > records["q10.jpg"]["damage"]["strength"]


def test_a_gray_photo_follows_the_gray_curve_and_a_colour_one_the_colour_curves(photos, tmp_path, monkeypatch):
    with Image.open(photos / "q10.jpg") as im:
        im.convert("L").save(photos / "gray_q10.jpg", quality=10)
    result = _enhance_with_curves({"curves": {"basic": {"levels": [0.0, 1.0], "strengths": [0.0, 1.0]}},
                                   "gray_curves": {"basic": {"levels": [0.0, 1.0], "strengths": [0.0, 0.5]}}},
                                  [photos / "q10.jpg", photos / "gray_q10.jpg"], tmp_path, monkeypatch)
    assert result.exit_code == 0, result.stderr
    records = _records(result.stdout)
    colour, gray = records["q10.jpg"]["damage"], records["gray_q10.jpg"]["damage"]
    assert colour["strength"] == pytest.approx(colour["level"], abs=2e-3)
    assert gray["strength"] == pytest.approx(0.5 * gray["level"], abs=2e-3)


def _screenshot() -> Image.Image:
    """A settings window: a title bar, lines of text and a button on a light ground."""
    from PIL import ImageDraw, ImageFont

    shot = Image.new("RGB", (448, 336), (246, 246, 248))
    draw = ImageDraw.Draw(shot)
    draw.rectangle((0, 0, 447, 28), fill=(38, 92, 160))
    draw.text((10, 6), "Photo Library - Settings", font=ImageFont.load_default(size=15), fill=(255, 255, 255))
    for i, line in enumerate(["Import folder: /home/anna/Pictures/2009", "Keep originals after import [x]",
                              "Thumbnail size: 256 px", "JPEG quality for exports: 85",
                              "The quick brown fox jumps over the lazy dog. 0123456789"]):
        draw.text((16, 44 + 22 * i), line, font=ImageFont.load_default(size=13), fill=(30, 30, 30))
    draw.rounded_rectangle((300, 290, 430, 320), 6, fill=(52, 120, 200))
    draw.text((340, 297), "Apply", font=ImageFont.load_default(size=15), fill=(255, 255, 255))
    return shot


def test_text_and_screenshots_are_restored_only_from_heavy_damage_and_only_part_of_the_way(tmp_path, photos):
    """The models soften text edges: under the photo curves a screenshot saved at JPEG 75-90 came back 0.1-1.4 dB
    worse as a PNG. Such a picture is now left alone at light damage and restored at no more than half strength at
    heavy damage, where that gains; photos read as photos at every quality."""
    from facerestore.damage.analysis import analyze
    from facerestore.damage.strength import GRAPHIC_MAX_STRENGTH
    from facerestore.imageio import read_image

    src = tmp_path / "shots"
    src.mkdir()
    shot = _screenshot()
    for quality in (20, 90):
        shot.save(src / f"q{quality}.jpg", quality=quality)
    result = _run(["enhance", str(src), "-o", str(tmp_path / "out"), "--format", "png", "--json", "--no-report"])
    assert result.exit_code == 0, result.stderr
    records = _records(result.stdout)
    light, heavy = records["q90.jpg"], records["q20.jpg"]
    assert light["damage"]["graphic"] and light["status"] == UNCHANGED and "text" in light["damage"]["reason"]
    assert heavy["damage"]["graphic"] and heavy["status"] == RESTORED
    assert 0 < heavy["damage"]["strength"] <= GRAPHIC_MAX_STRENGTH
    clean = np.asarray(shot)
    with Image.open(tmp_path / "out" / "q20.png") as out, Image.open(src / "q20.jpg") as was:
        assert psnr(np.asarray(out.convert("RGB")), clean) > psnr(np.asarray(was.convert("RGB")), clean)

    for name in ("clean.png", "q10.jpg"):
        assert not analyze(read_image(photos / name)).graphic, name
    for quality in (10, 50, 90):
        Image.open(photos / "clean.png").save(tmp_path / f"p{quality}.jpg", quality=quality)
        assert not analyze(read_image(tmp_path / f"p{quality}.jpg")).graphic, quality
