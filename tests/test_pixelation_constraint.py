"""The pixelation constraint on real photos: a nearest upscale's blocks are found from its identical lines, an
averaged original has the file's block means, projecting onto them brings a restoration nearer to it (the shipped
models' included), a mark drawn after the zoom (a signature's ink too) is kept as the file has it while the blocks
around it are still held, flat stretches no zoom makes come back as the file has them, and files whose blocks are
not (nearly) whole identical lines get no constraint."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from facerestore import pixelation_constraint
from facerestore.constraints import read_constraint
from facerestore.damage.analysis import analyze
from facerestore.degrade import pixelate
from facerestore.imageio import read_image
from facerestore.metrics import psnr
from facerestore.pixelation_constraint import (MARK_SHARE, PixelationConstraint, block_length, block_starts,
                                               marked_pixels)


@pytest.fixture(scope="module")
def original(astronaut_path) -> np.ndarray:
    with Image.open(astronaut_path) as im:
        return np.asarray(im.convert("RGB"))[24:24 + 240, 96:96 + 240].copy()


def _png(pixels: np.ndarray, path: Path) -> Path:
    Image.fromarray(pixels).save(path)
    return path


def _float(pixels: np.ndarray) -> np.ndarray:
    return pixels.astype(np.float32) / 255


def _constraint(path: Path):
    loaded = read_image(path)
    return loaded, read_constraint(loaded, analyze(loaded))


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_blocks_are_the_runs_of_identical_lines_and_hold_the_averaged_originals_means(original, factor):
    blocky = pixelate(original, factor)  # a box downscale: each block's value is its original's mean (Pillow: +-1)
    starts = np.arange(0, original.shape[0], factor)
    assert np.array_equal(block_starts(blocky, 0), starts) and np.array_equal(block_starts(blocky, 1), starts)
    means = original.reshape(240 // factor, factor, 240 // factor, factor, 3).mean(axis=(1, 3))
    assert np.abs(means - blocky[::factor, ::factor]).max() <= 1.0 + 1e-9


def test_block_starts_of_a_single_line_or_column():
    line = np.arange(15, dtype=np.float32).reshape(1, 5, 3)
    assert block_starts(line, 0).tolist() == [0] and block_starts(line, 1).tolist() == [0, 1, 2, 3, 4]
    assert block_starts(line.swapaxes(0, 1), 1).tolist() == [0]


def test_lines_broken_by_a_mark_run_on_up_to_the_blocks_length():
    lines = np.repeat(np.arange(4, dtype=np.float32), 3)[:, None, None].repeat(9, axis=1)  # 4 blocks of 3 rows
    lines[9:, 2:] = lines[6, 2:]  # the last block differs from the one before in 2 of 9 positions only (a flat photo)
    marked = lines.copy()
    marked[4, :3] = 9.0  # a mark over a third of one row of the second block
    assert block_starts(marked, 0).tolist() == [0, 3, 4, 5, 6, 9]
    assert block_starts(marked, 0, MARK_SHARE).tolist() == [0, 3, 6, 9]  # the flat blocks stay two
    marked[4, :4] = 9.0  # more than a third: no longer a mark
    assert block_starts(marked, 0, MARK_SHARE).tolist() == [0, 3, 4, 5, 6, 9]


def _marked(pixels: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """``pixels`` with an opaque label drawn over ``box`` (shares of width and height), as a photo captioned or
    watermarked after it was zoomed."""
    im = Image.fromarray(pixels)
    h, w = pixels.shape[:2]
    x0, y0, x1, y1 = round(box[0] * w), round(box[1] * h), round(box[2] * w) - 1, round(box[3] * h) - 1
    ImageDraw.Draw(im).rectangle((x0, y0, x1, y1), fill=(250, 250, 250))
    ImageDraw.Draw(im).text((x0 + 2, y0 + 1), "(c) 2009 family", fill=(20, 20, 20))
    return np.asarray(im)


@pytest.mark.parametrize("box", [(0.0, 0.88, 1.0, 1.0), (0.70, 0.90, 0.97, 0.96)], ids=["caption", "watermark"])
@pytest.mark.parametrize("factor", [2, 3])
def test_a_mark_drawn_after_the_zoom_is_kept_and_the_blocks_around_it_held(original, tmp_path, factor, box):
    blocky = pixelate(original, factor)
    marked = _marked(blocky, box)
    loaded = read_image(_png(marked, tmp_path / "marked.png"))
    damage = analyze(loaded)
    assert damage.pixelation > 1.0
    strict = (block_starts(loaded.pixels, 0), block_starts(loaded.pixels, 1))
    assert min(240 / strict[0].size, 240 / strict[1].size) < 0.8 * damage.pixelation  # too few whole lines
    constraint = read_constraint(loaded, damage)
    assert isinstance(constraint, PixelationConstraint)
    rows, columns = block_starts(loaded.pixels, 0, MARK_SHARE), block_starts(loaded.pixels, 1, MARK_SHARE)
    marks = marked_pixels(loaded.pixels, rows, columns)
    unmarked = np.ones(marked.shape[:2], dtype=bool)
    unmarked[marks] = False
    # Each block's unmarked pixels share one value (a block wholly inside the label has the label's), and
    # hardly any of the photo around the label is taken for a mark.
    high = np.maximum.reduceat(np.maximum.reduceat(np.where(unmarked[..., None], marked, 0), rows, 0), columns, 1)
    low = np.minimum.reduceat(np.minimum.reduceat(np.where(unmarked[..., None], marked, 255), rows, 0), columns, 1)
    assert np.array_equal(high, low)
    assert unmarked[np.all(marked == blocky, axis=-1)].mean() > 0.99

    truth = _float(_marked(original, box))  # the original, labelled alike
    rng = np.random.default_rng(3)
    drift = np.array([0.04, -0.03, 0.05], dtype=np.float32)
    restored = np.clip(truth + drift + rng.normal(0, 3 / 255, truth.shape).astype(np.float32), 0, 1)
    kept = constraint.enforce(restored)
    assert np.array_equal(kept, PixelationConstraint(loaded.pixels, rows, columns, marks).enforce(restored))
    assert np.array_equal(kept[~unmarked], loaded.pixels[~unmarked])  # the file's own pixels on the mark
    assert psnr(kept, truth, data_range=1.0) > psnr(restored, truth, data_range=1.0) + 2


def _signed(pixels: np.ndarray) -> np.ndarray:
    """``pixels`` with a 2 px ink stroke drawn at the bottom right, as a signature added after the zoom."""
    im = Image.fromarray(pixels)
    points = [(0.66, 0.93), (0.70, 0.86), (0.73, 0.92), (0.77, 0.85), (0.80, 0.93), (0.85, 0.88), (0.92, 0.90)]
    ImageDraw.Draw(im).line([(round(x * 240), round(y * 240)) for x, y in points], fill=(25, 20, 40), width=2)
    return np.asarray(im)


def test_a_stroke_over_most_of_a_blocks_corners_is_still_the_mark(original):
    """A 2 px stroke over 3 px blocks covers most corners of some blocks; its ink, much of the marks and the value of
    no whole block, is the mark there too, and those blocks keep the photo's value."""
    blocky = pixelate(original, 3)
    signed = _signed(blocky)
    pixels = _float(signed)
    rows, columns = block_starts(pixels, 0, MARK_SHARE), block_starts(pixels, 1, MARK_SHARE)
    assert np.array_equal(rows, np.arange(0, 240, 3)) and np.array_equal(columns, np.arange(0, 240, 3))
    stroke = (signed != blocky).any(axis=-1)
    found = np.zeros(stroke.shape, dtype=bool)
    found[marked_pixels(pixels, rows, columns)] = True
    assert stroke.sum() > 150 and np.array_equal(found, stroke)


