"""imageio: decoding by content with limits, orientation, modes and bit depth; atomic writes with metadata."""

from __future__ import annotations

import errno
import io
import os
import re
import struct
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageCms, ImageOps, PngImagePlugin

from facerestore.errors import ImageError, OutputError, UnreadFormatError
from facerestore.formats import output_format
from facerestore.imageio import LoadedImage, read_image, sniff_format, write_image

ORIENTATION = 0x0112


def _gradient_rgb(width: int = 40, height: int = 24) -> np.ndarray:
    """An asymmetric colour image: every orientation gives a different array."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x * y) % 256],
                    axis=2).astype(np.uint8)


def _save(path: Path, im: Image.Image, fmt: str | None = None, **options) -> Path:
    im.save(path, format=fmt, **options)
    return path


def _exif_with_orientation(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "TestMaker"  # Make: proves other tags survive
    return exif


def _written_exif(path: Path) -> Image.Exif:
    with Image.open(path) as im:
        return im.getexif()


# ------------------------------------------------------------------------------------------------ orientation

@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied_and_reset(tmp_path, orientation):
    rgb = _gradient_rgb()
    src = _save(tmp_path / "o.jpg", Image.fromarray(rgb), "JPEG", quality=98,
                exif=_exif_with_orientation(orientation))
    with Image.open(src) as im:
        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))

    loaded = read_image(src)

    assert loaded.format == "JPEG"
    assert (loaded.height, loaded.width) == expected.shape[:2]
    if orientation in (6, 8):
        assert (loaded.height, loaded.width) == (40, 24)  # portrait after a quarter turn
    np.testing.assert_array_equal(np.rint(loaded.pixels * 255).astype(np.uint8), expected)
    out = tmp_path / "out.jpg"
    write_image(out, loaded.pixels, loaded)
    exif = _written_exif(out)
    assert exif[ORIENTATION] == 1
    assert exif[0x010F] == "TestMaker"
    with Image.open(out) as im:
        assert im.size == (loaded.width, loaded.height)
        # the written pixels are the transposed ones: a viewer ignoring EXIF sees the right way up
        got = np.asarray(im.convert("RGB")).astype(int)
    assert np.abs(got - expected.astype(int)).mean() < 3


def test_orientation_matches_pillow_for_all_eight(tmp_path):
    rgb = _gradient_rgb(9, 5)
    for orientation in range(1, 9):
        src = _save(tmp_path / f"{orientation}.png", Image.fromarray(rgb), "PNG",
                    exif=_exif_with_orientation(orientation))
        with Image.open(src) as im:
            expected = np.asarray(ImageOps.exif_transpose(im))
        loaded = read_image(src)
        np.testing.assert_array_equal(np.rint(loaded.pixels * 255).astype(np.uint8), expected)


# ---------------------------------------------------------------------------------------- modes and bit depth

def test_16bit_png_round_trip_keeps_16_bits(tmp_path):
    values = (np.arange(32 * 48, dtype=np.uint32).reshape(32, 48) * 41 % 65536).astype(np.uint16)
    src = _save(tmp_path / "deep.png", Image.fromarray(values), "PNG")
    loaded = read_image(src)
    assert loaded.bit_depth == 16 and loaded.pixels.shape == (32, 48, 1)
    out = tmp_path / "out" / "deep.png"
    write_image(out, loaded.pixels, loaded)
    with Image.open(out) as im:
        assert im.mode.startswith("I")
        np.testing.assert_array_equal(np.asarray(im).astype(np.uint16), values)


def test_16bit_tiff_round_trip(tmp_path):
    values = np.linspace(0, 65535, 20 * 30).reshape(20, 30).astype(np.uint16)
    src = _save(tmp_path / "scan.tif", Image.fromarray(values), "TIFF")
    loaded = read_image(src)
    out = tmp_path / "scan-out.tif"
    write_image(out, loaded.pixels, loaded)
    with Image.open(out) as im:
        np.testing.assert_array_equal(np.asarray(im).astype(np.uint16), values)


def test_rgba_alpha_passes_through_byte_identical(tmp_path):
    rgb = _gradient_rgb()
    alpha = ((np.arange(rgb.shape[0] * rgb.shape[1]) * 7) % 256).astype(np.uint8).reshape(rgb.shape[:2])
    src = _save(tmp_path / "a.png", Image.fromarray(np.dstack([rgb, alpha]), "RGBA"), "PNG")
    loaded = read_image(src)
    assert loaded.pixels.shape[2] == 3
    np.testing.assert_array_equal(loaded.alpha, alpha)
    # Even when the colour changes, the alpha written back is the original.
    out = tmp_path / "b.png"
    write_image(out, 1.0 - loaded.pixels, loaded)
    with Image.open(out) as im:
        assert im.mode == "RGBA"
        np.testing.assert_array_equal(np.asarray(im)[..., 3], alpha)


def test_grayscale_stays_grayscale(tmp_path, hopper_path):
    with Image.open(hopper_path) as im:
        gray = im.convert("L")
    src = _save(tmp_path / "g.jpg", gray, "JPEG", quality=95)
    loaded = read_image(src)
    assert loaded.pixels.shape[2] == 1 and loaded.mode == "L"
    for name in ("g-out.jpg", "g-out.png", "g-out.tif"):
        write_image(tmp_path / name, loaded.pixels, loaded)
        with Image.open(tmp_path / name) as im:
            assert im.mode == "L"


def test_la_keeps_gray_and_alpha(tmp_path):
    la = np.dstack([np.full((6, 5), 90, np.uint8), np.arange(30, dtype=np.uint8).reshape(6, 5) * 8])
    src = _save(tmp_path / "la.png", Image.fromarray(la, "LA"), "PNG")
    loaded = read_image(src)
    assert loaded.pixels.shape == (6, 5, 1)
    write_image(tmp_path / "la-out.png", loaded.pixels, loaded)
    with Image.open(tmp_path / "la-out.png") as im:
        assert im.mode == "LA"
        np.testing.assert_array_equal(np.asarray(im), la)


def _bmp_with_alpha(path: Path, bgra: np.ndarray) -> Path:
    """A 32-bit BMP declaring its alpha (BITMAPV5HEADER, BI_BITFIELDS), as GIMP and Windows write them."""
    height, width = bgra.shape[:2]
    pixels = bgra[::-1].tobytes()
    info = struct.pack("<IiiHHIIiiII4I", 124, width, height, 1, 32, 3, len(pixels), 2835, 2835, 0, 0,
                       0x00FF0000, 0x0000FF00, 0x000000FF, 0xFF000000).ljust(124, b"\0")
    path.write_bytes(b"BM" + struct.pack("<IHHI", 14 + 124 + len(pixels), 0, 0, 14 + 124) + info + pixels)
    return path


def test_a_bmp_keeps_its_alpha(tmp_path):
    """Pillow writes RGBA into a plain BMP header whose fourth byte readers take for padding: the restored BMP
    of a transparent BMP (or of a gray one with alpha) was opaque to every reader."""
    rgb = _gradient_rgb()
    alpha = ((np.arange(rgb.shape[0] * rgb.shape[1]) * 7) % 256).astype(np.uint8).reshape(rgb.shape[:2])
    src = _bmp_with_alpha(tmp_path / "a.bmp", np.dstack([rgb[..., ::-1], alpha]))
    loaded = read_image(src)
    np.testing.assert_array_equal(loaded.alpha, alpha)
    write_image(tmp_path / "out.bmp", 1.0 - loaded.pixels, loaded)
    with Image.open(tmp_path / "out.bmp") as im:
        assert (im.format, im.mode) == ("BMP", "RGBA")
        np.testing.assert_array_equal(np.asarray(im)[..., 3], alpha)
        np.testing.assert_array_equal(np.asarray(im)[..., :3], 255 - rgb)
        assert im.info["dpi"] == pytest.approx((72, 72), abs=0.1)

    la = np.dstack([np.full((6, 5), 90, np.uint8), np.arange(30, dtype=np.uint8).reshape(6, 5) * 8])
    loaded = read_image(_save(tmp_path / "la.png", Image.fromarray(la, "LA"), "PNG"))
    notes = write_image(tmp_path / "la.bmp", loaded.pixels, loaded)
    assert notes == ("grayscale image with alpha: written as RGBA (BMP has no grayscale with alpha)",)
    with Image.open(tmp_path / "la.bmp") as im:
        assert im.mode == "RGBA"
        np.testing.assert_array_equal(np.asarray(im.convert("LA")), la)


def test_palette_with_transparency_gets_alpha(tmp_path):
    im = Image.new("P", (8, 6), 1)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * (254 * 3))
    im.paste(0, (0, 0, 4, 6))
    src = _save(tmp_path / "p.png", im, "PNG", transparency=0)
    loaded = read_image(src)
    assert loaded.alpha is not None
    assert loaded.alpha[:, :4].max() == 0 and loaded.alpha[:, 4:].min() == 255
    np.testing.assert_allclose(loaded.pixels[0, 5], [1.0, 0.0, 0.0])


def test_a_colour_key_is_transparency_kept(tmp_path):
    """A PNG's tRNS chunk in an RGB or gray file names one colour transparent (old web graphics, conversions from
    GIF): it was ignored, and the restored file came back opaque, with no note."""
    rgb = _gradient_rgb()
    rgb[:6, :6] = (0, 255, 0)
    gray = rgb[..., 1].copy()
    gray16 = gray.astype(np.uint16) * 257
    for name, array, key in (("rgb.png", rgb, (0, 255, 0)), ("gray.png", gray, 255), ("gray16.png", gray16, 65535)):
        src = _save(tmp_path / name, Image.fromarray(array), "PNG", transparency=key)
        expected = np.where(np.all(array.reshape(*array.shape[:2], -1) == key, axis=2), 0, 255)
        loaded = read_image(src)
        assert loaded.alpha is not None, name
        write_image(tmp_path / f"out-{name}", loaded.pixels, loaded)
        with Image.open(tmp_path / f"out-{name}") as im:
            assert im.mode == ("RGBA" if array.ndim == 3 else "LA"), name
            np.testing.assert_array_equal(np.asarray(im)[..., -1], expected)
            np.testing.assert_array_equal(np.asarray(im)[..., 0], rgb[..., 0] if array.ndim == 3 else gray)


def test_a_colour_key_no_pixel_has_adds_no_alpha(tmp_path):
    """Writers put a tRNS key in files with no pixel of that colour; such a file is opaque, and its output stays so
    (it came back RGBA, and as a JPEG with a note about a dropped alpha channel)."""
    rgb = _gradient_rgb()
    rgb[np.all(rgb == (1, 2, 3), axis=2)] = (0, 0, 0)
    for name, image, key in (("rgb.png", Image.fromarray(rgb), (1, 2, 3)),
                             ("gray16.png", Image.fromarray(rgb[..., 1].astype(np.uint16) * 257), 1)):
        loaded = read_image(_save(tmp_path / name, image, "PNG", transparency=key))
        assert loaded.alpha is None, name
        notes = write_image(tmp_path / f"out-{name}.jpg", loaded.pixels, loaded, fmt="jpeg")
        assert not any("alpha" in note for note in notes), (name, notes)


def test_the_colour_key_of_a_16_bit_colour_png_is_dropped_with_a_note(tmp_path):
    """Pillow decodes 16-bit colour to 8 bits but keeps the key in 16-bit values: compared with the 8-bit pixels it
    matched none (the key silently lost) or, below 256, made unrelated pixels transparent."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    values = (np.arange(8 * 8 * 3, dtype=np.uint16).reshape(8, 8, 3) * 97) % 512  # 16-bit values, some below 256
    rows = b"".join(b"\x00" + values[y].astype(">u2").tobytes() for y in range(8))
    key = tuple(int(v) for v in values[0, 0] >> 8 << 8 | 3)  # no pixel has it, its high bytes are the first pixel's
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 16, 2, 0, 0, 0))
           + chunk(b"tRNS", struct.pack(">HHH", *key)) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    (tmp_path / "rgb16.png").write_bytes(png)
    loaded = read_image(tmp_path / "rgb16.png")
    assert loaded.alpha is None and any("colour key" in note for note in loaded.notes), loaded.notes


