"""Damage analysis on real photos: JPEG tables, JPEG history read from pixels, banding, pixelation, the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from facerestore import degrade
from facerestore.cli import cli
from facerestore.damage import levels
from facerestore.damage.analysis import analyze
from facerestore.damage.analysis import sampled_lines
from facerestore.damage.pixels import DUP_MIN_FACTOR, PIXELATION_MIN_FACTOR, pixelation_readings
from facerestore.damage.jpeg_tables import (CHROMA_BASE, LUMA_BASE, ZIGZAG, ijg_table, read_jpeg_info,
                                            table_quality)
from facerestore.imageio import read_image

ROOT = Path(__file__).resolve().parent.parent
ASTRONAUT = ROOT / "examples" / "originals" / "astronaut.png"
HOPPER = ROOT / "examples" / "originals" / "grace_hopper.jpg"


def _rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).copy()


@pytest.fixture(scope="module")
def faces() -> list[np.ndarray]:
    return [_rgb(ASTRONAUT), _rgb(HOPPER)]


def _save(pixels: np.ndarray, path: Path, **options) -> Path:
    Image.fromarray(pixels).save(path, **options)
    return path


def _analyze(path: Path):
    return analyze(read_image(path))


# ------------------------------------------------------------------------------------------ JPEG tables

def test_standard_tables_name_their_quality_at_every_quality(tmp_path, faces):
    crop = faces[0][200:264, 200:264]
    for q in range(1, 101):
        damage = _analyze(_save(crop, tmp_path / f"q{q}.jpg", quality=q))
        assert abs(damage.table_quality - q) <= 1 and abs(damage.chroma_quality - q) <= 1, q
        if 5 <= q <= 95:
            assert damage.table_quality == q and damage.chroma_quality == q, q
        assert damage.standard_tables is True and damage.jpeg_quality_source == "tables"


def test_tables_follow_ijg_scaling_and_baseline_clamp():
    assert list(ijg_table(LUMA_BASE, 50)[:8]) == [16, 11, 10, 16, 24, 40, 51, 61]
    assert ijg_table(LUMA_BASE, 1).max() == 255          # baseline steps are 8-bit
    assert ijg_table(LUMA_BASE, 1, baseline=False).max() == 121 * 50
    assert (ijg_table(LUMA_BASE, 100) == 1).all()


def test_zigzag_ordered_tables_from_old_pillow_are_recognised():
    table = ijg_table(LUMA_BASE, 37)
    zigzag = table[ZIGZAG]

    class Old:  # what Pillow < 8.3 handed out: the steps in file (zigzag) order
        quantization = {0: list(zigzag)}
        layer = [("1", 1, 1, 0)]
        size = (64, 64)

    info = read_jpeg_info(Old())
    assert table_quality(info.luma_table, "luma").quality == 37


def test_a_damaged_table_with_a_zero_step_is_read_without_warnings(tmp_path, faces):
    """libjpeg decodes a table holding a step of 0; reading its header must not write numpy warnings on stderr."""
    import warnings

    path = _save(faces[1], tmp_path / "zero.jpg", quality=50)
    data = bytearray(path.read_bytes())
    dqt = data.index(b"\xff\xdb")
    data[dqt + 5 + 63] = 0  # the last step (zigzag order) of the first table
    path.write_bytes(bytes(data))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        damage = _analyze(path)
    assert damage.jpeg_quality is not None


@pytest.mark.parametrize("subsampling, name", [(2, "4:2:0"), (1, "4:2:2"), (0, "4:4:4")])
def test_chroma_subsampling(tmp_path, faces, subsampling, name):
    damage = _analyze(_save(faces[0], tmp_path / "s.jpg", quality=75, subsampling=subsampling))
    assert damage.subsampling == name
    assert damage.jpeg_quality == 75 and damage.double_compression is False


def test_gray_jpeg_has_luma_only(tmp_path, faces):
    gray = np.asarray(Image.fromarray(faces[0]).convert("L"))
    damage = _analyze(_save(gray, tmp_path / "g.jpg", quality=40))
    assert damage.table_quality == 40 and damage.chroma_quality is None and damage.subsampling is None


@pytest.mark.parametrize("coding", ["CMYK", "RGB"])
def test_colour_coded_without_chroma_has_no_chroma_quality(tmp_path, faces, coding):
    """In a CMYK or RGB-coded JPEG the second component is magenta or green under the first one's table: it is no
    chroma table, and reading it as one made standard IJG tables look custom."""
    path = tmp_path / f"{coding}.jpg"
    if coding == "CMYK":
        Image.fromarray(faces[0]).convert("CMYK").save(path, quality=25)
    else:
        Image.fromarray(faces[0]).save(path, quality=25, keep_rgb=True)
    damage = _analyze(path)
    assert (damage.table_quality, damage.chroma_quality, damage.standard_tables) == (25, None, True)


def test_camera_tables_map_to_the_nearest_quality(tmp_path, faces):
    # A camera's own tables: IJG's quality 90 steps, nudged the way firmware tables differ from libjpeg's.
    rng = np.random.default_rng(3)
    luma = np.clip(ijg_table(LUMA_BASE, 90) + rng.integers(-1, 2, 64), 1, 255)
    chroma = np.clip(luma + 1, 1, 255)
    path = _save(faces[1], tmp_path / "camera.jpg", qtables=[list(map(int, luma)), list(map(int, chroma))])
    damage = _analyze(path)
    assert damage.standard_tables is False
    assert 85 <= damage.table_quality <= 95
    assert damage.double_compression is False and damage.jpeg_quality == damage.table_quality


def test_read_image_carries_the_tables_only_for_jpeg(tmp_path, faces):
    assert read_image(ASTRONAUT).jpeg is None
    info = read_image(_save(faces[0], tmp_path / "t.jpg", quality=60)).jpeg
    assert info is not None and info.grid == (0, 0) and len(info.tables) == 2


def test_rotated_jpeg_grid_is_followed(tmp_path, faces):
    # 509 x 389: an EXIF rotation moves the 8 px grid off (0, 0); a single compression must not look double.
    exif = Image.Exif()
    exif[0x0112] = 3  # rotated 180 degrees
    path = _save(faces[1][:389, :509], tmp_path / "rot.jpg", quality=30, exif=exif.tobytes())
    loaded = read_image(path)
    assert loaded.jpeg.grid == (389 % 8, 509 % 8)  # the stored first block now ends the image
    damage = analyze(loaded)
    assert damage.double_compression is False and damage.jpeg_quality == 30
    assert damage.pixel_quality is not None and abs(damage.pixel_quality - 30) <= 1


# ------------------------------------------------------------------------------------- JPEG history in pixels

@pytest.mark.parametrize("quality", [20, 30, 40])
@pytest.mark.parametrize("crop", [(0, 0), (3, 5)])
def test_png_that_was_a_jpeg(tmp_path, faces, quality, crop):
    for i, rgb in enumerate(faces):
        once = degrade.jpeg(rgb, quality)[crop[0]:, crop[1]:]
        damage = _analyze(_save(once, tmp_path / f"{i}.png"))
        assert damage.jpeg_quality_source == "pixels"
        assert abs(damage.jpeg_quality - quality) <= 10, (i, damage)
        assert damage.grid_offset == ((8 - crop[0]) % 8, (8 - crop[1]) % 8)
        assert damage.double_compression is None and damage.table_quality is None


# Pillow's turns of an image: its rows and columns swapped (a quarter turn is a transpose and a flip) or not.
TURNS = {"rot90": (Image.ROTATE_90, True), "rot270": (Image.ROTATE_270, True), "transpose": (Image.TRANSPOSE, True),
         "rot180": (Image.ROTATE_180, False)}


@pytest.mark.parametrize("quality", [30, 50, 75, 90])
@pytest.mark.parametrize("turn", TURNS)
def test_a_copy_of_a_jpeg_turned_by_a_quarter_is_read_at_its_quality(tmp_path, faces, quality, turn):
    """A PNG of a JPEG turned by 90 or 270 degrees has its blocks transposed: read in the IJG tables' orientation only,
    it showed no JPEG at 75 and 90 and a coarser one at 50. Read transposed, it shows the quality its unturned copy
    shows, on that copy's grid turned (in the turned image's own rows and columns); a copy turned by 180 degrees
    is read as it lies. Sides off the 8 px grid move the grid with the turn."""
    rgb = faces[0][:397, :389]
    path = _save(rgb, tmp_path / "photo.jpg", quality=quality)
    transpose, swapped = TURNS[turn]
    with Image.open(path) as im:
        unturned = _analyze(_save(np.asarray(im), tmp_path / "copy.png"))
        turned = _analyze(_save(np.asarray(im.transpose(transpose)), tmp_path / "turned.png"))
    assert unturned.jpeg_quality_source == "pixels" and abs(unturned.jpeg_quality - quality) <= 1
    assert unturned.grid_offset == (0, 0) and unturned.jpeg_transposed is False
    assert turned.jpeg_quality == unturned.jpeg_quality and turned.jpeg_transposed is swapped
    # Where the first stored block lands: the turned image's corner that was the stored one's.
    corner = {"rot90": (389 % 8, 0), "rot270": (0, 397 % 8), "transpose": (0, 0), "rot180": (397 % 8, 389 % 8)}
    assert turned.grid_offset == corner[turn]
    # The content cost is taken on the blocks as they lie: the same cost as the unturned copy's, give or take the
    # rows its sample takes.
    assert abs(turned.cost_quality - unturned.cost_quality) <= 2
    assert turned.to_json()["jpeg_transposed"] is swapped


@pytest.mark.parametrize("turn", ["rot90", "transpose"])
@pytest.mark.parametrize("gray", [False, True])
def test_a_photo_that_never_was_a_jpeg_turned_shows_no_jpeg(tmp_path, turn, gray):
    with Image.open(ASTRONAUT) as im:
        turned = np.asarray(im.convert("L" if gray else "RGB").transpose(TURNS[turn][0]))
    damage = _analyze(_save(turned, tmp_path / "turned.png"))
    assert damage.jpeg_quality is None and damage.grid_offset is None and damage.jpeg_transposed is False


def test_clean_png_has_no_jpeg_history(tmp_path):
    damage = _analyze(ASTRONAUT)
    assert damage.jpeg_quality is None and damage.jpeg_quality_source is None
    assert damage.effective_levels > 240 and damage.pixelation == 1.0
    assert damage.level < 0.05


@pytest.mark.parametrize("name, pixels", [
    ("one pixel", np.array([[[200, 100, 50]]], np.uint8)),
    ("flat grey", np.full((64, 64, 3), 128, np.uint8)),
    ("flat orange", np.full((64, 48, 3), (240, 140, 20), np.uint8)),
    ("faint gradient", np.tile(np.arange(64, 74, dtype=np.uint8).repeat(8)[None, :, None], (64, 1, 3))),
])
def test_an_image_too_flat_to_show_damage_is_clean(tmp_path, name, pixels):
    """A channel spanning a handful of intensities says nothing of collapse: any photo of it uses few levels."""
    damage = _analyze(_save(pixels, tmp_path / "flat.png"))
    assert damage.effective_levels == 256 and damage.jpeg_quality is None and damage.level == 0, (name, damage)


def test_one_edge_on_the_grid_is_not_jpeg_blocking(tmp_path, faces):
    """Blocking lifts the 8 px grid both ways; a single vertical edge that lies on it lifts one axis only."""
    halves = np.zeros((64, 64, 3), np.uint8)
    halves[:, 32:] = 255
    assert _analyze(_save(halves, tmp_path / "halves.png")).jpeg_quality is None
    # A real JPEG of the same size still shows its blocking from the pixels.
    small = np.ascontiguousarray(faces[0][100:164, 180:244])
    assert _analyze(_save(degrade.jpeg(small, 10), tmp_path / "q10.png")).jpeg_quality is not None


def test_high_quality_jpeg_saved_as_png_is_not_damaged(tmp_path, faces):
    # The astronaut only: the Hopper original is itself a quality 80 JPEG, whose lattice rightly shows through.
    for q in (95, 98):
        damage = _analyze(_save(degrade.jpeg(faces[0], q), tmp_path / f"{q}.png"))
        assert damage.jpeg_quality is None or damage.jpeg_quality >= 85, damage
        assert damage.level <= levels.jpeg_level(85)


def test_earlier_compression_shows_through_a_high_quality_one(tmp_path, faces):
    # grace_hopper.jpg is a quality 80 JPEG: re-encoded at 95 and saved losslessly, its pixels still say 80.
    damage = _analyze(_save(degrade.jpeg(faces[1], 95), tmp_path / "hopper.png"))
    assert damage.jpeg_quality_source == "pixels" and abs(damage.jpeg_quality - 80) <= 2


def test_resaved_jpeg_keeps_its_first_quality(tmp_path, faces):
    once = _save(faces[0], tmp_path / "q20.jpg", quality=20)
    twice = _save(_rgb(once), tmp_path / "q20q90.jpg", quality=90)
    damage = _analyze(twice)
    assert damage.table_quality == 90
    assert damage.double_compression is True and damage.jpeg_quality_source == "pixels"
    assert abs(damage.jpeg_quality - 20) <= 5
    assert damage.level == pytest.approx(levels.jpeg_level(damage.jpeg_quality), abs=0.02)
    single = _analyze(_save(faces[0], tmp_path / "q90.jpg", quality=90))
    assert single.double_compression is False and single.jpeg_quality == 90


def _capped_tables(quality: int, cap: int) -> list[list[int]]:
    """IJG's tables at ``quality`` with no step above ``cap``, as cameras that spare fine detail write them."""
    return [list(np.minimum(ijg_table(base, quality), cap)) for base in (LUMA_BASE, CHROMA_BASE)]


