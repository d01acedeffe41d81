"""A deterministic corpus of hostile and awkward inputs, built at test time (no committed binaries).

``build_corpus(root)`` fills ``root`` with good images beside more than forty nasty ones (broken files, bombs,
odd modes and sizes, EXIF rotations, hostile names, links, special files, OS junk) and returns one
:class:`Case` per entry saying what ``facerestore enhance`` must do with it. Everything is derived from the
two public-domain photos in ``examples/originals`` and fixed seeds, so every build is byte-identical.

Outside ``root`` the builder also writes ``root.parent / "outside" / "face.jpg"``, the target of a link that
points out of the tree (it must be read, never written).
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "originals"
ORIENTATION = 0x0112
RESTORED, REJECTED, SKIPPED = "restored", "rejected", "skipped"


@dataclass(frozen=True)
class Case:
    """One corpus entry and what a run must do with it.

    ``relpath`` is relative to the corpus root (``os.fsdecode`` form, so non-UTF-8 bytes are surrogates).
    ``expect`` is the class for an unprivileged user; ``as_root`` overrides it for a process that bypasses file
    permissions (root with CAP_DAC_OVERRIDE reads mode-000 files). ``size`` is (width, height) of the output
    after EXIF orientation, ``modes`` the acceptable Pillow modes of the output file, ``output`` its path
    relative to the output root when it differs from ``relpath``, ``reason`` a substring of the error.
    """

    relpath: str
    expect: str
    size: tuple[int, int] | None = None
    modes: tuple[str, ...] = ()
    reason: str | None = None
    output: str | None = None
    as_root: str | None = None
    keeps_icc: bool = False
    note: str = ""

    def expected(self, privileged: bool) -> str:
        return self.as_root if privileged and self.as_root is not None else self.expect

    @property
    def output_rel(self) -> str:
        return self.output if self.output is not None else self.relpath


# ------------------------------------------------------------------------------------------------ raw builders

def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_from_rows(width: int, height: int, bit_depth: int, colour_type: int, row: bytes,
                  level: int = 9) -> bytes:
    """A PNG whose ``height`` rows are all ``row`` (filter byte included), compressed incrementally.

    This is how a 20000 x 20000 image is written in a fraction of a second without 400 MB of pixels in memory.
    """
    compressor = zlib.compressobj(level)
    parts = []
    block = row * 256
    for _ in range(height // 256):
        parts.append(compressor.compress(block))
    parts.append(compressor.compress(row * (height % 256)))
    parts.append(compressor.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", b"".join(parts))
            + _png_chunk(b"IEND", b""))


def png_bomb(width: int, height: int) -> bytes:
    """A PNG header declaring ``width`` x ``height`` RGB pixels, followed by a few bytes of data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + _png_chunk(b"IEND", b""))


def gif_bomb(width: int, height: int) -> bytes:
    """A GIF whose logical screen and single frame claim ``width`` x ``height`` pixels (a 30-byte file)."""
    header = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    frame = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return header + frame + b";"


def tiff_bomb(width: int, height: int) -> bytes:
    """A baseline TIFF directory claiming ``width`` x ``height`` 8-bit gray pixels in one tiny strip."""
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 8 + 2 + 9 * 12 + 4), (277, 3, 1, 1), (278, 4, 1, height), (279, 4, 1, 16)]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", tag, kind, count, value) if kind == 4 else
        struct.pack("<HHIHH", tag, kind, count, value, 0) for tag, kind, count, value in entries)
    return b"II*\0" + struct.pack("<I", 8) + ifd + b"\0\0\0\0" + b"\0" * 16


def png_zero_width() -> bytes:
    """A hand-made PNG whose IHDR says 0 x 16 (CRCs correct, so only the size is wrong)."""
    return png_from_rows(0, 16, 8, 0, b"\0")


def png_rgb48(width: int, height: int) -> bytes:
    """48-bit RGB (16 bits per channel): a gradient so restoration has something to work on."""
    x = np.linspace(0, 65535, width, dtype=np.uint32).astype(">u2")
    rows = b"".join(b"\0" + np.stack([x, x[::-1], np.full_like(x, 30000 + 100 * r)], 1).tobytes()
                    for r in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(rows))
            + _png_chunk(b"IEND", b""))


def png_ztxt_bomb() -> bytes:
    """A small valid PNG carrying a zTXt chunk that inflates to 64 MB (metadata, not pixels)."""
    good = _encode(_photo((16, 16)), "PNG")
    ztxt = b"Comment\0\0" + zlib.compress(b"\0" * (64 << 20), 9)
    return good[:33] + _png_chunk(b"zTXt", ztxt) + good[33:]