def test_cmyk_jpeg_becomes_rgb_with_a_note(tmp_path, hopper_path):
    with Image.open(hopper_path) as im:
        cmyk = im.convert("CMYK").resize((64, 75))
    src = _save(tmp_path / "c.jpg", cmyk, "JPEG", quality=95)
    loaded = read_image(src)
    assert loaded.mode == "CMYK" and loaded.pixels.shape == (75, 64, 3)
    assert any("CMYK" in note for note in loaded.notes)
    expected = np.asarray(cmyk.convert("RGB"), dtype=np.float32) / 255
    assert np.abs(loaded.pixels - expected).mean() < 0.05


def test_one_bit_and_float_tiff(tmp_path):
    bits = Image.fromarray(np.eye(8, dtype=bool))
    loaded = read_image(_save(tmp_path / "b.png", bits, "PNG"))
    assert loaded.pixels.shape == (8, 8, 1) and loaded.pixels[0, 0, 0] == 1.0 and loaded.pixels[0, 1, 0] == 0.0

    values = np.linspace(0.0, 1000.0, 12, dtype=np.float32).reshape(3, 4)
    loaded = read_image(_save(tmp_path / "f.tif", Image.fromarray(values, "F"), "TIFF"))
    assert loaded.mode == "F" and loaded.bit_depth == 16 and loaded.notes
    assert loaded.pixels.min() >= 0.0 and loaded.pixels.max() <= 1.0
    assert np.all(np.diff(loaded.pixels.ravel()) > 0)  # order of values kept


