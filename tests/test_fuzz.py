"""Property-based fuzzing of the image loading path (hypothesis), bounded to a few tens of seconds.

Seeds are small real images in every allowed format, built at test time. Mutations: byte flips, truncations,
inserted junk, and header fields overwritten with boundary values (for PNG, chunk CRCs are then recomputed so
the mutation reaches the decoder instead of stopping at the checksum). The property: ``read_image`` returns a
well-formed ``LoadedImage`` or raises ``ImageError``; nothing else, and never hangs.

Any input that breaks the property is saved in ``tests/fixtures/fuzz_crashes/`` and replayed below forever.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, features

from facerestore.errors import ImageError
from facerestore.imageio import LoadedImage, read_image

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

CRASHES = Path(__file__).resolve().parent / "fixtures" / "fuzz_crashes"
MAX_PIXELS = 2_000_000       # mutated headers claim all sizes: refuse big ones quickly, as users' limit would
SECONDS_PER_INPUT = 10       # a decode of a < 2 kB file that takes this long is a hang
# CI: a fixed, derandomized ~20 s run. FUZZ_EXAMPLES=20000 explores further with fresh random inputs.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "400"))
DERANDOMIZE = "FUZZ_EXAMPLES" not in os.environ
BOUNDARY = (0, 1, 2, 7, 8, 15, 16, 255, 256, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


def _seeds() -> dict[str, bytes]:
    with Image.open(Path(__file__).resolve().parent.parent / "examples" / "originals" / "grace_hopper.jpg") as im:
        rgb = Image.fromarray(np.asarray(im.convert("RGB").resize((12, 10))))

    def encode(image: Image.Image, fmt: str, **options) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, format=fmt, **options)
        return buffer.getvalue()

    exif = Image.Exif()
    exif[0x0112] = 6
    rgba = rgb.copy()
    rgba.putalpha(128)
    gray16 = Image.fromarray((np.asarray(rgb.convert("L"), np.uint16) * 257).astype(np.uint16))
    avif = {"avif": encode(rgb, "AVIF", quality=50)} if features.check("avif") else {}
    return {
        **avif,
        "png": encode(rgb, "PNG"), "png-rgba": encode(rgba, "PNG"), "png-16": encode(gray16, "PNG"),
        "png-palette": encode(rgb.quantize(16), "PNG", transparency=0),
        "jpeg": encode(rgb, "JPEG", quality=80, exif=exif), "jpeg-progressive": encode(rgb, "JPEG", progressive=True),
        "gif": encode(rgb.quantize(16), "GIF"), "tiff": encode(rgb, "TIFF"),
        "tiff-lzw": encode(rgb.convert("L"), "TIFF", compression="tiff_lzw"),
        "bmp": encode(rgb, "BMP"), "webp": encode(rgb, "WEBP", quality=70), "webp-lossless": encode(rgb, "WEBP",
                                                                                                    lossless=True),
    }


SEEDS = _seeds()


def _fix_png_crcs(data: bytes) -> bytes:
    """Recompute every chunk CRC of a (possibly mutated) PNG so the decoder, not the checksum, meets the bytes."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return data
    out, pos = bytearray(data[:8]), 8
    while pos + 8 <= len(data):
        length = struct.unpack(">I", data[pos:pos + 4])[0]
        end = pos + 8 + length
        if end + 4 > len(data):
            break
        body = data[pos + 4:end]
        out += data[pos:end] + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
        pos = end + 4
    return bytes(out + data[pos:])


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "field", "truncate", "insert", "field"]))
        if kind == "flip":
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "field":  # header fields live in the first bytes of every one of these formats
            i = draw(st.integers(0, min(len(data), 96) - 1))
            width, order = draw(st.sampled_from([(2, "<"), (2, ">"), (4, "<"), (4, ">")]))
            value = draw(st.sampled_from(BOUNDARY)) & ((1 << (8 * width)) - 1)
            data[i:i + width] = struct.pack(order + ("H" if width == 2 else "I"), value)
        elif kind == "truncate":
            data = data[:draw(st.integers(0, len(data)))]
        else:
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
        if not data:
            break
    out = bytes(data)
    return _fix_png_crcs(out) if draw(st.booleans()) else out


class _Hang(Exception):
    pass


def _on_alarm(signum, frame):
    raise _Hang(f"read_image took over {SECONDS_PER_INPUT} s")


def _check(data: bytes, path: Path) -> None:
    """The property, on one input; a violation keeps the input as a fixture before failing."""
    path.write_bytes(data)
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, SECONDS_PER_INPUT)
    try:
        loaded = read_image(path, max_pixels=MAX_PIXELS)
        _assert_well_formed(loaded)
    except ImageError as exc:
        assert str(exc) and "\n" not in str(exc), repr(exc)
    except BaseException:
        CRASHES.mkdir(parents=True, exist_ok=True)
        (CRASHES / f"{hashlib.sha256(data).hexdigest()[:16]}.bin").write_bytes(data)
        raise
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _assert_well_formed(loaded: LoadedImage) -> None:
    pixels = loaded.pixels
    assert pixels.dtype == np.float32 and pixels.ndim == 3 and pixels.shape[2] in (1, 3)
    assert 0 < pixels.shape[0] * pixels.shape[1] <= MAX_PIXELS
    assert np.isfinite(pixels).all() and pixels.min() >= 0.0 and pixels.max() <= 1.0
    if loaded.alpha is not None:
        assert loaded.alpha.shape == pixels.shape[:2]
    assert loaded.bit_depth in (8, 16) and loaded.format in ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF", "AVIF")


@settings(max_examples=EXAMPLES, deadline=None, derandomize=DERANDOMIZE, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=mutated())
def test_read_image_returns_an_image_or_an_image_error(data, tmp_path):
    _check(data, tmp_path / "input")


def test_every_seed_is_a_valid_image(tmp_path):
    for name, data in SEEDS.items():
        loaded = read_image(_write(tmp_path / name, data), max_pixels=MAX_PIXELS)
        _assert_well_formed(loaded)
        assert loaded.pixels.shape[:2] in ((10, 12), (12, 10))  # the JPEG seed is EXIF-rotated


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("crash", sorted(CRASHES.glob("*.bin")), ids=lambda p: p.stem)
def test_recorded_crashes_stay_fixed(crash, tmp_path):
    _check(crash.read_bytes(), tmp_path / "input")
