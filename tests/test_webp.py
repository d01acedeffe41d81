"""Lossy WebP as damage: the quantiser its header states, the level it maps to, and what enhance does with it."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from facerestore.cli import cli
from facerestore.damage import levels
from facerestore.damage.analysis import analyze
from facerestore.damage.webp_header import read_webp_info
from facerestore.imageio import read_image
from facerestore.metrics import psnr

ROOT = Path(__file__).resolve().parent.parent
ASTRONAUT = ROOT / "examples" / "originals" / "astronaut.png"


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    with Image.open(ASTRONAUT) as im:
        return np.asarray(im.convert("RGB").resize((256, 256), Image.Resampling.LANCZOS)).copy()


def _webp(pixels: np.ndarray, **options) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="WEBP", **options)
    return buf.getvalue()


def test_the_quantiser_index_rises_as_quality_falls(face):
    indices = [read_webp_info(io.BytesIO(_webp(face, quality=q))).luma_index for q in (100, 95, 75, 50, 20, 5, 0)]
    assert indices[0] == 0 and indices[-1] == 127
    assert all(a < b for a, b in zip(indices, indices[1:])), indices


def test_lossless_and_foreign_files_state_no_quantiser(face):
    assert read_webp_info(io.BytesIO(_webp(face, lossless=True))) is None
    frames = [Image.fromarray(face), Image.fromarray(face[::-1].copy())]
    buf = io.BytesIO()
    frames[0].save(buf, format="WEBP", save_all=True, append_images=frames[1:], lossless=True)
    assert read_webp_info(buf) is None
    for data in (b"", b"RIFF", b"RIFF\0\0\0\0WEBP", b"\x89PNG\r\n\x1a\n" + bytes(40)):
        assert read_webp_info(io.BytesIO(data)) is None
    nested = b""  # frames inside frames, deeper than Python's recursion limit: no frame holds an image
    for _ in range(5000):
        nested = b"ANMF" + struct.pack("<I", len(nested) + 16) + bytes(16) + nested
    assert read_webp_info(io.BytesIO(b"RIFF" + struct.pack("<I", len(nested) + 4) + b"WEBP" + nested)) is None


@pytest.mark.parametrize("alpha", [False, True])
def test_an_animated_file_states_its_first_frames_quantiser(face, alpha):
    """The first frame is the one read and restored; an animation's frames sit in ANMF chunks (with their own ALPH
    chunk where the frames are transparent), which the header reader looked into no further."""
    pixels = np.dstack([face, np.full(face.shape[:2], 200, np.uint8)]) if alpha else face
    indices = []
    for quality in (90, 50, 20):
        buf = io.BytesIO()
        first = Image.fromarray(pixels)
        first.save(buf, format="WEBP", save_all=True, append_images=[first.rotate(10)], quality=quality)
        assert b"ANMF" in buf.getvalue()
        info = read_webp_info(buf)
        assert info is not None, quality
        still = read_webp_info(io.BytesIO(_webp(pixels, quality=quality)))
        assert abs(info.luma_index - still.luma_index) <= 8, (quality, info, still)
        indices.append(info.luma_index)
    assert indices == sorted(indices) and indices[0] < indices[-1]


def test_an_animated_webp_is_analysed_as_the_damage_its_first_frame_holds(tmp_path, face):
    path = tmp_path / "animated.webp"
    first = Image.fromarray(face)
    first.save(path, format="WEBP", save_all=True, append_images=[first.rotate(10)], quality=15)
    damage = analyze(read_image(path))
    assert damage.kind == "webp" and damage.webp_index is not None and damage.level > 0.5  # it read level 0


def test_extended_files_are_read_past_their_metadata(face):
    """A VP8X file (alpha, EXIF, an ICC profile before the image data) states the same quantiser."""
    plain = read_webp_info(io.BytesIO(_webp(face, quality=40)))
    rgba = np.dstack([face, np.full(face.shape[:2], 200, np.uint8)])
    with_alpha = read_webp_info(io.BytesIO(_webp(rgba, quality=40)))
    profile = bytes(range(256)) * 9  # an odd size: chunks are padded to even sizes
    with_icc = read_webp_info(io.BytesIO(_webp(face, quality=40, icc_profile=profile[:-1])))
    assert with_alpha == plain and with_icc == plain


def test_a_truncated_header_gives_none_not_an_error(face):
    data = _webp(face, quality=30)
    start = data.index(b"VP8 ") + 8
    for cut in (start, start + 5, start + 11, start + 14):
        truncated = data[:cut]
        truncated = truncated[:4] + struct.pack("<I", len(truncated) - 8) + truncated[8:]
        info = read_webp_info(io.BytesIO(truncated))
        assert info is None or 0 <= info.luma_index <= 127


def test_the_level_of_a_webp_follows_its_cost(tmp_path, face):
    """A WebP is put at the level of the JPEG that costs the training faces as much: the face's own cost agrees
    within a band of JPEG qualities."""
    found = []
    for quality in (90, 75, 50, 20, 5):
        path = tmp_path / f"q{quality}.webp"
        path.write_bytes(_webp(face, quality=quality))
        damage = analyze(read_image(path))
        assert damage.kind == "webp" and damage.webp_index is not None, damage
        found.append(damage.level)
        lost = psnr(np.asarray(Image.open(path).convert("RGB")), face, 255.0)
        # The JPEG quality of the same cost on this face, and the levels a quality either side of it gives.
        costs = {q: psnr(np.asarray(Image.open(io.BytesIO(_jpeg(face, q))).convert("RGB")), face, 255.0)
                 for q in range(2, 100)}
        same = min(costs, key=lambda q: abs(costs[q] - lost))
        assert levels.jpeg_level(min(same + 15, 99)) - 0.05 <= damage.level <= levels.jpeg_level(max(same - 15, 1)) \
            + 0.05, (quality, same, damage.level)
    assert found == sorted(found), found


def _jpeg(pixels: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def test_a_lossless_webp_or_png_is_not_webp_damage(tmp_path, face):
    path = tmp_path / "lossless.webp"
    path.write_bytes(_webp(face, lossless=True))
    damage = analyze(read_image(path))
    assert damage.webp_index is None and damage.level < levels.jpeg_level(95)
    assert json.loads(json.dumps(damage.to_json()))["webp_index"] is None


def test_enhance_restores_a_damaged_webp_and_leaves_a_fine_one(tmp_path, face):
    """The default model gains on a face saved as WebP 20 (auto), and leaves one saved at 95 as it is."""
    src = tmp_path / "in"
    src.mkdir()
    (src / "harsh.webp").write_bytes(_webp(face, quality=20))
    (src / "fine.webp").write_bytes(_webp(face, quality=95))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["enhance", str(src), "-o", str(out), "--format", "png", "--json"])
    assert result.exit_code == 0, result.output
    records = {Path(r["input"]).name: r for r in map(json.loads, result.stdout.splitlines())}
    assert records["harsh.webp"]["status"] == "restored", records["harsh.webp"]
    assert records["fine.webp"]["status"] == "unchanged", records["fine.webp"]
    before = psnr(np.asarray(Image.open(src / "harsh.webp").convert("RGB")), face, 255.0)
    after = psnr(np.asarray(Image.open(out / "harsh.png").convert("RGB")), face, 255.0)
    assert after > before + 0.3, (before, after)


def test_a_model_without_a_webp_curve_leaves_webp_photos_unchanged(tmp_path, face):
    """A user's own model has no WebP curve: auto leaves a WebP alone and says why; --strength still runs it."""
    from facerestore.registry import MODELS_DIR

    src = tmp_path / "harsh.webp"
    src.write_bytes(_webp(face, quality=20))
    own = tmp_path / "mine.onnx"
    own.write_bytes((MODELS_DIR / "basic.onnx").read_bytes())
    base = ["enhance", str(src), "--model", str(own), "--format", "png", "--json"]
    auto = CliRunner().invoke(cli, base + ["-o", str(tmp_path / "auto")])
    assert auto.exit_code == 0, auto.output
    record = json.loads(auto.stdout.splitlines()[0])
    assert record["status"] == "unchanged" and "WebP" in record["damage"]["reason"], record
    forced = CliRunner().invoke(cli, base + ["-o", str(tmp_path / "forced"), "--strength", "0.5"])
    assert json.loads(forced.stdout.splitlines()[0])["status"] == "restored", forced.output