def test_animated_gif_uses_first_frame(tmp_path):
    frames = [Image.new("RGB", (10, 8), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    src = tmp_path / "anim.gif"
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=50, loop=0)
    loaded = read_image(src)
    assert any("3 frames" in note and "first frame" in note for note in loaded.notes)
    np.testing.assert_allclose(loaded.pixels[4, 4], [1.0, 0.0, 0.0], atol=0.01)


def test_a_phones_mpo_is_read_as_the_jpeg_it_is(tmp_path, astronaut_path):
    """Phones and cameras append previews or depth maps to a JPEG as MPO frames: the first frame, its tables and
    its bytes are the photo."""
    with Image.open(astronaut_path) as im:
        photo = im.convert("RGB").crop((100, 20, 300, 220))
    path = tmp_path / "phone.jpg"
    photo.save(path, format="MPO", save_all=True, append_images=[photo.resize((40, 40))], quality=60)
    with Image.open(path) as im:
        assert im.format == "MPO"
    loaded = read_image(path)
    assert loaded.format == "JPEG" and loaded.jpeg is not None and loaded.jpeg.subsampling == "4:2:0"
    assert loaded.pixels.shape == (200, 200, 3) and any("2 frames" in n for n in loaded.notes)


def test_multipage_tiff_uses_first_page(tmp_path):
    pages = [Image.new("L", (6, 6), v) for v in (10, 200)]
    src = tmp_path / "pages.tif"
    pages[0].save(src, save_all=True, append_images=pages[1:])
    loaded = read_image(src)
    assert any("2 frames" in note for note in loaded.notes)
    assert np.allclose(loaded.pixels, 10 / 255)


def test_decodes_by_content_not_extension(tmp_path, astronaut_path):
    disguised = tmp_path / "really_png.jpg"
    disguised.write_bytes(astronaut_path.read_bytes())
    loaded = read_image(disguised)
    assert loaded.format == "PNG" and loaded.pixels.shape == (512, 512, 3)


def test_real_photos_load(hopper_path, astronaut_path):
    hopper = read_image(hopper_path)
    assert hopper.format == "JPEG" and hopper.pixels.shape == (600, 512, 3)
    assert hopper.pixels.dtype == np.float32 and 0.0 <= hopper.pixels.min() and hopper.pixels.max() <= 1.0
    assert read_image(astronaut_path).bit_depth == 8


# ------------------------------------------------------------------------------------------------ rejections

def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_truncated_jpeg_and_png_are_refused(tmp_path, hopper_path, astronaut_path):
    for name, source in (("t.jpg", hopper_path), ("t.png", astronaut_path)):
        data = source.read_bytes()
        (tmp_path / name).write_bytes(data[: len(data) // 2])
        with pytest.raises(ImageError, match="cannot decode"):
            read_image(tmp_path / name)


def _jpeg_bytes(source: Path, **options) -> bytes:
    buffer = io.BytesIO()
    with Image.open(source) as im:
        im.convert("RGB").save(buffer, "JPEG", **options)
    return buffer.getvalue()


@pytest.mark.parametrize("quality, subsampling, thumbnail", [(90, 1, False), (95, 0, False), (30, 2, True)])
def test_a_jpeg_missing_only_its_end_marker_reads_whole(tmp_path, astronaut_path, quality, subsampling, thumbnail):
    # A thumbnail is a second JPEG, with a scan of its own, inside the APP1 segment before the photo's scan.
    exif = b"Exif\0\0" + _jpeg_bytes(astronaut_path, quality=50) if thumbnail else b""
    data = _jpeg_bytes(astronaut_path, quality=quality, subsampling=subsampling, exif=exif)
    assert data.endswith(b"\xff\xd9")
    (tmp_path / "whole.jpg").write_bytes(data)
    (tmp_path / "open.jpg").write_bytes(data[:-2])
    with pytest.raises(OSError, match="truncated"), Image.open(tmp_path / "open.jpg") as im:
        im.load()  # Pillow alone refuses it
    whole, unterminated = read_image(tmp_path / "whole.jpg"), read_image(tmp_path / "open.jpg")
    np.testing.assert_array_equal(unterminated.pixels, whole.pixels)
    assert unterminated.jpeg == whole.jpeg
    assert any("end marker" in note for note in unterminated.notes) and not whole.notes


@pytest.mark.parametrize("cut", [40, 400])
def test_a_jpeg_cut_inside_its_scan_is_refused_even_without_its_end_marker(tmp_path, astronaut_path, cut):
    data = _jpeg_bytes(astronaut_path, quality=60)
    (tmp_path / "cut.jpg").write_bytes(data[:-cut])
    with pytest.raises(ImageError, match="truncated"):
        read_image(tmp_path / "cut.jpg")


def test_a_progressive_jpeg_without_its_end_marker_is_refused(tmp_path, astronaut_path):
    # Cut between two scans, a progressive file decodes without error at a lower quality: never provably whole.
    data = _jpeg_bytes(astronaut_path, quality=60, progressive=True)
    (tmp_path / "p.jpg").write_bytes(data[:-2])
    with pytest.raises(ImageError, match="cannot decode"):
        read_image(tmp_path / "p.jpg")


def test_bad_png_crc_is_refused(tmp_path, astronaut_path):
    data = bytearray(astronaut_path.read_bytes())
    data[29] ^= 0xFF  # inside the IHDR CRC
    (tmp_path / "crc.png").write_bytes(bytes(data))
    with pytest.raises(ImageError):
        read_image(tmp_path / "crc.png")


@pytest.mark.parametrize("content", [b"", b"hello, this is not an image\n", b"\xff\xd8\xff"])
def test_empty_and_fake_files_are_refused(tmp_path, content):
    path = tmp_path / "fake.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageError) as info:
        read_image(path)
    assert "\n" not in str(info.value)


def _flat_lossless_jpeg(width: int, height: int, precision: int) -> bytes:
    """A real lossless JPEG (SOF3, predictor 1) of one gray plane at mid-gray: every difference from its
    prediction is 0, coded by a one-symbol Huffman table as a single 0 bit."""
    def segment(marker: int, data: bytes) -> bytes:
        return bytes((0xFF, marker)) + struct.pack(">H", len(data) + 2) + data

    scan = bytearray((width * height + 7) // 8)
    if width * height % 8:
        scan[-1] = (1 << (8 - width * height % 8)) - 1  # padded with 1 bits
    return (b"\xff\xd8" + segment(0xC4, bytes([0, 1]) + bytes(15) + bytes([0]))
            + segment(0xC3, struct.pack(">BHHB", precision, height, width, 1) + bytes([1, 0x11, 0]))
            + segment(0xDA, bytes([1, 1, 0x00, 1, 0, 0])) + bytes(scan) + b"\xff\xd9")


def _float_rgb_tiff(rgb: np.ndarray) -> bytes:
    """An uncompressed one-strip TIFF of 32-bit float RGB, as HDR merges and scientific tools write them."""
    height, width = rgb.shape[:2]
    data = rgb.astype("<f4").tobytes()
    # tag, type (3 SHORT, 4 LONG), count, value; BitsPerSample and SampleFormat (3 values) stored after the IFD
    tags = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 3, None), (259, 3, 1, 1), (262, 3, 1, 2),
            (273, 4, 1, None), (277, 3, 1, 3), (278, 4, 1, height), (279, 4, 1, len(data)), (339, 3, 3, None)]
    arrays = 8 + 2 + 12 * len(tags) + 4
    offsets = {258: arrays, 339: arrays + 6, 273: arrays + 12}
    ifd = struct.pack("<H", len(tags))
    for tag, kind, count, value in tags:
        value = offsets[tag] if value is None else value
        ifd += struct.pack("<HHI", tag, kind, count) + struct.pack("<I" if kind == 4 else "<Hxx", value)
    return b"II*\0" + struct.pack("<I", 8) + ifd + bytes(4) + struct.pack("<6H", 32, 32, 32, 3, 3, 3) + data


def _uint32_gray_tiff(values: np.ndarray) -> bytes:
    """An uncompressed one-strip TIFF of 32-bit unsigned gray (SampleFormat 1), as scientific cameras write."""
    height, width = values.shape
    data = values.astype("<u4").tobytes()
    tags = [(256, 4, width), (257, 4, height), (258, 3, 32), (259, 3, 1), (262, 3, 1), (273, 4, 8 + 2 + 12 * 10 + 4),
            (277, 3, 1), (278, 4, height), (279, 4, len(data)), (339, 3, 1)]  # tag, type (3 SHORT, 4 LONG), value
    ifd = struct.pack("<H", len(tags)) + b"".join(
        struct.pack("<HHI", tag, kind, 1) + struct.pack("<I" if kind == 4 else "<Hxx", value)
        for tag, kind, value in tags)
    return b"II*\0" + struct.pack("<I", 8) + ifd + bytes(4) + data


def test_an_unsigned_32bit_tiff_keeps_the_order_of_its_values(tmp_path):
    """Pillow decodes a 32-bit unsigned TIFF as signed ("I;32N"): every value from 2**31 up came out negative,
    so the bright half of the picture was stretched below the dark half and restored as a negative of itself."""
    values = np.linspace(0, 2**32 - 1, 12 * 10, dtype=np.float64).astype(np.uint32).reshape(10, 12)
    (tmp_path / "u32.tif").write_bytes(_uint32_gray_tiff(values))
    loaded = read_image(tmp_path / "u32.tif")
    assert loaded.bit_depth == 16 and any("0..4294967295 stretched" in note for note in loaded.notes)
    np.testing.assert_allclose(loaded.pixels[..., 0], values / (2**32 - 1), atol=1e-6)


def test_a_variant_pillow_cannot_decode_is_named_not_called_damaged(tmp_path):
    """A 12-bit JPEG or a float RGB TIFF is a sound file Pillow has no decoder for; it was refused as
    "damaged JPEG file: its header cannot be read", sending the user after a fault the file does not have."""
    (tmp_path / "8.jpg").write_bytes(_flat_lossless_jpeg(24, 16, 8))
    np.testing.assert_allclose(read_image(tmp_path / "8.jpg").pixels, 128 / 255, rtol=1e-6)  # a sound file
    (tmp_path / "12.jpg").write_bytes(_flat_lossless_jpeg(24, 16, 12))
    with pytest.raises(ImageError, match=r"^12-bit JPEG: not supported \(only 8-bit JPEGs can be decoded\)$"):
        read_image(tmp_path / "12.jpg")

    rgb = _gradient_rgb() / 255.0
    (tmp_path / "f.tif").write_bytes(_float_rgb_tiff(rgb))
    with pytest.raises(ImageError, match=r"^TIFF of 3 samples of 32-bit float per pixel: a pixel layout"):
        read_image(tmp_path / "f.tif")
    (tmp_path / "8.tif").write_bytes(_float_rgb_tiff(rgb).replace(struct.pack("<6H", 32, 32, 32, 3, 3, 3),
                                                                  struct.pack("<6H", 8, 8, 8, 1, 1, 1)))
    assert read_image(tmp_path / "8.tif").pixels.shape == (24, 40, 3)  # the same TIFF in 8 bits reads

    # A header that is damaged still says so.
    (tmp_path / "d.jpg").write_bytes(_flat_lossless_jpeg(24, 16, 8).replace(b"\xff\xc3", b"\xff\x00"))
    with pytest.raises(ImageError, match="damaged JPEG file"):
        read_image(tmp_path / "d.jpg")


def test_disallowed_format_is_refused(tmp_path):
    Image.new("RGB", (4, 4)).save(tmp_path / "x.jpg", format="PPM")
    with pytest.raises(ImageError, match="not a supported image"):
        read_image(tmp_path / "x.jpg")


def _jpeg2000(**params) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 120, 90)).save(out, "JPEG2000", **params)
    return out.getvalue()