def test_a_cameras_capped_tables_read_as_one_save_and_an_earlier_harsher_one_still_shows(tmp_path, faces):
    # Its first steps, the ones a lattice of the pixels sees, are IJG 75's; all of its steps together are nearest
    # IJG 89's. The lattice of 75 is then the file's own, not an earlier save.
    once = _analyze(_save(faces[0], tmp_path / "camera.jpg", qtables=_capped_tables(75, 12)))
    assert once.standard_tables is False and once.table_quality == 89
    assert once.double_compression is False and once.jpeg_quality == 89, once
    harsher = _rgb(_save(faces[0], tmp_path / "q25.jpg", quality=25))
    twice = _analyze(_save(harsher, tmp_path / "resaved.jpg", qtables=_capped_tables(75, 12)))
    assert twice.double_compression is True and abs(twice.jpeg_quality - 25) <= 5, twice


def test_a_smooth_photo_saved_once_at_a_good_quality_is_not_double_compressed(tmp_path, shared_natural):
    # A dark, smooth sky: its blocks are so flat inside that the file's own quality 85-95 blocking, a ratio to the
    # steps inside them, reads like quality 23-51. Only a lattice may show an earlier save on the file's own grid.
    with Image.open(shared_natural / "mate_Storm.jpg") as im:
        photo = np.asarray(im.convert("RGB").resize((768, 512), Image.LANCZOS))
    for q in (85, 90, 95):
        damage = _analyze(_save(photo, tmp_path / f"storm{q}.jpg", quality=q))
        assert damage.double_compression is False and damage.jpeg_quality == q, damage
        # The sky lost little at its quality: the level follows the higher quality that cost it, never a lower one.
        assert damage.kind == "jpeg" and damage.cost_quality >= q, damage
        assert damage.level == pytest.approx(levels.jpeg_level(damage.cost_quality), abs=0.01), damage