# --------------------------------------------------------------------------------------------- image sources

def _photo(size: tuple[int, int], which: str = "grace_hopper.jpg") -> Image.Image:
    """A real photo scaled to ``size`` (width, height)."""
    with Image.open(EXAMPLES / which) as im:
        pixels = np.asarray(im.convert("RGB").resize(size, Image.Resampling.BILINEAR))
    return Image.fromarray(pixels)  # no metadata of the source carried along


def _encode(im: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    im.copy().save(buffer, format=fmt, **options)  # a copy: save() leaves its options on the image
    return buffer.getvalue()


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    return exif


def _jpeg_scan_start(data: bytes) -> int:
    """Offset of the entropy-coded data: just after the SOS segment."""
    sos = data.index(b"\xff\xda")
    length = struct.unpack(">H", data[sos + 2:sos + 4])[0]
    return sos + 2 + length


def corrupt_jpeg_scan(data: bytes) -> bytes:
    """Overwrite the middle of the scan with an RST marker out of sequence followed by garbage."""
    start = _jpeg_scan_start(data)
    mid = start + (len(data) - start) // 3
    rng = np.random.default_rng(5)
    junk = b"\xff\xd5" + bytes(rng.integers(0, 255, 200, dtype=np.uint8)).replace(b"\xff", b"\xfe") + b"\xff\xd9"
    return data[:mid] + junk


def _gradient_float(width: int, height: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return ((x + y) / (width + height)).astype(np.float32)


# ------------------------------------------------------------------------------------------------- the corpus

def build_corpus(root: Path, bomb_side: int = 100_000) -> list[Case]:
    """Fill ``root`` (created, must not exist or be empty) and return the expected outcome of every entry."""
    root.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []
    base = _photo((48, 56))          # portrait, width 48 x height 56
    small = _photo((40, 32), "astronaut.png")
    jpeg = _encode(base, "JPEG", quality=90)
    png = _encode(small, "PNG")

    def put(rel: str, data: bytes | Callable[[Path], None], case: Case | None) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(data):
            data(path)
        else:
            path.write_bytes(data)
        if case is not None:
            cases.append(case)

    def ok(rel: str, data: bytes, size: tuple[int, int], modes: tuple[str, ...], **kw: object) -> None:
        put(rel, data, Case(rel, RESTORED, size=size, modes=modes, **kw))  # type: ignore[arg-type]

    def bad(rel: str, data: bytes | Callable[[Path], None], reason: str, **kw: object) -> None:
        put(rel, data, Case(rel, REJECTED, reason=reason, **kw))  # type: ignore[arg-type]

    # --- good, ordinary files
    ok("good/portrait.jpg", jpeg, (48, 56), ("RGB",))
    ok("good/astronaut.png", png, (40, 32), ("RGB",))
    ok("good/photo.webp", _encode(base, "WEBP", quality=90), (48, 56), ("RGB",))
    ok("good/photo.bmp", _encode(small, "BMP"), (40, 32), ("RGB",))
    ok("good/progressive.jpg", _encode(base, "JPEG", quality=85, progressive=True), (48, 56), ("RGB",))
    ok("good/UPPER.JPG", jpeg, (48, 56), ("RGB",))
    ok("good/png-named.jpg", png, (40, 32), ("RGB",), note="content decides; written as the suffix says")

    # --- broken files
    bad("broken/empty.jpg", b"", "empty file")
    bad("broken/text.jpg", b"This is not a photo, just a note someone saved as .jpg\n", "not a supported image")
    bad("broken/truncated.jpg", jpeg[: len(jpeg) * 2 // 3], "cannot decode")
    bad("broken/truncated.png", png[: len(png) // 2], "cannot decode")
    bad("broken/header-only.jpg", jpeg[:200], "cannot decode")
    # libjpeg (like every viewer) recovers from damaged entropy-coded data: the picture has its full size, with
    # the damaged part gray. What matters is a clean, bounded decode of the right size.
    ok("broken/corrupt-scan.jpg", corrupt_jpeg_scan(jpeg), (48, 56), ("RGB",))
    crc = bytearray(png)
    crc[29] ^= 0xFF  # last byte of IHDR's CRC
    bad("broken/bad-crc.png", bytes(crc), "damaged PNG")
    bad("broken/zero-width.png", png_zero_width(), "damaged PNG")
    damaged_exif = (b"Exif\0\0II*\0" + struct.pack("<IH", 8, 2) + struct.pack("<HHII", ORIENTATION, 3, 1, 6)
                    + struct.pack("<HHII", 0x010F, 2, 400, 9999))  # Make: 400 bytes at an offset past the end
    ok("broken/damaged-exif.jpg", _encode(base, "JPEG", quality=90, exif=damaged_exif), (56, 48), ("RGB",),
       note="pixels and the Orientation tag (6) are fine: restored upright; Pillow's warnings about the rest of "
            "the EXIF block must not reach the terminal")
    bad("broken/targa-named.png", _encode(small, "TGA"), "not a supported image")
    bad("broken/phone-heic.jpg", b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + bytes(64),
        "HEIC/HEIF photo: a format facerestore does not read", note="a phone's HEIC copied out under a .jpg name")
    bad("broken/ztxt-bomb.png", png_ztxt_bomb(), "too large")

    # --- bombs: refused from the header, before any pixel is decoded
    bad("bombs/bomb.png", png_bomb(bomb_side, bomb_side), "too many pixels")
    bad("bombs/screen.gif", gif_bomb(65535, 65535), "too many pixels")
    bad("bombs/bomb.tif", tiff_bomb(bomb_side, bomb_side), "too many pixels")
    bad("bombs/huge-1bit.png", png_from_rows(20000, 20000, 1, 0, b"\0" * 2501), "too many pixels",
        note="a real, complete 20000x20000 1-bit image (400 megapixels)")

    # --- sizes
    ok("sizes/1x1.png", _encode(Image.new("RGB", (1, 1), (200, 120, 40)), "PNG"), (1, 1), ("RGB",))
    ok("sizes/1x5000.png", _encode(base.resize((1, 5000)), "PNG"), (1, 5000), ("RGB",))
    ok("sizes/7x5.jpg", _encode(base.resize((7, 5)), "JPEG"), (7, 5), ("RGB",))

    # --- modes and bit depths
    ok("modes/cmyk.jpg", _encode(base.convert("CMYK"), "JPEG", quality=90), (48, 56), ("RGB",))
    ok("modes/gray.png", _encode(base.convert("L"), "PNG"), (48, 56), ("L",))
    ok("modes/gray-alpha.png", _encode(base.convert("LA"), "PNG"), (48, 56), ("LA",))
    palette = small.quantize(64)
    palette.info["transparency"] = 0
    ok("modes/palette-transparent.png", _encode(palette, "PNG", transparency=0), (40, 32), ("RGBA",))
    ok("modes/palette.gif", _encode(small.quantize(64), "GIF"), (40, 32), ("RGB",), output="modes/palette.png")
    rgba = small.copy()
    rgba.putalpha(Image.fromarray(np.tile(np.linspace(0, 255, 40, dtype=np.uint8), (32, 1))))
    ok("modes/rgba.png", _encode(rgba, "PNG"), (40, 32), ("RGBA",))
    ok("modes/1bit.png", _encode(base.convert("1"), "PNG"), (48, 56), ("L",))
    gray16 = Image.fromarray((np.asarray(base.convert("L"), np.uint16) * 257).astype(np.uint16))
    ok("modes/gray16.png", _encode(gray16, "PNG"), (48, 56), ("I;16", "I"))
    ok("modes/rgb48.png", png_rgb48(24, 20), (24, 20), ("RGB",))
    ok("modes/float32.tif", _encode(Image.fromarray(_gradient_float(30, 20), "F"), "TIFF"), (30, 20),
       ("I;16", "I;16B", "I"))

    # --- EXIF orientation: the output is upright, so 6 and 8 swap width and height
    for orientation, size in ((3, (48, 56)), (6, (56, 48)), (8, (56, 48))):
        ok(f"exif/orientation-{orientation}.jpg", _encode(base, "JPEG", quality=90, exif=_exif(orientation)),
           size, ("RGB",))

    # --- colour management: a non-sRGB profile is carried over as it is
    xyz_profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("XYZ")).tobytes()
    ok("icc/xyz-profile.jpg", _encode(base, "JPEG", quality=90, icc_profile=xyz_profile), (48, 56), ("RGB",),
       keeps_icc=True)
    lab_profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    ok("icc/lab-profile.png", _encode(small, "PNG", icc_profile=lab_profile), (40, 32), ("RGB",), keeps_icc=True)

    # --- several frames: the first one is restored
    frames = [small.quantize(32), small.rotate(90).quantize(32), small.rotate(180).quantize(32)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    ok("frames/animated.gif", buffer.getvalue(), (40, 32), ("RGB",), output="frames/animated.png")
    put("frames/multipage.tif",  # to a real file: Pillow cannot write several TIFF pages into a BytesIO
        lambda p: base.copy().save(p, "TIFF", save_all=True, append_images=[small.copy(), base.rotate(180)]),
        Case("frames/multipage.tif", RESTORED, size=(48, 56), modes=("RGB",)))

    # --- hostile and awkward names (all good images: the name must not matter)
    for rel in ("names/with space.jpg", "names/caf\u00e9 NFC.jpg", "names/cafe\u0301 NFD.jpg", "names/-dash.jpg",
                "names/--help.jpg", "names/new\nline.jpg", "names/$(touch PWNED).jpg", "names/a;b|c&d`id`.jpg",
                "names/tab\there.jpg", "names/" + os.fsdecode(b"latin1-caf\xe9.jpg"), "names/emoji \U0001F600.jpg"):
        ok(rel, jpeg, (48, 56), ("RGB",))
    bad("names/" + os.fsdecode(b"broken-\xff\xfe\nname.jpg"), b"garbage", "not a supported image",
        note="a non-UTF-8 name with a newline, rejected: its one error line must stay one line")

    # --- two inputs wanting the same output (GIF inputs become PNG): the first wins, the second is named
    ok("collide/face.gif", _encode(small.quantize(64), "GIF"), (40, 32), ("RGB",), output="collide/face.png")
    bad("collide/face.png", png, "already the output of")

    # --- links, special files, folders with image names
    outside = root.parent / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "face.jpg").write_bytes(jpeg)
    put("links/loop.jpg", lambda p: os.symlink("loop.jpg", p),
        Case("links/loop.jpg", REJECTED, reason="symbolic link loop"))
    put("links/dangling.jpg", lambda p: os.symlink("no-such-file.jpg", p),
        Case("links/dangling.jpg", REJECTED, reason="broken symbolic link"))
    put("links/out-of-tree.jpg", lambda p: os.symlink(os.path.join("..", "..", "outside", "face.jpg"), p),
        Case("links/out-of-tree.jpg", RESTORED, size=(48, 56), modes=("RGB",)))
    put("links/folder-loop", lambda p: os.symlink("..", p), Case("links/folder-loop", SKIPPED))
    put("special/pipe.jpg", lambda p: os.mkfifo(p), Case("special/pipe.jpg", REJECTED, reason="FIFO"))
    ok("special/photo.jpg/inside.png", png, (40, 32), ("RGB",), note="a folder named like an image is walked")

    # --- permissions (root bypasses them: then these are ordinary good files)
    put("locked/unreadable.jpg", jpeg, Case("locked/unreadable.jpg", REJECTED, reason="ermission denied",
                                            as_root=RESTORED, size=(48, 56), modes=("RGB",)))
    put("locked/folder/inside.jpg", jpeg, Case("locked/folder/inside.jpg", SKIPPED, as_root=RESTORED,
                                               size=(48, 56), modes=("RGB",)))
    cases.append(Case("locked/folder", REJECTED, reason="cannot read folder", as_root=SKIPPED))

    # --- OS and tool junk: never restored, never reported
    put(".DS_Store", b"\0\0\0\1Bud1" + b"\0" * 64, Case(".DS_Store", SKIPPED))
    put("good/._portrait.jpg", b"\0\5\26\7\0\2\0\0Mac OS X        ", Case("good/._portrait.jpg", SKIPPED))
    put("good/Thumbs.db", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64, Case("good/Thumbs.db", SKIPPED))
    put("@eaDir/portrait.jpg/SYNOPHOTO_THUMB_XL.jpg", jpeg,
        Case("@eaDir/portrait.jpg/SYNOPHOTO_THUMB_XL.jpg", SKIPPED))
    put(".hidden/secret.jpg", jpeg, Case(".hidden/secret.jpg", SKIPPED))
    put("good/notes.txt", b"not an image suffix\n", Case("good/notes.txt", SKIPPED))

    # Modes last: a 000 folder cannot be filled after it is locked.
    os.chmod(root / "locked" / "unreadable.jpg", 0)
    os.chmod(root / "locked" / "folder", 0)
    return cases


def unlock(root: Path) -> None:
    """Give back the permissions ``build_corpus`` took away, so the tree can be inspected and deleted."""
    for rel in ("locked/folder", "locked/unreadable.jpg"):
        path = root / rel
        if path.exists() or path.is_symlink():
            os.chmod(path, 0o755 if rel.endswith("folder") else 0o644)
