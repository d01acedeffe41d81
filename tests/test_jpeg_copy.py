"""A lossless copy of a JPEG, on real photos: its luma steps are read back exactly where they show and completed
from the IJG table they belong to, a clean original shows none, and clipping a restoration into the copy's
intervals only brings its luma nearer to the original."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facerestore.constraints import read_constraint
from facerestore.damage.analysis import analyze
from facerestore.damage.jpeg_pixels import luma255
from facerestore.imageio import read_image
from facerestore.damage.block_dct import block_coefficients
from facerestore.damage.jpeg_steps import MIN_FREQUENCIES, completed_steps, luma_steps
from facerestore.jpeg_constraint import stored_chroma
from facerestore.jpeg_copy import JpegCopyConstraint
from facerestore.restore import restore_image
from facerestore.session import open_model
from facerestore.metrics import psnr


@pytest.fixture(scope="module")
def original(astronaut_path) -> np.ndarray:
    with Image.open(astronaut_path) as im:
        return np.asarray(im.convert("RGB"))[16:16 + 400, 40:40 + 384].copy()


def _jpeg(pixels: np.ndarray, quality: int) -> tuple[np.ndarray, np.ndarray]:
    """The decoded pixels of a JPEG of ``pixels`` and its luma table (row by row)."""
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=quality)
    with Image.open(buf) as im:
        table = np.array(im.quantization[0])
        return np.asarray(im), table


def _copy(pixels: np.ndarray, path: Path) -> Path:
    Image.fromarray(pixels).save(path)
    return path


def _float(pixels: np.ndarray) -> np.ndarray:
    return pixels.astype(np.float32) / 255


@pytest.mark.parametrize("quality", [30, 50, 75, 85])
@pytest.mark.parametrize("gray", [False, True])
def test_the_steps_read_from_a_copy_are_the_files_own(original, quality, gray):
    pixels = np.asarray(Image.fromarray(original).convert("L")) if gray else original
    decoded, table = _jpeg(pixels, quality)
    steps = luma_steps(_float(decoded if not gray else decoded[..., None]))
    found = steps > 0
    assert found.sum() >= MIN_FREQUENCIES
    assert np.array_equal(steps[found], table[found]), (steps, table)


@pytest.mark.parametrize("quality", [30, 75, 85])
@pytest.mark.parametrize("gray", [False, True])
def test_a_copy_of_a_jpeg_with_ijg_tables_gets_the_whole_table(original, quality, gray):
    """The pixels show some steps (not the DC, not the finest); those name one IJG quality, whose table gives the
    rest."""
    pixels = np.asarray(Image.fromarray(original).convert("L")) if gray else original
    decoded, table = _jpeg(pixels, quality)
    steps = luma_steps(_float(decoded if not gray else decoded[..., None]))
    assert steps[0] == 0 and np.count_nonzero(steps) < 64
    assert np.array_equal(completed_steps(steps), table)


def test_steps_no_ijg_table_holds_are_left_as_read(original):
    """A camera's or an editor's own table: the steps the pixels show are all the copy is held by."""
    own = np.clip(np.arange(64) // 3 + 4, 1, 255)  # steps growing with the frequency, like no IJG table
    buf = io.BytesIO()
    Image.fromarray(original).save(buf, format="JPEG", qtables=[own.tolist(), own.tolist()])
    with Image.open(buf) as im:
        assert np.array_equal(im.quantization[0], own)
        steps = luma_steps(_float(np.asarray(im)))
    found = steps > 0
    assert found.sum() >= MIN_FREQUENCIES and np.array_equal(steps[found], own[found])
    assert np.array_equal(completed_steps(steps), steps)


def test_a_gray_copy_of_a_jpeg_is_restored_exactly_as_the_jpeg(original, tmp_path, tiny_rgb_model):
    """A gray JPEG is all luma: its copy, held by the whole table read back, comes out of a restoration as the file
    itself does (the interval centres are read from the same decoded pixels)."""
    gray = np.asarray(Image.fromarray(original).convert("L"))
    path = tmp_path / "photo.jpg"
    Image.fromarray(gray).save(path, quality=85)
    jpeg = read_image(path)
    copy = read_image(_copy(np.asarray(Image.open(path)), tmp_path / "copy.png"))
    copy_constraint = read_constraint(copy, analyze(copy))
    assert isinstance(copy_constraint, JpegCopyConstraint)
    model = open_model(tiny_rgb_model, device="cpu", threads=1)
    from_jpeg = restore_image(model, jpeg, analyze(jpeg), strength=0.5)
    from_copy = restore_image(model, copy, analyze(copy), strength=0.5, constraint=copy_constraint)
    unheld = restore_image(model, copy, analyze(copy), strength=0.5, constraint=None)
    assert np.abs(from_copy - from_jpeg).max() < 1e-5
    assert np.abs(unheld - from_jpeg).max() > 1 / 255


@pytest.mark.parametrize("quality", [85, 95])
def test_a_16_bit_copy_of_a_jpeg_is_held_as_its_8_bit_copy(original, tmp_path, tiny_rgb_model, quality):
    """A 16-bit PNG of a JPEG's decoded pixels (each 8-bit value times 257, as a converter widens them) shows the
    same steps: the analysis reads its quality from them, so it is held by the same intervals and restored exactly
    as the 8-bit copy and the JPEG file are, not restored unheld."""
    gray = np.asarray(Image.fromarray(original).convert("L"))
    path = tmp_path / "photo.jpg"
    Image.fromarray(gray).save(path, quality=quality)
    decoded = np.asarray(Image.open(path))
    wide = read_image(_copy(decoded.astype(np.uint16) * 257, tmp_path / "copy16.png"))
    narrow = read_image(_copy(decoded, tmp_path / "copy8.png"))
    assert wide.bit_depth == 16 and analyze(wide).jpeg_quality == quality
    constraint = read_constraint(wide, analyze(wide))
    assert isinstance(constraint, JpegCopyConstraint)
    model = open_model(tiny_rgb_model, device="cpu", threads=1)
    from_wide = restore_image(model, wide, analyze(wide), strength=0.5, constraint=constraint)
    from_narrow = restore_image(model, narrow, analyze(narrow), strength=0.5)
    assert np.abs(from_wide - from_narrow).max() < 1e-5


@pytest.mark.parametrize("quality, subsampling", [(90, 2), (95, 0), (75, 1)])
def test_a_colour_copy_of_a_jpeg_is_restored_exactly_as_the_jpeg(original, tmp_path, tiny_rgb_model, quality,
                                                                 subsampling):
    """Its chroma sampling (4:2:0, 4:4:4, 4:2:2) is read from where Cb and Cr lie on the lattice of the IJG chroma
    table of the copy's quality, so chroma is held as the file's own is."""
    path = tmp_path / "photo.jpg"
    Image.fromarray(original).save(path, quality=quality, subsampling=subsampling)
    jpeg = read_image(path)
    copy = read_image(_copy(np.asarray(Image.open(path)), tmp_path / "copy.png"))
    assert analyze(copy).jpeg_quality == quality  # at 90 and 95 from its steps: too fine for the lattice fit
    model = open_model(tiny_rgb_model, device="cpu", threads=1)
    from_jpeg = restore_image(model, jpeg, analyze(jpeg), strength=0.5)
    from_copy = restore_image(model, copy, analyze(copy), strength=0.5)
    assert np.abs(from_copy - from_jpeg).max() < 1e-5


@pytest.mark.parametrize("subsampling, chroma_offset, factors",
                         [(2, (8, 8), (2, 2)), (1, (0, 8), (1, 2)), (0, (0, 0), (1, 1))])
def test_a_copy_cropped_by_a_block_finds_its_chroma_blocks(original, tmp_path, subsampling, chroma_offset, factors):
    """Cropped by 8 px, a 4:2:0 copy's chroma blocks (16 px) start 8 px in, a 4:2:2 copy's (16 px wide, 8 high) 8 px
    in from the left only; a 4:4:4 copy's where its luma's do.
    Held there, a restoration's stored chroma moves nearer to the original's."""
    buf = io.BytesIO()
    Image.fromarray(original).save(buf, format="JPEG", quality=90, subsampling=subsampling)
    decoded = np.asarray(Image.open(buf))[8:, 8:]
    copy = read_image(_copy(decoded, tmp_path / "copy.png"))
    constraint = read_constraint(copy, analyze(copy))
    assert isinstance(constraint, JpegCopyConstraint) and constraint.offset == (0, 0)
    assert (constraint.chroma_offset if constraint.chroma is not None else constraint.offset) == chroma_offset
    truth = original[8:, 8:].astype(np.float32) / 255
    # A restoration that overshoots: noise of 24 grey levels (SD), much of it past the chroma intervals.
    restored = np.clip(truth + np.random.default_rng(5).normal(0, 24 / 255, truth.shape).astype(np.float32), 0, 1)
    kept = constraint.enforce(restored)
    cy, cx = chroma_offset

    def chroma_error(image):
        return np.abs(stored_chroma(image[cy:, cx:], factors) - stored_chroma(truth[cy:, cx:], factors)).mean()

    assert chroma_error(kept) < 0.85 * chroma_error(restored)  # chroma left free: no nearer


def test_a_clean_original_shows_no_steps_and_gets_no_copy_constraint(original, tmp_path):
    assert np.count_nonzero(luma_steps(_float(original))) < MIN_FREQUENCIES
    loaded = read_image(_copy(original, tmp_path / "clean.png"))
    assert analyze(loaded).jpeg_quality is None
    assert JpegCopyConstraint.of(loaded, analyze(loaded)) is None


def test_an_image_without_whole_blocks_or_with_faint_coefficients_shows_no_steps():
    for size in [(5, 300), (300, 7)]:
        assert not luma_steps(np.full(size + (3,), 0.5, dtype=np.float32)).any()
    # Faint noise on a flat grey: every coefficient within rounding of zero, so no step could be told apart.
    faint = 0.5 + np.random.default_rng(3).normal(0, 0.4 / 255, (256, 256, 1)).astype(np.float32)
    assert not luma_steps(np.round(faint * 255) / 255).any()


@pytest.mark.parametrize("crop", [(0, 0), (3, 5)])
def test_clipping_a_restoration_into_a_copys_intervals_brings_its_luma_nearer_to_the_original(original, tmp_path,
                                                                                              crop):
    """A copy of a JPEG (cropped after decoding: its grid no longer starts at the corner) stands for the JPEG: the
    restoration's coefficients end within its intervals, and its luma moves nearer to the original's."""
    decoded, table = _jpeg(original, 50)
    oy, ox = crop
    copy = read_image(_copy(decoded[oy:, ox:], tmp_path / "copy.png"))
    damage = analyze(copy)
    constraint = read_constraint(copy, damage)
    assert isinstance(constraint, JpegCopyConstraint)
    assert constraint.offset == (-oy % 8, -ox % 8) == tuple(damage.grid_offset)
    truth = original[oy:, ox:].astype(np.float32) / 255
    # A restoration that overshoots: the original plus noise of 12 grey levels (SD), much of it past the intervals.
    rng = np.random.default_rng(7)
    restored = np.clip(truth + rng.normal(0, 12 / 255, truth.shape).astype(np.float32), 0, 1)
    kept = constraint.enforce(restored)
    assert kept.shape == restored.shape and kept.min() >= 0 and kept.max() <= 1
    assert psnr(luma255(kept), luma255(truth), data_range=255) > psnr(luma255(restored), luma255(truth),
                                                                      data_range=255) + 0.3
    # Each whole block's luma coefficients now lie within half a step of the copy's own, where a step was read
    # (but in blocks the final clamp to [0, 1] moved).
    gy, gx = constraint.offset
    steps = luma_steps(copy.pixels[gy:, gx:])
    found = steps > 0
    assert np.array_equal(steps[found], table[found])
    rows, cols = (truth.shape[0] - gy) // 8, (truth.shape[1] - gx) // 8
    blocks = kept[gy:gy + rows * 8, gx:gx + cols * 8]
    clamped = ((blocks <= 0) | (blocks >= 1)).any(axis=2).reshape(rows, 8, cols, 8).any(axis=(1, 3)).ravel()
    assert 0.2 < np.mean(~clamped) < 1
    before = block_coefficients(luma255(copy.pixels[gy:, gx:]), rows, cols)[~clamped][:, found]
    after = block_coefficients(luma255(blocks), rows, cols)[~clamped][:, found]
    centres = np.rint(before / steps[found]) * steps[found]
    assert np.all(np.abs(after - centres) <= steps[found] / 2 + 0.05)


@pytest.mark.parametrize("crop", [(3, 5), (7, 7)])
def test_a_smooth_copy_cropped_off_its_chroma_grid_is_held_on_it(shared_faces, tmp_path, crop):
    """Cropped off its 16 px chroma grid, a 4:2:0 copy's chroma blocks start 8 px into its luma grid, and a smooth
    face (validation face 163 at 512 px, JPEG 95) reads nearly as well as 4:2:2 a block row above: that grid's edges
    are its own, so it is no other origin to refuse the copy's chroma grid for (its chroma was left free, and big
    made the face 2.2 dB worse)."""
    with Image.open(shared_faces / "crops" / "163.png") as im:
        scale = 512 / max(im.size)
        face = im.convert("RGB").resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)
    buf = io.BytesIO()
    face.save(buf, format="JPEG", quality=95)
    with Image.open(buf) as im:
        decoded = np.asarray(im)[crop[0]:, crop[1]:]
    copy = read_image(_copy(decoded, tmp_path / "copy.png"))
    damage = analyze(copy)
    assert damage.jpeg_quality == 95 and tuple(damage.grid_offset) == (-crop[0] % 8, -crop[1] % 8)
    constraint = read_constraint(copy, damage)
    assert isinstance(constraint, JpegCopyConstraint) and constraint.offset == (-crop[0] % 8, -crop[1] % 8)
    assert constraint.chroma is not None and constraint.chroma_offset == (-crop[0] % 16, -crop[1] % 16)


@pytest.mark.parametrize("crop", [(3, 5), (1, 0)])
def test_a_copy_cropped_off_its_chroma_grid_holds_luma_before_its_chroma_blocks(original, tmp_path, crop):
    """A 4:2:0 copy cropped off its 16 px chroma grid has its chroma blocks a luma block into its luma grid: the
    luma blocks before them (a strip of 8 px at the top, and at the left where cropped there) are held too, on the
    luma grid, and the chroma on its own blocks (they were restored unheld)."""
    buf = io.BytesIO()
    Image.fromarray(original).save(buf, format="JPEG", quality=90)
    with Image.open(buf) as im:
        table = np.array(im.quantization[0])
        decoded = np.asarray(im)[crop[0]:, crop[1]:]
    copy = read_image(_copy(decoded, tmp_path / "copy.png"))
    constraint = read_constraint(copy, analyze(copy))
    gy, gx = -crop[0] % 8, -crop[1] % 8
    assert isinstance(constraint, JpegCopyConstraint) and constraint.offset == (gy, gx)
    cy, cx = constraint.chroma_offset
    assert constraint.chroma is not None and (cy, cx) == (-crop[0] % 16, -crop[1] % 16)
    truth = original[crop[0]:, crop[1]:].astype(np.float32) / 255
    restored = np.clip(truth + np.random.default_rng(11).normal(0, 12 / 255, truth.shape).astype(np.float32), 0, 1)
    kept = constraint.enforce(restored)
    # The first row of luma blocks, before the chroma blocks: every coefficient within half a step of the copy's own
    # (but in blocks the final clamp to [0, 1] moved).
    cols = (truth.shape[1] - gx) // 8
    strip = kept[gy:gy + 8, gx:gx + cols * 8]
    clamped = ((strip <= 0) | (strip >= 1)).any(axis=2).reshape(8, cols, 8).any(axis=(0, 2))
    assert np.mean(~clamped) > 0.5
    before = block_coefficients(luma255(copy.pixels[gy:gy + 8, gx:gx + cols * 8]), 1, cols)[~clamped]
    after = block_coefficients(luma255(strip), 1, cols)[~clamped]
    centres = np.rint(before / table) * table
    assert np.all(np.abs(after - centres) <= table / 2 + 0.05)
    # Chroma is still held on its own blocks: a restoration's stored chroma, off by noise of 24 grey levels (SD), much
    # of it past the chroma intervals, moves nearer the original's.
    restored = np.clip(truth + np.random.default_rng(5).normal(0, 24 / 255, truth.shape).astype(np.float32), 0, 1)

    def chroma_error(image):
        return np.abs(stored_chroma(image[cy:, cx:], (2, 2)) - stored_chroma(truth[cy:, cx:], (2, 2))).mean()

    assert chroma_error(constraint.enforce(restored)) < 0.85 * chroma_error(restored)


# A quarter turn and how to undo it on an array (Pillow's ROTATE_90 turns counter-clockwise, as np.rot90 does).
QUARTER_TURNS = {"rot90": (Image.ROTATE_90, lambda a: np.rot90(a, -1)),
                 "rot270": (Image.ROTATE_270, lambda a: np.rot90(a, 1)),
                 "transpose": (Image.TRANSPOSE, lambda a: a.swapaxes(0, 1))}


@pytest.mark.parametrize("turn", QUARTER_TURNS)
@pytest.mark.parametrize("quality, gray, width",
                         [(90, False, 384), (75, False, 376), (50, False, 384), (85, True, 384)])
def test_a_copy_of_a_jpeg_turned_by_a_quarter_is_held_as_its_jpeg(original, tmp_path, tiny_rgb_model, turn, quality,
                                                                   gray, width):
    """A copy of a JPEG turned by 90 or 270 degrees has its blocks transposed: it is held on its pixels transposed, so
    a restoration held by it and turned back has its luma blocks within its JPEG file's intervals (but where a clamp
    to [0, 1] moved them). Where the turn leaves the chroma blocks on the luma grid (sides of whole 16 px blocks),
    clipping any restoration into the turned copy's intervals is clipping it into the unturned copy's, turned: luma
    and chroma (4:2:0). Width 376 puts the chroma blocks a luma block in after a turn that flips the JPEG's columns:
    chroma is held apart there, as a cropped copy's (its clamps between the passes move a few luma blocks)."""
    pixels = np.asarray(Image.fromarray(original).convert("L")) if gray else original[:, :width]
    path = tmp_path / "photo.jpg"
    Image.fromarray(pixels).save(path, quality=quality)
    jpeg = read_image(path)
    transpose, back = QUARTER_TURNS[turn]
    with Image.open(path) as im:
        table = np.array(im.quantization[0])
        unturned = read_image(_copy(np.asarray(im), tmp_path / "unturned.png"))
        copy = read_image(_copy(np.asarray(im.transpose(transpose)), tmp_path / "copy.png"))
    damage = analyze(copy)
    assert damage.jpeg_quality == analyze(unturned).jpeg_quality and damage.jpeg_transposed
    constraint = read_constraint(copy, damage)
    assert isinstance(constraint, JpegCopyConstraint) and constraint.transposed
    model = open_model(tiny_rgb_model, device="cpu", threads=1)

    def off_the_intervals(restored: np.ndarray) -> float:
        """The share of the file's luma blocks with a coefficient beyond its interval (by more than 0.05 levels),
        of those the final clamp to [0, 1] left alone."""
        rows, cols = pixels.shape[0] // 8, pixels.shape[1] // 8
        blocks = restored[:rows * 8, :cols * 8]
        clamped = ((blocks <= 0) | (blocks >= 1)).any(axis=2).reshape(rows, 8, cols, 8).any(axis=(1, 3)).ravel()
        before = block_coefficients(luma255(jpeg.pixels[:rows * 8, :cols * 8]), rows, cols)[~clamped]
        after = block_coefficients(luma255(blocks), rows, cols)[~clamped]
        return float(((np.abs(after - np.rint(before / table) * table) - table / 2).max(axis=1) > 0.05).mean())

    held = off_the_intervals(back(restore_image(model, copy, damage, strength=0.5)))
    assert held == 0 if width % 16 == 0 else held < 0.05
    assert off_the_intervals(back(restore_image(model, copy, damage, strength=0.5, constraint=None))) > 0.2
    if width % 16 == 0:
        truth = copy.pixels  # a restoration that overshoots: noise of 12 grey levels (SD)
        noisy = np.clip(truth + np.random.default_rng(3).normal(0, 12 / 255, truth.shape).astype(np.float32), 0, 1)
        unturned_constraint = read_constraint(unturned, analyze(unturned))
        assert np.abs(back(constraint.enforce(noisy)) - unturned_constraint.enforce(back(noisy))).max() < 1e-4


def test_a_jpeg_file_keeps_its_own_intervals(original, tmp_path):
    path = tmp_path / "photo.jpg"
    Image.fromarray(original).save(path, quality=50)
    loaded = read_image(path)
    assert not isinstance(read_constraint(loaded, analyze(loaded)), JpegCopyConstraint)