# An iPhone photo's first box (major brand heic; compatible mif1, heic), a Canon CR3's (crx).
HEIC_START = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic\0\0\x01\x0cmeta" + bytes(40)
CR3_START = b"\0\0\0\x18ftypcrx \0\0\0\x01crx isom\0\0\x6b\x68moov" + bytes(40)


@pytest.mark.parametrize("name, data, family", [
    ("IMG_0001.jpg", HEIC_START, "HEIC/HEIF"),
    ("scan.jpg", _jpeg2000(), "JPEG 2000"),
    ("scan.png", _jpeg2000(no_jp2=True), "JPEG 2000"),
    ("render.jpg", b"\xff\x0a\xfa\x1f" + bytes(40), "JPEG XL"),
    ("render.webp", b"\0\0\0\x0cJXL \r\n\x87\n" + bytes(40), "JPEG XL"),
    ("IMG_0002.jpg", CR3_START, "camera raw"),
])
def test_a_photo_in_a_format_not_read_is_said_as_what_it_is_whatever_its_name(tmp_path, name, data, family):
    # A phone's HEIC copied out as .jpg was "not a supported image (JPEG, PNG...)", as if it were no photo.
    path = tmp_path / name
    path.write_bytes(data)
    for read in (read_image, sniff_format):
        with pytest.raises(UnreadFormatError) as refused:
            read(path)
        assert str(refused.value) == (f"{family} photo: a format facerestore does not read (convert it to JPEG, PNG "
                                      "or TIFF first)")
    assert path.read_bytes() == data


def test_decompression_bomb_refused_from_the_header(tmp_path):
    # A tiny PNG whose header declares 100000 x 100000 pixels; decoding would need 30 GB.
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) \
        + _png_chunk(b"IEND", b"")
    (tmp_path / "bomb.png").write_bytes(data)
    with pytest.raises(ImageError, match="too many pixels"):
        read_image(tmp_path / "bomb.png")


def test_pixel_limit_is_an_option(tmp_path, astronaut_path):
    with pytest.raises(ImageError, match="too many pixels: 512x512"):
        read_image(astronaut_path, max_pixels=512 * 511)
    assert read_image(astronaut_path, max_pixels=512 * 512).width == 512


def test_pixel_limit_message_tells_the_counts_apart(astronaut_path):
    with pytest.raises(ImageError, match=r"512x512 = 262,144 pixels, over the limit of 100 pixels"):
        read_image(astronaut_path, max_pixels=100)  # not "0.0 megapixels, over the limit of 0.0"
    with pytest.raises(ImageError, match=r"= 262,144 pixels, over the limit of 261,632 pixels"):
        read_image(astronaut_path, max_pixels=512 * 511)  # both 0.3 megapixels: exact counts instead
    with pytest.raises(ImageError, match=r"= 0\.3 megapixels, over the limit of 0\.2 megapixels"):
        read_image(astronaut_path, max_pixels=200_000)


def test_fifo_is_never_opened(tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []
    worker = threading.Thread(target=lambda: _capture(outcome, fifo), daemon=True)
    worker.start()
    worker.join(timeout=20)
    if worker.is_alive():  # opening the FIFO would block forever: unblock it and fail
        with open(fifo, "wb"):
            pass
        pytest.fail("read_image blocked on a FIFO")
    assert isinstance(outcome[0], ImageError) and "not a regular file" in str(outcome[0])


def _capture(outcome: list[BaseException], path: Path) -> None:
    try:
        read_image(path)
    except BaseException as exc:  # noqa: BLE001 - the test inspects it
        outcome.append(exc)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageError, match="cannot read"):
        read_image(tmp_path / "nope.jpg")
    (tmp_path / "photo.jpg").mkdir()
    with pytest.raises(ImageError, match="not a regular file"):
        read_image(tmp_path / "photo.jpg")


# ------------------------------------------------------------------------------------------------- metadata

def _exif_with_thumbnail(make: str, thumbnail_jpeg: bytes) -> bytes:
    """A camera-style APP1 block: IFD0 (Make) chained to IFD1, which points at an embedded JPEG preview.
    Built by hand because Pillow writes no IFD1; ``make`` must be over 3 characters (shorter values sit inside
    their entry, not at an offset)."""
    make_bytes = make.encode() + b"\0"
    ifd0 = 8
    ifd1 = ifd0 + 2 + 12 + 4
    make_at = ifd1 + 2 + 2 * 12 + 4
    thumb_at = make_at + len(make_bytes)
    tiff = b"II*\0" + struct.pack("<I", ifd0)
    tiff += struct.pack("<H", 1) + struct.pack("<HHII", 0x010F, 2, len(make_bytes), make_at) + struct.pack("<I", ifd1)
    tiff += struct.pack("<H", 2) + struct.pack("<HHII", 0x0201, 4, 1, thumb_at)
    tiff += struct.pack("<HHII", 0x0202, 4, 1, len(thumbnail_jpeg)) + struct.pack("<I", 0)
    return b"Exif\0\0" + tiff + make_bytes + thumbnail_jpeg