def test_a_smooth_photo_converted_from_a_good_jpeg_is_not_read_as_a_bad_one(tmp_path, shared_natural):
    # Without tables or a lattice strong enough, blocking is all there is: a ratio that a smooth sky at quality 80-90
    # lifts as high as quality 20 does, though its steps across the grid are under a grey level.
    with Image.open(shared_natural / "mate_Storm.jpg") as im:
        photo = np.asarray(im.convert("RGB").resize((768, 512), Image.LANCZOS))
    for q in (80, 85, 90):
        damage = _analyze(_save(degrade.jpeg(photo, q), tmp_path / f"storm{q}.png"))
        assert damage.jpeg_quality is None or damage.jpeg_quality >= q - 10, (q, damage)
    harsh = _analyze(_save(degrade.jpeg(photo, 20), tmp_path / "storm20.png"))
    assert harsh.jpeg_quality_source == "pixels" and abs(harsh.jpeg_quality - 20) <= 5, harsh


# -------------------------------------------------------------------------------------- banding, pixelation

def test_banded_image(tmp_path, faces):
    damage = _analyze(_save(degrade.posterize(faces[0], 16), tmp_path / "banded.png"))
    assert 13 <= damage.effective_levels <= 19
    assert damage.banding == pytest.approx(levels.banding_level(damage.effective_levels))
    assert damage.banding > 0.4 and damage.level >= damage.banding
    assert damage.kind == "banding"