def test_a_colour_whole_blocks_have_is_not_taken_for_ink(original, monkeypatch):
    """Where the photo has whole blocks of the stroke's colour (dark hair, a box's fill), that colour is the photo's:
    the blocks are read by their corners alone, as without the ink reading."""
    blocky = pixelate(original, 3).copy()
    blocky[:30, :30] = (25, 20, 40)  # whole blocks of the ink's colour
    pixels = _float(_signed(blocky))
    rows, columns = block_starts(pixels, 0, MARK_SHARE), block_starts(pixels, 1, MARK_SHARE)
    with_ink = marked_pixels(pixels, rows, columns)
    monkeypatch.setattr(pixelation_constraint, "INK_SHARE", 0.0)
    corners_only = marked_pixels(pixels, rows, columns)
    monkeypatch.undo()
    signed_alone = marked_pixels(_float(_signed(pixelate(original, 3))), rows, columns)
    assert all(np.array_equal(a, b) for a, b in zip(with_ink, corners_only))
    assert with_ink[0].size != signed_alone[0].size  # the ink is read where no whole block has its colour


@pytest.mark.parametrize("factor", [1.5, 2])
def test_a_flat_strip_drawn_over_the_blocks_is_kept_as_the_file_has_it(original, tmp_path, factor):
    """A caption strip's box across the photo and a print's white border make runs of identical lines longer than
    twice the blocks, or no longer than the blocks but of one value (the box's rows above its letters): those lines
    come back exactly as the file has them, the blocks between them still held to their means."""
    framed = _marked(pixelate(original, factor), (0.0, 0.88, 1.0, 1.0)).copy()
    framed[:9] = 255  # a white border along the top
    loaded, constraint = _constraint(_png(framed, tmp_path / "framed.png"))
    assert isinstance(constraint, PixelationConstraint)
    restored = np.clip(loaded.pixels + np.random.default_rng(7).normal(0, 0.05, loaded.pixels.shape), 0, 1)
    kept = constraint.enforce(restored)
    below_letters = round(0.88 * 240) + 14  # the box's rows under its line of letters
    assert (framed[below_letters:] == 250).all()
    top = round(0.88 * 240)
    assert (framed[top:top + 2] == 250).all() and not (framed[top + 2] == 250).all()  # a run of two box rows
    for flat in (slice(0, 9), slice(top, top + 2), slice(below_letters, 240)):
        assert np.array_equal(kept[flat], loaded.pixels[flat])
    photo = slice(9, top)
    assert psnr(kept[photo], loaded.pixels[photo], data_range=1.0) > psnr(restored[photo], loaded.pixels[photo],
                                                                          data_range=1.0) + 1