def test_the_stale_exif_preview_is_not_carried_to_the_output(tmp_path, hopper_path):
    """A viewer showing the EXIF preview of a restored photo must not show the damaged original."""
    import io

    with Image.open(hopper_path) as im:
        photo = im.convert("RGB").resize((160, 188))
    buf = io.BytesIO()
    photo.resize((80, 94)).save(buf, "JPEG", quality=10)
    thumbnail = buf.getvalue()
    src = _save(tmp_path / "camera.jpg", photo, "JPEG", quality=15, exif=_exif_with_thumbnail("TestCamera", thumbnail))
    with Image.open(src) as im:
        preview = im.getexif().get_ifd(ExifTags.IFD.IFD1)  # the source really has a preview, as Pillow reads it
        assert preview[0x0202] == len(thumbnail) and thumbnail in im.info["exif"]

    loaded = read_image(src)
    out = tmp_path / "out.jpg"
    write_image(out, loaded.pixels, loaded)
    with Image.open(out) as im:
        assert im.getexif()[0x010F] == "TestCamera"  # the descriptive tags travel ...
        assert thumbnail not in im.info.get("exif", b"")  # ... the preview of the damaged pixels does not
        assert b"\xff\xd8" not in im.info.get("exif", b"")


def test_icc_dpi_and_mtime_carried_over(tmp_path, hopper_path):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()  # any non-sRGB profile
    with Image.open(hopper_path) as im:
        src = _save(tmp_path / "h.jpg", im.resize((128, 150)), "JPEG", quality=90, icc_profile=icc,
                    dpi=(300, 300))
    loaded = read_image(src)
    assert loaded.icc_profile == icc and loaded.dpi == (300.0, 300.0)
    mtime = 1_234_567_890.0
    for fmt, suffix in (("jpeg", ".jpg"), ("png", ".png"), ("tiff", ".tif"), ("webp", ".webp")):
        out = tmp_path / f"out{suffix}"
        write_image(out, loaded.pixels, loaded, fmt=fmt, mtime=mtime)
        assert os.stat(out).st_mtime == mtime
        with Image.open(out) as im:
            assert im.format == output_format(fmt).pillow
            assert im.info.get("icc_profile") == icc
            if fmt != "webp":
                assert tuple(round(v) for v in im.info["dpi"]) == (300, 300)


def _gray_profile() -> bytes:
    """An ICC v2 gray display profile (a gamma 2.2 curve, D50 white), as scanners embed in gray scans."""
    def xyz(x: float, y: float, z: float) -> bytes:
        return struct.pack(">3i", *(round(v * 65536) for v in (x, y, z)))

    desc = b"desc" + bytes(4) + struct.pack(">I", 9) + b"Gray 2.2\0" + bytes(79)
    tags = [(b"wtpt", b"XYZ " + bytes(4) + xyz(0.9642, 1.0, 0.8249)),
            (b"kTRC", b"curv" + bytes(4) + struct.pack(">IH", 1, 0x0233) + bytes(2)),
            (b"desc", desc + bytes(-len(desc) % 4))]
    table, body, offset = struct.pack(">I", len(tags)), b"", 128 + 4 + 12 * len(tags)
    for signature, data in tags:
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    header = (struct.pack(">I4sI4s4s4s", 128 + len(table) + len(body), b"lcms", 0x02100000, b"mntr", b"GRAY",
                          b"XYZ ") + bytes(12) + b"acsp" + bytes(28) + xyz(0.9642, 1.0, 0.8249)).ljust(128, b"\0")
    return header + table + body


def test_a_gray_profile_is_not_put_on_rgb_pixels(tmp_path, hopper_path):
    """WebP has no gray: a gray scan written as WebP is RGB, and it carried the scan's gray ICC profile, a pair
    colour-managed readers refuse (lcms cannot build the transform). Formats that keep gray keep the profile."""
    profile = _gray_profile()
    with Image.open(hopper_path) as im:
        src = _save(tmp_path / "scan.jpg", im.convert("L").resize((64, 72)), "JPEG", quality=40,
                    icc_profile=profile)
    loaded = read_image(src)
    assert loaded.icc_profile == profile
    srgb = ImageCms.createProfile("sRGB")
    for fmt, suffix in (("webp", ".webp"), ("png", ".png"), ("jpeg", ".jpg"), ("tiff", ".tif")):
        out = tmp_path / f"out{suffix}"
        notes = write_image(out, loaded.pixels, loaded, fmt=fmt)
        notes = tuple(note for note in notes if "comment" not in note)  # hopper.jpg's, which PNG alone keeps
        with Image.open(out) as im:
            if fmt == "webp":
                assert im.mode == "RGB" and "icc_profile" not in im.info
                assert notes == ("grayscale image: written as RGB (WebP has no grayscale)",
                                 "gray ICC profile dropped: WebP stores gray pixels as RGB, which it cannot describe")
            else:
                assert notes == ()
                assert im.mode == "L" and im.info["icc_profile"] == profile
                ImageCms.profileToProfile(im, ImageCms.ImageCmsProfile(io.BytesIO(profile)), srgb,
                                          outputMode="RGB")  # a pair lcms takes


def test_a_gray_photo_written_as_webp_says_it_became_colour(tmp_path, hopper_path):
    """WebP has no gray: Pillow wrote a gray scan as RGB (and gray with alpha as RGBA) without a word, where every
    other change of mode an output makes is named."""
    with Image.open(hopper_path) as im:
        gray = im.convert("L").resize((64, 72))
    gray.info.clear()  # hopper.jpg's comment: a WebP output would name its drop
    alpha = Image.fromarray((np.arange(64 * 72) % 251).astype(np.uint8).reshape(72, 64))
    deep = Image.fromarray(np.asarray(gray, np.uint16) * 257)
    expected = {
        "g.jpg": ("grayscale image: written as RGB (WebP has no grayscale)",),
        "la.png": ("grayscale image with alpha: written as RGBA (WebP has no grayscale with alpha)",),
        "g16.png": ("WebP cannot hold 16-bit grayscale: written with 8 bits",
                    "grayscale image: written as RGB (WebP has no grayscale)"),
    }
    sources = {"g.jpg": _save(tmp_path / "g.jpg", gray, "JPEG", quality=40),
               "la.png": _save(tmp_path / "la.png", Image.merge("LA", (gray, alpha)), "PNG"),
               "g16.png": _save(tmp_path / "g16.png", deep, "PNG")}
    for name, src in sources.items():
        loaded = read_image(src)
        assert write_image(tmp_path / f"{name}.webp", loaded.pixels, loaded, fmt="webp") == expected[name]
        with Image.open(tmp_path / f"{name}.webp") as im:
            assert im.mode == ("RGBA" if name == "la.png" else "RGB")
            np.testing.assert_allclose(np.asarray(im)[..., 0], np.asarray(im)[..., 2], atol=2)  # still gray
        assert write_image(tmp_path / f"{name}.png", loaded.pixels, loaded, fmt="png") == ()  # PNG keeps gray