def _drawings(tmp_path: Path, face: np.ndarray) -> list[Path]:
    """A bilevel scan of a photo (dithered to black and white) and a logo: flat colours, anti-aliased text."""
    scan = tmp_path / "scan.png"
    Image.fromarray(face).convert("1").save(scan)
    logo = Image.new("RGB", (300, 200), (255, 255, 255))
    draw = ImageDraw.Draw(logo)
    draw.ellipse((10, 10, 190, 190), fill=(200, 30, 30))
    draw.rectangle((120, 60, 290, 140), fill=(20, 40, 160))
    draw.text((130, 80), "facerestore", fill=(255, 230, 0), font=ImageFont.load_default(size=22))
    logo.save(tmp_path / "logo.png")
    return [scan, tmp_path / "logo.png"]


@pytest.mark.parametrize("side", [7, 16, 64, 96])
def test_a_small_image_shows_banding_only_where_it_has_it(tmp_path, astronaut_path, side):
    """A tiny clean image cannot fill its intensities (a clean 7x7 PNG read as banding, level 0.28), while a
    posterized 64 or 96 px one still reads as banded (a minimum sample of 16 pixels per intensity had hidden it)."""
    with Image.open(astronaut_path) as im:
        small = np.asarray(im.convert("RGB").resize((side, side), Image.LANCZOS))
    Image.fromarray(small).save(tmp_path / "clean.png")
    assert analyze(read_image(tmp_path / "clean.png")).banding == 0
    Image.fromarray(degrade.posterize(small, 16)).save(tmp_path / "banded.png")
    banded = analyze(read_image(tmp_path / "banded.png"))
    if side >= 64:
        assert 14 <= banded.effective_levels <= 18 and banded.banding > 0.4


def test_a_drawing_of_few_colours_is_not_banding(tmp_path, faces):
    for path in _drawings(tmp_path, faces[0]):
        damage = _analyze(path)
        assert damage.effective_levels < 20, path.name  # as few levels as heavy banding: the colours decide
        assert damage.banding == 0.0 and damage.level == 0.0 and damage.jpeg_quality is None, (path.name, damage)


def _bar_chart() -> Image.Image:
    """Four bars, a black axis and a title on white: 6 colours cover 99 % of it, as many as a face posterized to 4
    levels needs, but picked one by one rather than on one scale of evenly spaced levels."""
    chart = Image.new("RGB", (640, 400), (255, 255, 255))
    draw = ImageDraw.Draw(chart)
    for i, (h, colour) in enumerate(zip((120, 250, 180, 300), ((66, 133, 244), (219, 68, 55), (244, 180, 0),
                                                               (15, 157, 88)))):
        draw.rectangle((60 + i * 140, 380 - h, 160 + i * 140, 380), fill=colour)
    draw.line((40, 380, 620, 380), fill=(0, 0, 0), width=2)
    draw.text((60, 20), "Quarterly results", fill=(0, 0, 0), font=ImageFont.load_default(size=24))
    return chart