def test_the_blocks_length_is_the_longest_common_run():
    assert block_length(np.array([2] * 30 + [40])) == 2  # one long run: a flat band
    assert block_length(np.array([1, 2] * 20 + [7, 9])) == 2
    assert block_length(np.arange(1, 30)) == 29  # no length common enough to tell the blocks: none is a band


def test_a_gray_marked_upscale_is_read_as_a_colour_one(original, tmp_path):
    """A captioned gray upscale whose caption leaves too few whole lines is held as a colour one is (its strict
    reading alone left such files unheld, some restored worse than their input): a restoration that drifts comes
    back nearer the original, the caption's letters exactly as the file has them."""
    box = (0.0, 0.88, 1.0, 1.0)
    gray = np.asarray(Image.fromarray(_marked(pixelate(original, 3), box)).convert("L"))
    truth = np.asarray(Image.fromarray(_marked(original, box)).convert("L"))
    loaded = read_image(_png(gray, tmp_path / "captioned_gray.png"))
    damage = analyze(loaded)
    assert loaded.pixels.shape[2] == 1 and damage.pixelation > 1.0
    strict = block_starts(loaded.pixels, 0), block_starts(loaded.pixels, 1)
    assert min(240 / strict[0].size, 240 / strict[1].size) < 0.8 * damage.pixelation  # the strict reading fails
    constraint = PixelationConstraint.of(loaded, damage)
    assert isinstance(constraint, PixelationConstraint)
    rng = np.random.default_rng(11)
    restored = np.clip(_float(truth)[..., None] + 0.04 + rng.normal(0, 3 / 255, loaded.pixels.shape), 0, 1)
    kept = constraint.enforce(restored.astype(np.float32))
    reference = _float(truth)[..., None]
    assert psnr(kept, reference, data_range=1.0) > psnr(restored, reference, data_range=1.0) + 3
    letters = (gray < 100) & (np.arange(240) >= 0.88 * 240)[:, None]
    assert letters.sum() > 50 and np.array_equal(kept[letters, 0], loaded.pixels[letters, 0])