def test_a_bmp_names_the_metadata_it_drops(tmp_path, hopper_path):
    """Pillow's BMP writer keeps the resolution alone: a BMP output lost a photo's EXIF, XMP and ICC profile
    without a note, where every other format names what it cannot hold."""
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    with Image.open(hopper_path) as im:
        photo = im.resize((64, 72))
    photo.info.clear()  # hopper.jpg's comment: named too, but not the subject here
    src = _save(tmp_path / "cam.jpg", photo, "JPEG", quality=40, exif=exif.tobytes(), icc_profile=icc,
                xmp=_XMP.format(1).encode(), dpi=(300, 300))
    loaded = read_image(src)
    notes = write_image(tmp_path / "out.bmp", loaded.pixels, loaded, fmt="bmp")
    keep = "write JPEG, PNG, WebP or TIFF to keep it"
    assert notes == (f"EXIF metadata dropped: BMP has no place for it; {keep}",
                     f"XMP metadata dropped: BMP has no place for it; {keep}",
                     f"ICC profile dropped: BMP outputs are written without one; {keep}"), notes
    with Image.open(tmp_path / "out.bmp") as im:
        assert im.format == "BMP" and im.info["dpi"] == pytest.approx((300, 300), abs=0.1)  # what it can hold
    plain = read_image(_save(tmp_path / "plain.jpg", photo, "JPEG", quality=40))
    assert write_image(tmp_path / "plain.bmp", plain.pixels, plain) == ()


def test_a_cameras_exif_reaches_every_format_tiff_included(tmp_path, hopper_path):
    """A camera's EXIF keeps its settings and dates in a sub-directory (and GPS in another), which Pillow's
    compressed TIFF writer refuses: such a TIFF is written uncompressed, with a note, and keeps them all."""
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif.get_ifd(0x8769)[0x9003] = "2020:01:01 10:00:00"  # DateTimeOriginal
    exif.get_ifd(0x8825)[0x0001] = "N"  # GPSLatitudeRef
    with Image.open(hopper_path) as im:
        src = _save(tmp_path / "cam.jpg", im.resize((96, 120)), "JPEG", quality=40, exif=exif.tobytes())
    loaded = read_image(src)
    for fmt, suffix in (("jpeg", ".jpg"), ("png", ".png"), ("tiff", ".tif"), ("webp", ".webp")):
        out = tmp_path / f"out{suffix}"
        notes = write_image(out, loaded.pixels, loaded, fmt=fmt)
        assert any("uncompressed" in n for n in notes) == (fmt == "tiff")
        with Image.open(out) as im:
            written = im.getexif()
            assert written[0x010F] == "Canon", fmt
            assert written.get_ifd(0x8769)[0x9003] == "2020:01:01 10:00:00", fmt
            assert written.get_ifd(0x8825)[0x0001] == "N", fmt
    # Without sub-directories a TIFF stays LZW-compressed.
    with Image.open(hopper_path) as im:
        small = im.resize((96, 120))
    small.info.clear()  # hopper.jpg's comment: Pillow would write it again, and a TIFF output names its drop
    plain = read_image(_save(tmp_path / "plain.jpg", small, "JPEG", quality=40))
    assert write_image(tmp_path / "plain.tif", plain.pixels, plain) == ()
    with Image.open(tmp_path / "plain.tif") as im:
        assert im.info["compression"] == "tiff_lzw"

_XMP = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
        'xmp:Rating="4" tiff:Orientation="{}"><dc:subject xmlns:dc="http://purl.org/dc/elements/1.1/">'
        '<rdf:Bag><rdf:li>Großmutter</rdf:li></rdf:Bag></dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>')


