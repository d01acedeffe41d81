"""The JPEG quantisation constraint on real photos: the intervals hold the original, clipping into them only ever
brings a restoration nearer to it, and it applies exactly where the file's blocks can be matched."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from facerestore.damage.analysis import analyze
from facerestore.imageio import apply_orientation, read_image
from facerestore.jpeg_constraint import JpegConstraint, stored_chroma
from facerestore.jpeg_copy import JpegCopyConstraint
from facerestore.metrics import psnr

ORIENTATION_TAG = 0x0112


@pytest.fixture(scope="module")
def original(astronaut_path) -> np.ndarray:
    """A clean photo with sizes that are not whole blocks or whole 4:2:0 blocks (8 and 16 px)."""
    with Image.open(astronaut_path) as im:
        return np.asarray(im.convert("RGB"))[40:40 + 203, 100:100 + 187].copy()


def _jpeg(pixels: np.ndarray, path: Path, quality: int, subsampling: int = 2, orientation: int = 1) -> Path:
    """Save as JPEG (Pillow's subsampling: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0), stored turned so that EXIF
    ``orientation`` turns it back into ``pixels``."""
    stored = pixels
    if orientation != 1:
        inverse = {6: 8, 8: 6}.get(orientation, orientation)
        stored = apply_orientation(pixels, inverse)
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    Image.fromarray(stored).save(path, quality=quality, subsampling=subsampling, exif=exif.tobytes())
    return path


def _constraint(loaded) -> JpegConstraint | None:
    return JpegConstraint.of(loaded, analyze(loaded))


def _float(pixels: np.ndarray) -> np.ndarray:
    return pixels.astype(np.float32) / 255


@pytest.mark.parametrize("quality", [10, 30, 75, 95])
@pytest.mark.parametrize("subsampling", [0, 1, 2])
def test_the_original_lies_within_its_files_intervals(original, tmp_path, quality, subsampling):
    # What the projection is for: the original's blocks fit the intervals read back from the decoded file, so
    # clipping the original into them changes it by no more than the decoder's rounding.
    loaded = read_image(_jpeg(original, tmp_path / "a.jpg", quality, subsampling))
    constraint = _constraint(loaded)
    assert constraint is not None
    kept = np.rint(constraint.enforce(_float(original)) * 255).astype(np.uint8)
    # 57.6-71.9 dB here. Misread intervals move it further: chroma read 128 levels off gives 48 dB at quality 30;
    # half-resolution chroma read without undoing the decoder's triangle filter, 57.3-58.9 dB at quality 95.
    assert psnr(kept, original) > (55 if quality < 95 else 59.5)


@pytest.mark.parametrize("quality", [20, 75, 95])
@pytest.mark.parametrize("subsampling", [0, 2])
def test_clipping_brings_a_restoration_nearer_to_the_original(original, tmp_path, quality, subsampling):
    # Two stand-ins for a model's output: too smooth (a blur of the decoded file) and too noisy (the original
    # with invented detail). Both leave the intervals; clipped back, both are nearer to the original.
    loaded = read_image(_jpeg(original, tmp_path / "a.jpg", quality, subsampling))
    constraint = _constraint(loaded)
    decoded = Image.fromarray(np.rint(loaded.pixels * 255).astype(np.uint8))
    blurred = np.asarray(decoded.filter(ImageFilter.GaussianBlur(1.5)), dtype=np.float32) / 255
    noisy = np.clip(_float(original) + np.random.default_rng(0).normal(0, 0.03, original.shape), 0, 1)
    gains = []
    for guess in (blurred, noisy.astype(np.float32)):
        kept = constraint.enforce(guess)
        gains.append(psnr(kept, _float(original), data_range=1.0) - psnr(guess, _float(original), data_range=1.0))
    # dB nearer: the blur by 2.9-10.8 (most at high quality), the noise by 0.05-3.8 (wide intervals let more stay).
    assert gains[0] > 2 and gains[1] > 0.03


def test_the_decoded_file_is_kept_and_edge_blocks_are_untouched(original, tmp_path):
    loaded = read_image(_jpeg(original, tmp_path / "a.jpg", 50))
    constraint = _constraint(loaded)
    # The file's own pixels are inside its intervals: nothing to take back but rounding.
    assert np.abs(constraint.enforce(loaded.pixels) - loaded.pixels).max() < 1.5 / 255
    # Blocks the image covers only in part (rows from 200, columns from 184) were padded by the encoder with
    # pixels the file does not keep: they stay as restored.
    guess = np.clip(loaded.pixels + np.random.default_rng(1).normal(0, 0.05, loaded.pixels.shape), 0, 1)
    kept = constraint.enforce(guess.astype(np.float32))
    assert np.array_equal(kept[200:], guess[200:].astype(np.float32))
    assert np.array_equal(kept[:, 184:], guess[:, 184:].astype(np.float32))
    assert not np.allclose(kept[:192, :176], guess[:192, :176])


def test_a_progressive_jpeg_has_the_same_intervals(original, tmp_path):
    # Progressive and optimised files code the same quantised coefficients in another order.
    Image.fromarray(original).save(tmp_path / "p.jpg", quality=50, progressive=True, optimize=True)
    kept = _constraint(read_image(tmp_path / "p.jpg")).enforce(_float(original))
    assert psnr(np.rint(kept * 255).astype(np.uint8), original) > 55


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_an_exif_turned_jpeg_is_matched_in_its_stored_layout(original, tmp_path, orientation):
    loaded = read_image(_jpeg(original, tmp_path / "a.jpg", 30, orientation=orientation))
    assert loaded.orientation == orientation and loaded.pixels.shape[:2] == original.shape[:2]
    kept = _constraint(loaded).enforce(_float(original))
    assert psnr(np.rint(kept * 255).astype(np.uint8), original) > 44


def test_a_gray_jpeg_is_constrained_on_its_one_plane(original, tmp_path):
    gray = np.asarray(Image.fromarray(original).convert("L"))
    Image.fromarray(gray).save(tmp_path / "g.jpg", quality=40)
    loaded = read_image(tmp_path / "g.jpg")
    noisy = np.clip(_float(gray)[..., None] + np.random.default_rng(2).normal(0, 0.03, gray.shape + (1,)), 0, 1)
    kept = _constraint(loaded).enforce(noisy.astype(np.float32))
    assert kept.shape == noisy.shape
    assert psnr(kept[..., 0], _float(gray), data_range=1.0) > psnr(noisy[..., 0], _float(gray), data_range=1.0) + 0.3


def test_files_whose_pixels_are_not_their_blocks_get_none(original, tmp_path, hopper_path):
    Image.fromarray(original).save(tmp_path / "a.png")
    Image.fromarray(original).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=50)
    assert _constraint(read_image(hopper_path)) is not None  # a JPEG from elsewhere, with its own tables
    assert _constraint(read_image(tmp_path / "a.png")) is None
    assert _constraint(read_image(tmp_path / "cmyk.jpg")) is None
    tiny = tmp_path / "tiny.jpg"
    Image.fromarray(original[:7, :7]).save(tiny, quality=50)
    assert _constraint(read_image(tiny)) is None  # not one whole block


def test_an_rgb_coded_jpeg_is_not_read_as_ycbcr(original, tmp_path):
    from facerestore.damage.jpeg_tables import read_jpeg_info

    path = tmp_path / "rgb.jpg"
    # keep_rgb (Pillow 11+) writes R, G, B components with an Adobe marker saying "no transform".
    try:
        Image.fromarray(original).save(path, quality=50, keep_rgb=True)
    except (TypeError, ValueError, OSError):
        pytest.skip("this Pillow cannot write RGB-coded JPEGs")
    with Image.open(path) as im:
        if "adobe_transform" not in im.info and "jfif" in im.info:
            pytest.skip("this Pillow wrote a YCbCr JPEG")
        assert read_jpeg_info(im).ycbcr is False
    assert _constraint(read_image(path)) is None


def test_restoring_a_jpeg_file_keeps_the_shipped_models_output_within_its_intervals(original, tmp_path):
    """What `enhance` writes for a JPEG: BigCNN's output clipped into the file's intervals, nearer to the original
    than the network's output alone; a PNG copy of it is held within the luma intervals read from its pixels."""
    from facerestore.registry import MODELS_DIR
    from facerestore.restore import restore_image, restore_pixels
    from facerestore.session import open_model

    model = open_model(MODELS_DIR / "big.onnx", device="cpu")
    loaded = read_image(_jpeg(original, tmp_path / "a.jpg", 75))
    network = restore_pixels(model, loaded.pixels)
    kept = restore_image(model, loaded, analyze(loaded))
    assert np.array_equal(kept, _constraint(loaded).enforce(network))
    # A caller that read the file and found no constraint (None) is not second-guessed.
    assert np.array_equal(restore_image(model, loaded, analyze(loaded), constraint=None), network)
    assert psnr(kept, _float(original), data_range=1.0) > psnr(network, _float(original), data_range=1.0) + 0.1
    Image.fromarray(np.rint(loaded.pixels * 255).astype(np.uint8)).save(tmp_path / "a.png")
    png = read_image(tmp_path / "a.png")
    copy = JpegCopyConstraint.of(png, analyze(png))
    assert copy is not None
    assert np.array_equal(restore_image(model, png, analyze(png), strength=0.5),
                          copy.enforce(restore_pixels(model, png.pixels, strength=0.5)))


def test_bands_of_rows_give_the_whole_image_result(astronaut_path, tmp_path, monkeypatch):
    # Both steps go through the image in bands to bound their memory; where the bands fall must not matter.
    import facerestore.jpeg_constraint as jc

    with Image.open(astronaut_path) as im:
        photo = np.asarray(im.convert("RGB"))[:509, :331].copy()
    loaded = read_image(_jpeg(photo, tmp_path / "a.jpg", 60, orientation=6))
    guess = np.clip(loaded.pixels + np.random.default_rng(3).normal(0, 0.04, loaded.pixels.shape), 0, 1)
    results = []
    for band in (16, 48, 4096):
        monkeypatch.setattr(jc, "BAND", band)
        results.append(jc.JpegConstraint.of(loaded, analyze(loaded)).enforce(guess.astype(np.float32)))
    np.testing.assert_allclose(results[0], results[2], atol=1e-6)
    np.testing.assert_allclose(results[1], results[2], atol=1e-6)
    assert psnr(results[2], _float(photo), data_range=1.0) > psnr(guess, _float(photo), data_range=1.0) + 0.1


def test_a_resaved_jpeg_is_not_held_to_its_last_saves_intervals(original, tmp_path):
    """A quality 10 photo re-saved at 95: the file's narrow intervals surround the quality 10 damage, and clipping
    into them would take the restoration back. The analysis sees the earlier compression; the constraint stands
    aside, so `enhance` writes what the model restores."""
    from facerestore.registry import MODELS_DIR
    from facerestore.restore import restore_image, restore_pixels
    from facerestore.session import open_model

    damaged = np.asarray(Image.open(_jpeg(original, tmp_path / "q10.jpg", 10)).convert("RGB"))
    Image.fromarray(damaged).save(tmp_path / "resaved.jpg", quality=95)
    loaded = read_image(tmp_path / "resaved.jpg")
    damage = analyze(loaded)
    assert damage.double_compression and damage.table_quality >= 90 and damage.jpeg_quality <= 20
    assert JpegConstraint.of(loaded, damage) is None
    # What clipping would have done: held the model's output next to the damaged file.
    held = JpegConstraint.of(loaded, replace(damage, double_compression=False))
    model = open_model(MODELS_DIR / "big.onnx", device="cpu")
    network = restore_pixels(model, loaded.pixels)
    near_input = psnr(held.enforce(network), loaded.pixels, data_range=1.0)
    assert near_input > 38 > psnr(network, loaded.pixels, data_range=1.0)
    assert np.array_equal(restore_image(model, loaded, damage), network)


def test_a_constraint_of_chroma_alone_moves_no_luma(original, tmp_path):
    """A copy's chroma held apart from its luma (a luma table of no known step): a guess tinted beyond the file's
    chroma intervals gets its Cb and Cr taken back towards the file's, its Y stays as the guess has it."""
    loaded = read_image(_jpeg(original, tmp_path / "a.jpg", 30))
    info = loaded.jpeg
    constraint = JpegConstraint.of_pixels(loaded.pixels, np.zeros_like(info.luma_table), info.chroma_table, (2, 2))
    tint = np.array([0.2, 0.0, -0.2], np.float32)  # Cr +30, Cb -34 levels: beyond half of each DC step at 30
    guess = np.clip(loaded.pixels + tint, 0, 1).astype(np.float32)
    kept = constraint.enforce(guess)
    ycc = lambda a: np.asarray(Image.fromarray(np.rint(a * 255).astype(np.uint8)).convert("YCbCr"), np.float32)
    whole = (slice(0, 192), slice(0, 176))  # the whole 4:2:0 blocks
    inside = ((kept > 0) & (kept < 1)).all(axis=2)[whole]  # where the final clamp to [0, 1] moved no channel
    assert np.abs(ycc(kept)[whole][..., 0] - ycc(guess)[whole][..., 0])[inside].max() <= 1.0  # rounding alone
    # Its stored (subsampled) Cb and Cr, which the intervals hold: a quarter as far from the file's as the guess's.
    chroma = lambda a: stored_chroma(a[:192, :176], (2, 2))
    moved = [np.mean((chroma(a) - chroma(loaded.pixels)) ** 2) for a in (guess, kept)]
    assert moved[1] < 0.25 * moved[0], moved