def test_a_webp_kept_as_webp_is_restored_only_where_the_resave_pays(tmp_path, face):
    """Saved as a WebP again, a restoration costs more than it gains on a WebP of moderate damage: under auto only a
    harsh one is restored (at the default quality 95), and at --quality 85 none; the others are copied."""
    src = tmp_path / "in"
    src.mkdir()
    (src / "q5.webp").write_bytes(_webp(face, quality=5))
    (src / "q50.webp").write_bytes(_webp(face, quality=50))

    def run(*extra: str) -> dict:
        out = tmp_path / f"out{len(extra)}"
        result = CliRunner().invoke(cli, ["enhance", str(src), "-o", str(out), "--json", *extra])
        assert result.exit_code == 0, result.output
        return {Path(r["input"]).name: r for r in map(json.loads, result.stdout.splitlines())}

    at_95 = run()
    assert at_95["q5.webp"]["status"] == "restored", at_95["q5.webp"]
    before = psnr(np.asarray(Image.open(src / "q5.webp").convert("RGB")), face, 255.0)
    after = psnr(np.asarray(Image.open(tmp_path / "out0" / "q5.webp").convert("RGB")), face, 255.0)
    assert after > before + 0.1, (before, after)
    assert at_95["q50.webp"]["status"] == "unchanged" and "WebP" in at_95["q50.webp"]["damage"]["reason"]
    assert (tmp_path / "out0" / "q50.webp").read_bytes() == (src / "q50.webp").read_bytes()
    at_85 = run("--quality", "85")
    assert {name: r["status"] for name, r in at_85.items()} == {"q5.webp": "unchanged", "q50.webp": "unchanged"}