@pytest.mark.parametrize("source", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_xmp_ratings_and_keywords_reach_every_format_turned_upright(tmp_path, hopper_path, source):
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: turn 90 degrees clockwise to view
    with Image.open(hopper_path) as im:
        small = im.convert("RGB").resize((96, 120))
    small.info.clear()  # hopper.jpg's comment: Pillow would write it again, and other outputs name its drop
    packet = _XMP.format(6).encode()
    options: dict = {"exif": exif.tobytes(), "xmp": packet}
    if source == "PNG":
        options["pnginfo"] = PngImagePlugin.PngInfo()
        options["pnginfo"].add_itxt("XML:com.adobe.xmp", packet.decode())
    elif source == "TIFF":  # XMP is a tag of the TIFF's own, which Pillow takes from exif or tiffinfo, not both
        tags = Image.Exif()
        tags.load(options.pop("exif"))
        tags[700] = options.pop("xmp")
        options["exif"] = tags
    src = _save(tmp_path / f"in.{source.lower()}", small, source, **options)
    loaded = read_image(src)
    assert (loaded.width, loaded.height) == (120, 96)  # turned upright (Pillow does it itself for a TIFF)
    for fmt, suffix in (("jpeg", ".jpg"), ("png", ".png"), ("tiff", ".tif"), ("webp", ".webp")):
        out = tmp_path / f"out{suffix}"
        assert write_image(out, loaded.pixels, loaded, fmt=fmt) == ()
        with Image.open(out) as im:
            written = im.info.get("xmp") or b""
        assert b'xmp:Rating="4"' in written and "Großmutter".encode() in written, (source, fmt)
        assert not re.search(rb"tiff:Orientation=\"[2-8]", written), (source, fmt)  # upright, as the pixels


def test_an_xmp_packet_too_large_for_a_jpeg_is_dropped_with_a_note(tmp_path, hopper_path):
    with Image.open(hopper_path) as im:
        loaded = read_image(_save(tmp_path / "in.png", im.convert("RGB").resize((64, 64)), "PNG"))
    huge = LoadedImage(**{**loaded.__dict__, "xmp": b"<x:xmpmeta>" + b" " * 70_000 + b"</x:xmpmeta>"})
    notes = write_image(tmp_path / "out.jpg", huge.pixels, huge, fmt="jpeg")
    assert any("XMP" in note for note in notes)
    write_image(tmp_path / "out.png", huge.pixels, huge, fmt="png")
    with Image.open(tmp_path / "out.png") as im:
        assert im.info["xmp"] == huge.xmp



def test_jpeg_quality_and_format_choice(tmp_path, hopper_path):
    loaded = read_image(hopper_path)
    write_image(tmp_path / "q95.jpg", loaded.pixels, loaded)
    write_image(tmp_path / "q30.jpg", loaded.pixels, loaded, quality=30)
    assert (tmp_path / "q30.jpg").stat().st_size < (tmp_path / "q95.jpg").stat().st_size
    with Image.open(tmp_path / "q95.jpg") as im:
        assert im.format == "JPEG" and im.layer[0][1:3] == im.layer[1][1:3]  # 4:4:4: no chroma subsampling
    write_image(tmp_path / "as_png.png", loaded.pixels, loaded)
    with Image.open(tmp_path / "as_png.png") as im:
        assert im.format == "PNG"  # the destination's suffix decides when no format is asked


def test_rounding_not_truncation(tmp_path):
    like = read_image(_save(tmp_path / "g.png", Image.new("L", (3, 1)), "PNG"))
    values = np.array([[[0.9 / 255], [1.6 / 255], [254.5001 / 255]]], np.float32)
    write_image(tmp_path / "r.png", values, like)
    with Image.open(tmp_path / "r.png") as im:
        assert np.asarray(im).tolist() == [[1, 2, 255]]


def test_jpeg_cannot_take_alpha(tmp_path):
    rgba = Image.fromarray(np.dstack([_gradient_rgb(), np.full((24, 40), 128, np.uint8)]), "RGBA")
    loaded = read_image(_save(tmp_path / "a.png", rgba, "PNG"))
    with pytest.raises(OutputError, match="--format png"):
        write_image(tmp_path / "a.jpg", loaded.pixels, loaded, fmt="jpeg")
    assert list(tmp_path.iterdir()) == [tmp_path / "a.png"]


def test_jpeg_takes_a_fully_opaque_alpha_plane_by_dropping_it(tmp_path):
    """Only transparency is refused: an alpha plane at its maximum everywhere is written without, with a note."""
    rgb = _gradient_rgb()
    for mode, pixels in (("RGBA", rgb), ("LA", rgb[..., 0])):
        planes = np.dstack([pixels, np.full((24, 40), 255, np.uint8)])
        loaded = read_image(_save(tmp_path / f"{mode}.png", Image.fromarray(planes, mode), "PNG"))
        assert loaded.alpha is not None
        notes = write_image(tmp_path / f"{mode}.jpg", loaded.pixels, loaded, fmt="jpeg")
        assert any("opaque alpha" in note for note in notes)
        with Image.open(tmp_path / f"{mode}.jpg") as im:
            assert im.format == "JPEG" and im.mode == ("RGB" if mode == "RGBA" else "L")
    # 16 bits: the maximum is 65535; one value below it is transparency.
    deep = LoadedImage(**{**loaded.__dict__, "alpha": np.full((24, 40), 65535, np.uint16)})
    assert any("opaque alpha" in note for note in write_image(tmp_path / "deep.jpg", deep.pixels, deep, fmt="jpeg"))
    deep.alpha[3, 5] = 65534
    with pytest.raises(OutputError, match="transparency"):
        write_image(tmp_path / "almost.jpg", deep.pixels, deep, fmt="jpeg")
    assert not (tmp_path / "almost.jpg").exists()


def test_an_output_named_after_its_input_keeps_the_inputs_real_format(tmp_path):
    """A PNG called x.jpg: its output, called x.jpg too, is a PNG (lossless), as no name decides a format. A suffix
    chosen for the output, unlike the input's, and --format still decide."""
    from facerestore.imageio import resolve_format

    src = _save(tmp_path / "x.jpg", Image.fromarray(_gradient_rgb()), "PNG")
    loaded = read_image(src)
    assert loaded.format == "PNG"
    restored = 1.0 - loaded.pixels
    write_image(tmp_path / "out" / "x.jpg", restored, loaded)
    with Image.open(tmp_path / "out" / "x.jpg") as im:
        assert im.format == "PNG"
        np.testing.assert_array_equal(np.asarray(im), np.rint(restored * 255).astype(np.uint8))
    assert resolve_format(tmp_path / "out" / "x.JPG", loaded, None) == "PNG"
    assert resolve_format(tmp_path / "out" / "x.webp", loaded, None) == "WEBP"
    assert resolve_format(tmp_path / "out" / "x.jpg", loaded, "jpeg") == "JPEG"
    # A GIF becomes a PNG (a camera's MPO is read as a JPEG in the first place).
    gif = LoadedImage(**{**loaded.__dict__, "format": "GIF", "src": tmp_path / "x.gif"})
    assert resolve_format(tmp_path / "out" / "x.gif", gif, None) == "PNG"


# --------------------------------------------------------------------------------------------- atomic writes

def _any_loaded(tmp_path: Path) -> LoadedImage:
    return read_image(_save(tmp_path / "src.png", Image.fromarray(_gradient_rgb()), "PNG"))


@pytest.mark.parametrize("code, words", [(errno.ENOSPC, "no space left"), (errno.EROFS, "read-only"),
                                          (errno.EACCES, "permission denied")])
def test_failed_write_leaves_no_temporary(tmp_path, monkeypatch, code, words):
    loaded = _any_loaded(tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "keep.png").write_bytes(b"previous result")

    def failing_save(self, fp, format=None, **params):  # noqa: A002 - Pillow's own parameter name
        fp.write(b"half an image")
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(OutputError) as info:
        write_image(out_dir / "keep.png", loaded.pixels, loaded)
    message = str(info.value)
    assert words in message and "keep.png" in message and "\n" not in message
    assert sorted(p.name for p in out_dir.iterdir()) == ["keep.png"]
    assert (out_dir / "keep.png").read_bytes() == b"previous result"  # the old output is untouched


def test_interrupt_during_write_removes_temporary(tmp_path, monkeypatch):
    loaded = _any_loaded(tmp_path)

    def interrupted(self, fp, format=None, **params):  # noqa: A002
        fp.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_image(tmp_path / "o" / "x.png", loaded.pixels, loaded)
    assert list((tmp_path / "o").iterdir()) == []


def test_write_creates_folders_and_replaces_atomically(tmp_path):
    loaded = _any_loaded(tmp_path)
    out = tmp_path / "a" / "b" / "c.webp"
    write_image(out, loaded.pixels, loaded)
    write_image(out, loaded.pixels, loaded)  # replacing an existing output works too
    assert [p.name for p in out.parent.iterdir()] == ["c.webp"]
    with Image.open(out) as im:
        assert im.format == "WEBP" and im.size == (40, 24)
    assert oct(out.stat().st_mode & 0o777) != oct(0o600)  # not a private mkstemp file


def test_unwritable_destination_is_an_output_error(tmp_path):
    loaded = _any_loaded(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="cannot create the folder"):
        write_image(tmp_path / "file" / "out.png", loaded.pixels, loaded)
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(OutputError):
        write_image(tmp_path / "dir.png", loaded.pixels, loaded)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_reading_never_modifies_the_input(tmp_path, hopper_path):
    src = _save(tmp_path / "o.jpg", Image.open(hopper_path), "JPEG", exif=_exif_with_orientation(6))
    before = (src.read_bytes(), os.stat(src).st_mtime_ns)
    read_image(src)
    assert (src.read_bytes(), os.stat(src).st_mtime_ns) == before


# ------------------------------------------------------------------------------------- 48-bit colour, TIFF tags

def _png_rgb48(width: int, height: int, value: int) -> bytes:
    rows = b"".join(b"\0" + np.full((width, 3), value, ">u2").tobytes() for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(rows))
            + _png_chunk(b"IEND", b""))


def _tiff_rgb48(width: int, height: int, value: int) -> bytes:
    """A minimal little-endian baseline TIFF, 3 x 16 bits per pixel, one uncompressed strip."""
    pixels = np.full((height, width, 3), value, "<u2").tobytes()
    count = 10
    bps_offset = 8 + 2 + count * 12 + 4
    data_offset = bps_offset + 6

    def short(tag: int, value: int) -> bytes:
        return struct.pack("<HHIHH", tag, 3, 1, value, 0)

    def at(tag: int, kind: int, n: int, offset: int) -> bytes:
        return struct.pack("<HHII", tag, kind, n, offset)

    entries = [short(256, width), short(257, height), at(258, 3, 3, bps_offset), short(259, 1), short(262, 2),
               at(273, 4, 1, data_offset), short(277, 3), short(278, height), at(279, 4, 1, len(pixels)),
               short(284, 1)]
    return (b"II*\0" + struct.pack("<IH", 8, count) + b"".join(entries) + b"\0\0\0\0"
            + struct.pack("<HHH", 16, 16, 16) + pixels)


@pytest.mark.parametrize("name, build", [("deep.png", _png_rgb48), ("deep.tif", _tiff_rgb48)])
def test_48bit_colour_is_read_with_an_honest_note(tmp_path, name, build):
    (tmp_path / name).write_bytes(build(5, 4, 40000))
    loaded = read_image(tmp_path / name)
    assert loaded.pixels.shape == (4, 5, 3) and loaded.bit_depth == 8
    assert any("16-bit colour" in note and "output is 8-bit" in note for note in loaded.notes)
    np.testing.assert_allclose(loaded.pixels, 40000 / 65535, atol=1 / 255)