def test_a_chart_of_picked_colours_is_not_banding_and_comes_back_unchanged(tmp_path):
    """It read as banding (level 0.89) and enhance smoothed it to 33 dB from itself."""
    _bar_chart().save(tmp_path / "chart.png")
    damage = _analyze(tmp_path / "chart.png")
    assert damage.banding == 0.0 and damage.level == 0.0, damage
    result = CliRunner().invoke(cli, ["enhance", str(tmp_path / "chart.png"), "-o", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["status"] == "unchanged", result.output
    assert (tmp_path / "out" / "chart.png").read_bytes() == (tmp_path / "chart.png").read_bytes()


def test_every_posterized_scale_is_recognised_and_picked_colours_are_not(faces):
    from facerestore.damage.pixels import on_posterized_scale

    ramp = np.tile(np.arange(256, dtype=np.uint8), (4, 1))[..., None].repeat(3, axis=2)
    for n in range(2, 65):
        assert on_posterized_scale(degrade.posterize(ramp, n), 1.0), n
        assert on_posterized_scale(degrade.posterize(faces[0], n), 0.99), n
    assert not on_posterized_scale(np.asarray(_bar_chart())[::4], 0.99)


@pytest.mark.parametrize("gray, n", [(False, 4), (True, 12)])
def test_a_photo_posterized_to_few_levels_is_still_banding(tmp_path, faces, gray, n):
    pixels = np.asarray(Image.fromarray(faces[0]).convert("L"))[..., None] if gray else faces[0]
    Image.fromarray(np.squeeze(degrade.posterize(pixels, n))).save(tmp_path / "p.png")
    damage = _analyze(tmp_path / "p.png")
    assert damage.banding > 0.5 and damage.kind == "banding", damage


def test_enhance_leaves_a_drawing_unchanged(tmp_path, faces):
    inputs = tmp_path / "in"
    inputs.mkdir()
    _drawings(inputs, faces[0])
    result = CliRunner().invoke(cli, ["enhance", str(inputs), "-o", str(tmp_path / "out"), "--json", "-q"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["status"] for r in records] == ["unchanged", "unchanged"], records
    for name in ("scan.png", "logo.png"):
        assert (tmp_path / "out" / name).read_bytes() == (inputs / name).read_bytes()


@pytest.mark.parametrize("suffix, quality", [(".jpg", 85), (".jpg", 95), (".webp", 75), (".webp", 95)])
def test_a_logo_saved_lossily_is_not_an_earlier_harsher_jpeg(tmp_path, faces, suffix, quality):
    """Its straight edges lie on one phase of an 8 px grid that is not the file's own, and lifted it as much as
    the blocking of a JPEG of quality 35-47 does, from a few bands of lines: enhance took it for one and smoothed the
    logo 0.4-1.7 dB away from itself."""
    clean = _drawings(tmp_path, faces[0])[1]
    lossy = tmp_path / f"logo{suffix}"
    with Image.open(clean) as im:
        im.save(lossy, quality=quality)
    damage = _analyze(lossy)
    assert damage.pixel_quality is None and not damage.double_compression, damage
    assert damage.jpeg_quality == (quality if suffix == ".jpg" else None), damage
    result = CliRunner().invoke(cli, ["enhance", str(lossy), "-o", str(tmp_path / "out"), "--format", "png", "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    # Its sharp edges also make it a graphic, which auto leaves alone at this light damage: the PNG holds the
    # pixels as decoded, not a restoration.
    assert record["status"] == "unchanged" and record["damage"]["graphic"], record
    np.testing.assert_array_equal(_rgb(record["output"]), _rgb(lossy))


def test_a_form_saved_lossily_shows_no_banding(tmp_path):
    """Thin grey rules and black labels on white use few levels by nature: beside its JPEG 75 such a form read as
    banding 0.33 (level 0.62, where the JPEG alone is 0.44), and enhance smoothed its rules away (0.4-1.9 dB)."""
    form = Image.new("RGB", (620, 480), (255, 255, 255))
    draw = ImageDraw.Draw(form)
    for i in range(9):
        draw.text((20, 20 + i * 50), f"Field {i + 1}:", font=ImageFont.load_default(size=15), fill=(0, 0, 0))
        draw.rectangle((140, 15 + i * 50, 590, 45 + i * 50), outline=(90, 90, 90), width=1)
    form.save(tmp_path / "form.jpg", quality=75)
    damage = _analyze(tmp_path / "form.jpg")
    assert damage.graphic and damage.banding == 0.0, damage
    assert damage.cost_quality >= 75 and damage.level == pytest.approx(levels.jpeg_level(damage.cost_quality)), damage


def test_pixelated_image(tmp_path, faces):
    damage = _analyze(_save(degrade.pixelate(faces[0], 2), tmp_path / "pix.png"))
    assert 1.8 <= damage.pixelation <= 2.3
    assert damage.level >= levels.pixelation_level(1.8)
    assert damage.kind == "pixelation"


def _text_page(size: int, ground, ink) -> np.ndarray:
    """Anti-aliased text at ``size`` px, lines of words on a plain ground, as a slide or a caption is."""
    rng = np.random.default_rng(size)
    words = "the quick brown fox jumps over a lazy dog 0123456789 lorem ipsum dolor sit amet".split()
    page = Image.new("RGB", (640, 480), ground)
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=size)
    for y in range(5, 470, size + 4):
        draw.text((5, y), " ".join(rng.choice(words, 12)), fill=ink, font=font)
    return np.asarray(page)


@pytest.mark.parametrize("size", [18, 24, 32, 48])
def test_large_clean_text_is_a_graphic_not_pixelation(tmp_path, size):
    # Solid strokes between sharp steps hold as many equal neighbours as blocks of 1.6-2.6 px, but no whole line
    # repeats: read as pixelation, such a page was restored and its letters softened.
    for i, (ground, ink) in enumerate((("white", (0, 0, 0)), ((30, 30, 60), (250, 250, 200)))):
        damage = _analyze(_save(_text_page(size, ground, ink), tmp_path / f"text{i}.png"))
        assert damage.pixelation == 1.0 and damage.graphic and damage.level == 0.0, (size, i, damage)


def test_it_is_the_repeated_lines_that_tell_text_from_blocks(faces):
    # The premise of the test above: the equal-neighbour share alone reads a page of text as blocks; only the
    # positions repeated on every line tell it from a nearest upscale, which repeats them.
    def readings(pixels):
        return pixelation_readings(*sampled_lines(pixels))

    share, lines = readings(_text_page(24, "white", (0, 0, 0)).astype(np.float32) / 255)
    assert share >= PIXELATION_MIN_FACTOR and lines < DUP_MIN_FACTOR, (share, lines)
    face = Image.fromarray(faces[0])
    upscaled = face.resize((face.width // 2, face.height // 2), Image.LANCZOS).resize(face.size, Image.NEAREST)
    share, lines = readings(np.asarray(upscaled).astype(np.float32) / 255)
    assert share >= PIXELATION_MIN_FACTOR and lines >= DUP_MIN_FACTOR, (share, lines)


def test_a_clean_page_of_large_text_comes_back_unchanged(tmp_path):
    """Read as blocks of 1.9 px it was restored as pixelation, 29 dB from itself."""
    page = _save(_text_page(24, "white", (0, 0, 0)), tmp_path / "page.png")
    result = CliRunner().invoke(cli, ["enhance", str(page), "-o", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["status"] == "unchanged", result.output
    assert (tmp_path / "out" / "page.png").read_bytes() == page.read_bytes()


def test_pixelated_faces_still_read_their_blocks(tmp_path, faces):
    for factor in (2, 3, 4):
        damage = _analyze(_save(degrade.pixelate(faces[1], factor), tmp_path / "pix.png"))
        assert damage.pixelation == pytest.approx(factor, rel=0.2) and damage.kind == "pixelation", factor


@pytest.mark.parametrize("factor", [1.2, 1.25, 4 / 3, 1.5])
def test_a_nearest_upscale_by_less_than_one_and_a_half_is_read_by_its_repeated_lines(tmp_path, faces, factor):
    # Blocks of 1-2 px hold too few equal neighbours inside textured stretches to read; whole repeated rows and
    # columns (a share 1 - 1/f of each) show the factor.
    for i, face in enumerate(faces):
        damage = _analyze(_save(degrade.pixelate(face, factor), tmp_path / f"up{i}.png"))
        assert damage.pixelation == pytest.approx(factor, abs=0.1) and damage.kind == "pixelation", (i, damage)
        assert damage.level == pytest.approx(levels.pixelation_level(damage.pixelation))


def test_clean_compressed_and_one_axis_stretched_photos_read_no_small_upscale(tmp_path, faces):
    for i, face in enumerate(faces):
        paths = [_save(face, tmp_path / f"clean{i}.png"), _save(face, tmp_path / f"w{i}.webp", quality=80)]
        paths += [_save(face, tmp_path / f"q{q}_{i}.jpg", quality=q) for q in (50, 75, 95)]
        # A photo stretched along one axis repeats columns but no rows: no nearest upscale of the whole photo.
        height, width = face.shape[:2]
        narrow = Image.fromarray(face).resize((width * 3 // 4, height), Image.Resampling.BOX)
        paths.append(_save(np.asarray(narrow.resize((width, height), Image.Resampling.NEAREST)),
                           tmp_path / f"stretched{i}.png"))
        for path in paths:
            assert _analyze(path).pixelation == 1.0, path.name


def test_natural_photos_read_no_small_upscale(tmp_path, shared_natural):
    # Fine texture (grass, fabric, hair) is where a photo's own neighbours are most often equal by chance. Only
    # the repeated-lines reading is asked about here: it reads factors below PIXELATION_MIN_FACTOR.
    for path in sorted(p for p in shared_natural.iterdir() if p.suffix.lower() in (".jpg", ".png")):
        with Image.open(path) as im:
            photo = np.asarray(im.convert("RGB"))[:512, :512].copy()
        for saved in (_save(photo, tmp_path / "n.png"), _save(photo, tmp_path / "n.jpg", quality=90)):
            assert not 1.0 < _analyze(saved).pixelation < PIXELATION_MIN_FACTOR, path.name


@pytest.mark.parametrize("quality", [None, 85, 95])
def test_a_smooth_or_upscaled_photo_is_not_read_as_pixelated(tmp_path, faces, quality):
    # Where a photo is smooth, 8-bit rounding alone makes equal neighbours (more so once a good JPEG flattens its
    # blocks); only runs of equal pixels between real steps are blocks.
    hopper = Image.fromarray(faces[1])
    smooth = hopper.filter(ImageFilter.GaussianBlur(4))
    upscaled = hopper.resize((hopper.width * 2, hopper.height * 2), Image.BICUBIC)
    options = {"quality": quality} if quality else {}
    suffix = ".jpg" if quality else ".png"
    for name, image in (("smooth", smooth), ("upscaled", upscaled)):
        damage = _analyze(_save(np.asarray(image), tmp_path / f"{name}{suffix}", **options))
        assert damage.pixelation == 1.0 and damage.kind == "jpeg", (name, damage)


def test_posterized_smooth_photo_is_not_read_as_pixelated(tmp_path, faces):
    """Posterizing a smooth photo leaves runs of equal pixels in every gradient, as an upscale would; with
    fewer than 128 intensities in use they are banding's, whatever level banding itself counts for."""
    smooth = np.asarray(Image.fromarray(faces[1]).filter(ImageFilter.GaussianBlur(2)))
    for n in (64, 96):
        damage = _analyze(_save(degrade.posterize(smooth, n), tmp_path / f"p{n}.png"))
        assert damage.effective_levels < 128 and damage.pixelation == 1.0
        assert damage.level == pytest.approx(damage.banding)


def test_levels_grow_with_damage_and_start_at_zero():
    assert levels.banding_level(256) == 0.0 and levels.pixelation_level(1) == 0.0 and levels.resample_level(1) == 0.0
    for level_of, params in ((levels.banding_level, (128, 64, 32, 24, 16, 12, 8, 4, 2)),
                             (levels.pixelation_level, (1.1, 1.5, 2, 3, 4, 8)),
                             (levels.resample_level, (1.1, 1.5, 2, 3, 4, 8))):
        found = [level_of(p) for p in params]
        assert found == sorted(found) and found[-1] > 0.9


def test_the_kind_is_the_damage_that_dominates_the_level(tmp_path, faces):
    """Compressed at quality 15 and then banded to 40 levels, a photo shows both, and the JPEG damage dominates;
    banded to 8 levels it is a banded photo."""
    for chain, kind in (("jpeg:15,posterize:40", "jpeg"), ("posterize:8", "banding")):
        damaged = degrade.parse_chain(chain).apply(faces[0], np.random.default_rng(0))
        damage = _analyze(_save(damaged, tmp_path / "damaged.png"))
        parts = damage.parts
        assert damage.kind == kind and parts[kind] == max(parts.values()) and parts["banding"] > 0.1
        assert damage.level == pytest.approx(levels.combine(parts.values()))


def test_level_orders_damage(tmp_path, faces):
    rgb = faces[0]
    worst = _analyze(_save(rgb, tmp_path / "q10.jpg", quality=10)).level
    middle = _analyze(_save(rgb, tmp_path / "q50.jpg", quality=50)).level
    clean = _analyze(ASTRONAUT).level
    assert worst > middle > clean


def test_to_json_is_plain_json(tmp_path, faces):
    data = _analyze(_save(faces[1], tmp_path / "j.jpg", quality=35)).to_json()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert data["jpeg_quality"] == 35 and data["jpeg_quality_source"] == "tables" and data["kind"] == "jpeg"
    assert 0.0 <= data["level"] <= 1.0


# -------------------------------------------------------------------------------------------------- CLI

def test_cli_analyze_json_and_bad_file(tmp_path, faces):
    folder = tmp_path / "photos"
    folder.mkdir()
    _save(faces[0], folder / "a.jpg", quality=25)
    _save(faces[1], folder / "b.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    result = CliRunner().invoke(cli, ["analyze", "--json", str(folder)])
    assert result.exit_code == 1
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(r["input"]).name for r in records] == ["a.jpg", "b.png"]
    assert records[0]["damage"]["jpeg_quality"] == 25
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and "broken.jpg" in errors[0]


def test_cli_analyze_table_and_missing_input(tmp_path, faces):
    path = _save(faces[0], tmp_path / "a.jpg", quality=60)
    result = CliRunner().invoke(cli, ["analyze", str(path)])
    assert result.exit_code == 0
    header, row = result.stdout.splitlines()
    assert header.split("\t")[:2] == ["input", "jpeg_quality"]
    assert row.split("\t")[:3] == [str(path), "60", "tables"]
    assert dict(zip(header.split("\t"), row.split("\t")))["kind"] == "jpeg"
    missing = CliRunner().invoke(cli, ["analyze", str(tmp_path / "nope.png")])
    assert missing.exit_code == 2 and "nope.png" in missing.stderr and missing.stdout == ""


def test_cli_analyze_prints_no_header_without_rows(tmp_path):
    (tmp_path / "empty").mkdir()
    empty = CliRunner().invoke(cli, ["analyze", str(tmp_path / "empty")])
    assert empty.exit_code == 0 and empty.stdout == ""  # as enhance: nothing to do is no usage error
    assert "no images found" in empty.stderr
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    bad = CliRunner().invoke(cli, ["analyze", str(tmp_path / "bad")])
    assert bad.exit_code == 1 and bad.stdout == "" and "broken.jpg" in bad.stderr


def test_cli_analyze_walks_past_a_looping_link(tmp_path, faces):
    folder = tmp_path / "photos"
    folder.mkdir()
    _save(faces[0], folder / "a.jpg", quality=30)
    os.symlink("x", folder / "y")
    os.symlink("y", folder / "x")
    result = CliRunner().invoke(cli, ["analyze", "--json", str(folder)])
    assert result.exit_code == 0, result.stderr
    assert [Path(json.loads(line)["input"]).name for line in result.stdout.splitlines()] == ["a.jpg"]


def test_cli_analyze_says_what_it_left_out_of_a_walk(tmp_path, faces):
    # Another run's outputs, linked into the folder walked, are left out as enhance leaves them: said on stderr.
    folder, done = tmp_path / "photos", tmp_path / "photos-restored"
    folder.mkdir()
    (done / "_facerestore_report").mkdir(parents=True)
    (done / "_facerestore_report" / ".summary.lock").touch()
    _save(faces[0], folder / "a.jpg", quality=30)
    _save(faces[1], done / "b.jpg", quality=30)
    os.symlink("../photos-restored", folder / "old")
    result = CliRunner().invoke(cli, ["analyze", "--json", str(folder)])
    assert result.exit_code == 0, result.stderr
    assert [Path(json.loads(line)["input"]).name for line in result.stdout.splitlines()] == ["a.jpg"]
    assert f"note: {folder / 'old'}: the output folder of another facerestore run" in result.stderr


def test_cli_analyze_reads_avif_and_notes_the_photos_it_does_not_read(tmp_path, faces):
    from PIL import features

    if not features.check("avif"):
        pytest.skip("this Pillow has no AVIF codec")
    folder = tmp_path / "photos"
    folder.mkdir()
    _save(faces[0], folder / "a.avif", quality=50)
    for name in ("IMG_1.HEIC", "IMG_1.xmp", "clip.mov"):
        (folder / name).write_bytes(b"not decoded")
    result = CliRunner().invoke(cli, ["analyze", "--json", str(folder)])
    assert result.exit_code == 0, result.stderr
    assert [Path(json.loads(line)["input"]).name for line in result.stdout.splitlines()] == ["a.avif"]
    assert result.stderr.splitlines() == ["note: 1 file in formats facerestore does not read was left alone: 1 .heic"]


def test_cli_analyze_json_from_the_environment(tmp_path, faces):
    path = _save(faces[0], tmp_path / "a.jpg", quality=40)
    result = CliRunner().invoke(cli, ["analyze", str(path)], env={"FACERESTORE_ANALYZE_JSON": "1"})
    assert result.exit_code == 0 and json.loads(result.stdout)["damage"]["jpeg_quality"] == 40


def test_cli_analyze_files_from(tmp_path, faces):
    a = _save(faces[0], tmp_path / "a.jpg", quality=45)
    listing = tmp_path / "list"
    listing.write_bytes(os.fsencode(a) + b"\0")
    result = CliRunner().invoke(cli, ["analyze", "--json", "--files-from", str(listing), "-0"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["damage"]["jpeg_quality"] == 45


def test_cli_analyze_lists_each_file_once_however_often_it_is_named(tmp_path, faces, monkeypatch):
    # `analyze photos photos/sub`, a file named twice or listed twice gave the same row (and error) repeatedly.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photos" / "sub").mkdir(parents=True)
    _save(faces[0], tmp_path / "photos" / "a.jpg", quality=30)
    _save(faces[1], tmp_path / "photos" / "sub" / "b.jpg", quality=50)
    os.mkfifo(tmp_path / "photos" / "pipe.jpg")
    (tmp_path / "list").write_text("photos/a.jpg\n./photos/a.jpg\n\nphotos/sub/b.jpg\n")
    result = CliRunner().invoke(cli, ["analyze", "photos/pipe.jpg", "photos", "./photos/", "photos/sub",
                                      "photos/a.jpg", "--files-from", "list"])
    assert result.exit_code == 1
    assert [row.split("\t")[0] for row in result.stdout.splitlines()] == ["input", "photos/a.jpg",
                                                                          "photos/sub/b.jpg"]
    assert result.stderr.splitlines() == ["error: photos/pipe.jpg: not a regular file (FIFO)"]