def test_enhance_restores_a_captioned_upscale_nearer_the_original_and_keeps_its_caption(original, tmp_path):
    """A photo zoomed by 3 and captioned after: the caption breaks the identical columns it crosses, so the strict
    reading found too few blocks and `enhance` restored it unheld; read tolerantly, its blocks are held and the
    caption's letters come back as the file has them."""
    from click.testing import CliRunner

    from facerestore.cli import cli

    box = (0.0, 0.88, 1.0, 1.0)
    marked = _marked(pixelate(original, 3), box)
    src = _png(marked, tmp_path / "captioned.png")
    result = CliRunner().invoke(cli, ["enhance", str(src), "-o", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    with Image.open(json.loads(result.stdout)["output"]) as im:
        restored = np.asarray(im.convert("RGB"))
    truth = _marked(original, box)
    assert psnr(restored, truth) > psnr(marked, truth) + 1.0
    letters = (marked < 100).all(axis=-1) & (np.arange(240) >= 0.88 * 240)[:, None]
    assert letters.sum() > 50 and np.array_equal(restored[letters], marked[letters])


def test_the_strict_reading_wins_where_it_holds(original, tmp_path):
    """An unmarked upscale is read exactly as before the tolerant reading, whole identical lines and no mark, even
    where a flat backdrop over two thirds of each row would let the tolerant reading join two blocks' rows."""
    backdrop = original.copy()
    backdrop[:, :170] = (90, 110, 140)
    blocky = pixelate(backdrop, 1.25)
    strict_rows, tolerant_rows = block_starts(blocky, 0), block_starts(blocky, 0, MARK_SHARE)
    assert tolerant_rows.size < strict_rows.size
    loaded, constraint = _constraint(_png(blocky, tmp_path / "blocky.png"))
    restored = np.clip(loaded.pixels + np.random.default_rng(5).normal(0, 0.05, loaded.pixels.shape), 0, 1)
    strict = PixelationConstraint(loaded.pixels, strict_rows, block_starts(blocky, 1))
    assert np.array_equal(constraint.enforce(restored), strict.enforce(restored))


@pytest.mark.parametrize("factor", [1.25, 1.5, 2, 3])
def test_projecting_brings_a_drifted_restoration_nearer_and_keeps_the_files_block_means(original, tmp_path, factor):
    loaded, constraint = _constraint(_png(pixelate(original, factor), tmp_path / "blocky.png"))
    assert isinstance(constraint, PixelationConstraint)
    # A restoration that drifts in colour over the whole photo, as `big` did on a saturated portrait, plus noise.
    rng = np.random.default_rng(7)
    drift = np.array([0.04, -0.03, 0.05], dtype=np.float32)
    restored = np.clip(_float(original) + drift + rng.normal(0, 3 / 255, original.shape).astype(np.float32), 0, 1)
    kept = constraint.enforce(restored)
    assert kept.dtype == np.float32 and kept.shape == restored.shape
    assert psnr(kept, _float(original), data_range=1.0) > psnr(restored, _float(original), data_range=1.0) + 2
    rows, columns = block_starts(loaded.pixels, 0), block_starts(loaded.pixels, 1)
    sums = np.add.reduceat(np.add.reduceat(kept - loaded.pixels, rows, axis=0), columns, axis=1)
    unclipped = np.add.reduceat(np.add.reduceat(((kept > 0) & (kept < 1)).astype(np.float32), rows, axis=0),
                                columns, axis=1)
    sizes = np.diff(np.append(rows, 240))[:, None, None] * np.diff(np.append(columns, 240))[None, :, None]
    assert np.abs(sums[unclipped == sizes] / sizes.repeat(3, axis=2)[unclipped == sizes]).max() < 1e-5


@pytest.mark.parametrize("factor", [1.25, 2])
def test_enhance_restores_pixelation_within_the_blocks_nearer_the_original(original, tmp_path, factor):
    """What `enhance` writes for a pixelated PNG: the network's output projected, nearer to the original."""
    from facerestore.registry import MODELS_DIR
    from facerestore.restore import restore_image, restore_pixels
    from facerestore.session import open_model

    loaded, constraint = _constraint(_png(pixelate(original, factor), tmp_path / "blocky.png"))
    damage = analyze(loaded)
    for name in ("big", "darn"):
        model = open_model(MODELS_DIR / f"{name}.onnx", device="cpu")
        network = restore_pixels(model, loaded.pixels, strength=0.75)
        kept = restore_image(model, loaded, damage, strength=0.75)
        assert np.array_equal(kept, constraint.enforce(network))
        assert psnr(kept, _float(original), data_range=1.0) > psnr(network, _float(original), data_range=1.0), name


@pytest.mark.parametrize("factor", [1.25, 2])
def test_enhance_no_longer_makes_a_soft_saturated_portrait_worse(astronaut_path, tmp_path, factor):
    """`big` (the default) shifts the colours of a soft magenta portrait over the whole photo: its restoration of
    the pixelated file was 2-3 dB worse than the file itself before the constraint held its block means."""
    from click.testing import CliRunner

    from facerestore.cli import cli

    with Image.open(astronaut_path) as im:
        tinted = np.clip(np.asarray(im.convert("RGB")) * np.float32([1.0, 0.35, 1.0]) + [40, 0, 60], 0, 255)
    soft = Image.fromarray(tinted.astype(np.uint8)).resize((192, 192), Image.LANCZOS).resize((512, 512), Image.LANCZOS)
    small = soft.resize((round(512 / factor),) * 2, Image.LANCZOS)
    src = _png(np.asarray(small.resize((512, 512), Image.NEAREST)), tmp_path / "zoomed.png")
    result = CliRunner().invoke(cli, ["enhance", str(src), "-o", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    with Image.open(json.loads(result.stdout)["output"]) as im:
        restored = np.asarray(im.convert("RGB"))
    reference = np.asarray(soft)
    with Image.open(src) as im:
        gain = psnr(restored, reference) - psnr(np.asarray(im), reference)
    assert gain > 1.0, gain


def test_a_gray_pixelated_image_is_constrained_on_its_one_plane(original, tmp_path):
    gray = np.asarray(Image.fromarray(original).convert("L"))
    loaded, constraint = _constraint(_png(pixelate(gray, 2), tmp_path / "gray.png"))
    assert loaded.pixels.shape[2] == 1 and isinstance(constraint, PixelationConstraint)
    restored = np.clip(_float(gray)[..., None] + 0.05, 0, 1)
    kept = constraint.enforce(restored)
    assert kept.shape == restored.shape
    assert psnr(kept, _float(gray)[..., None], data_range=1.0) > psnr(restored, _float(gray)[..., None],
                                                                        data_range=1.0) + 3


def test_files_whose_blocks_are_not_whole_identical_lines_get_none(original, tmp_path):
    blocky = pixelate(original, 2)
    assert analyze(read_image(_png(blocky, tmp_path / "blocky.png"))).pixelation > 1.0
    cases = {
        "clean": _png(original, tmp_path / "clean.png"),
        "jpeg": tmp_path / "blocky.jpg",         # the JPEG constraint's file, whatever it shows
        "jpeg-copy": tmp_path / "copy.png",      # compressed since: no line repeats exactly
        "in-part": tmp_path / "part.png",         # a mosaic over part of the photo only
    }
    Image.fromarray(blocky).save(cases["jpeg"], quality=95)
    with Image.open(cases["jpeg"]) as im:
        im.convert("RGB").save(cases["jpeg-copy"])
    part = original.copy()
    part[60:180, 60:180] = blocky[60:180, 60:180]
    _png(part, cases["in-part"])
    for label, path in cases.items():
        loaded = read_image(path)
        assert PixelationConstraint.of(loaded, analyze(loaded)) is None, label
    # Read as pixelated by the analysis, yet blocks too small for that reading: none either.
    loaded = read_image(cases["in-part"])
    damage = analyze(loaded)
    assert PixelationConstraint.of(loaded, replace(damage, pixelation=2.0)) is None