def test_a_restored_48bit_image_is_named_in_a_warning_that_its_output_is_8bit(tmp_path, tiny_rgb_model):
    """Pillow cannot decode 16-bit colour at full depth; the run says which file loses it (README says which
    16-bit inputs keep 16 bits: grayscale PNG and TIFF)."""
    from click.testing import CliRunner

    from facerestore.cli import cli

    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "deep.png").write_bytes(_png_rgb48(16, 16, 40000))
    result = CliRunner().invoke(cli, ["enhance", str(photos), "-o", str(tmp_path / "out"), "--model",
                                      str(tiny_rgb_model), "--strength", "1", "--no-report"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith(f"warning: {photos / 'deep.png'}: ")]
    assert len(lines) == 1 and "16-bit colour" in lines[0] and "output is 8-bit" in lines[0], result.stderr
    with Image.open(tmp_path / "out" / "deep.png") as im:
        assert im.mode == "RGB"  # 8 bits per channel, as the warning says


def test_tiff_orientation_and_descriptive_tags(tmp_path):
    exif = _exif_with_orientation(6)
    values = np.arange(12, dtype=np.uint8).reshape(3, 4)
    src = _save(tmp_path / "o.tif", Image.fromarray(values), "TIFF", exif=exif, dpi=(200, 200))
    loaded = read_image(src)
    assert loaded.pixels.shape == (4, 3, 1) and loaded.dpi == (200.0, 200.0)
    np.testing.assert_array_equal(np.rint(loaded.pixels[..., 0] * 255), np.rot90(values, -1))
    out = tmp_path / "o.jpg"
    write_image(out, loaded.pixels, loaded)
    written = _written_exif(out)
    assert written[0x010F] == "TestMaker" and 273 not in written  # no strip offsets smuggled into JPEG EXIF


def test_temporaries_of_killed_runs_are_removed_by_the_next_write(tmp_path):
    import subprocess
    import sys

    loaded = _any_loaded(tmp_path)
    out_dir = tmp_path / "killed"
    out_dir.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead_pid = int(dead.stdout)
    stale = out_dir / f".x.png.{dead_pid}.0123abcd.tmp"
    stale.write_bytes(b"half an image")
    live = out_dir / f".y.png.{os.getppid()}.0123abcd.tmp"  # a running process may still be writing it
    live.write_bytes(b"in progress")
    other = out_dir / ".notes.tmp"  # not ours
    other.write_bytes(b"keep")
    write_image(out_dir / "x.png", loaded.pixels, loaded)
    assert sorted(p.name for p in out_dir.iterdir()) == sorted([live.name, other.name, "x.png"])


def test_non_finite_and_out_of_range_model_output_is_written_clamped(tmp_path, hopper_path):
    """A user model may emit NaN, infinities or values outside [0, 1]: the file gets 0, 255 and clamped levels."""
    loaded = read_image(hopper_path)
    pixels = loaded.pixels[:4, :6].copy()
    pixels[0, :, :] = [np.nan, np.inf, -np.inf]
    pixels[1, :, :] = [-0.5, 1.5, 0.5]
    small = LoadedImage(**{**loaded.__dict__, "pixels": pixels})
    out = tmp_path / "out.png"
    write_image(out, pixels, small)
    with Image.open(out) as im:
        levels = np.asarray(im.convert("RGB"))
    assert levels[0, 0].tolist() == [0, 255, 0] and levels[1, 0].tolist() == [0, 255, 128]
    np.testing.assert_array_equal(levels[2:], np.rint(np.clip(pixels[2:], 0, 1) * 255).astype(np.uint8))


@pytest.mark.parametrize("by_content", [False, True], ids=["identity", "digest"])
@pytest.mark.parametrize("change", ["truncated", "rewritten", "replaced", "fifo", "gone"])
def test_copy_image_copies_only_the_file_that_was_read(tmp_path, hopper_rgb, change, by_content):
    # An input left unchanged is copied byte for byte after it was decoded; a file truncated meanwhile (a sync
    # client mid-write) was copied as a truncated "unchanged" output, and one swapped for a FIFO hung the run.
    from facerestore.imageio import copy_image

    src, dst = tmp_path / "in.png", tmp_path / "out" / "in.png"
    Image.fromarray(hopper_rgb[:64, :64]).save(src)
    loaded = read_image(src, digest=by_content)
    size = src.stat().st_size
    if change == "truncated":
        os.truncate(src, size // 2)
    elif change == "rewritten":
        Image.fromarray(hopper_rgb[64:128, :64]).save(src)
    elif change == "replaced":
        Image.fromarray(hopper_rgb[:64, :64]).save(tmp_path / "new.png")  # the same bytes, another file
        os.replace(tmp_path / "new.png", src)
    elif change == "fifo":
        src.unlink()
        os.mkfifo(src)
    else:
        src.unlink()
    done = threading.Event()
    caught: list[BaseException] = []

    def attempt() -> None:
        try:
            copy_image(src, dst, expect=loaded.source, digest=loaded.digest)
        except BaseException as exc:  # noqa: BLE001 - checked below
            caught.append(exc)
        done.set()

    threading.Thread(target=attempt, daemon=True).start()
    assert done.wait(10), "copy_image blocked on the changed input"
    assert len(caught) == 1 and isinstance(caught[0], ImageError), caught
    reason = str(caught[0])
    assert {"truncated": f"from {size} to {size // 2} bytes", "rewritten": "since it was read",
            "replaced": "replaced", "fifo": "not a regular file", "gone": "No such file"}[change] in reason
    assert not dst.exists() and not any((tmp_path / "out").glob(".*.tmp"))


def test_copy_image_compares_content_not_only_the_modification_time(tmp_path, hopper_rgb):
    # A file only touched since it was decoded was refused as "rewritten"; one rewritten in place at the same
    # size within one timestamp tick (coarse file-system clocks) was copied as the image that was read.
    from facerestore.imageio import copy_image

    src, dst = tmp_path / "in.png", tmp_path / "out.png"
    Image.fromarray(hopper_rgb[:64, :64]).save(src)
    original = src.read_bytes()
    loaded = read_image(src, digest=True)
    assert loaded.digest is not None and read_image(src).digest is None  # hashed only when asked
    st = src.stat()
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched
    copy_image(src, dst, expect=loaded.source, digest=loaded.digest)
    assert dst.read_bytes() == original
    with pytest.raises(ImageError, match="rewritten since it was read"):  # without the digest: by identity, as before
        copy_image(src, tmp_path / "other.png", expect=loaded.source)

    middle = len(original) // 2
    with open(src, "r+b") as fh:
        fh.seek(middle)
        fh.write(bytes([original[middle] ^ 0xFF]))
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))  # the very time it was decoded with
    with pytest.raises(ImageError, match="rewritten since it was read"):
        copy_image(src, tmp_path / "again.png", expect=loaded.source, digest=loaded.digest)
    assert not (tmp_path / "again.png").exists() and not list(tmp_path.glob(".*.tmp"))


def test_copy_image_of_the_file_as_read_is_byte_identical(tmp_path, hopper_rgb):
    from facerestore.imageio import copy_image

    src, dst = tmp_path / "in.png", tmp_path / "out.png"
    Image.fromarray(hopper_rgb[:64, :64]).save(src)
    copy_image(src, dst, expect=read_image(src).source)
    assert dst.read_bytes() == src.read_bytes()
