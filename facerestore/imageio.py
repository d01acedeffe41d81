"""Read images safely into float arrays, and write results back atomically with their metadata.

Reading trusts nothing: the format is decided by content from an allowlist, special files are never opened,
the pixel count is checked from the header before any pixel is decoded, and every decoder failure becomes an
``ImageError`` with a one-line reason. Writing goes to a temporary file beside the destination that is renamed
into place, so a killed run never leaves a half-written image under a real name.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import stat
import struct
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import AvifImagePlugin, Image, JpegImagePlugin, PngImagePlugin, TiffImagePlugin

from facerestore import photoshop, unread_formats, xmp, xmp_merge, xmp_split
from facerestore.atomic import write_atomic
from facerestore.damage.jpeg_tables import JpegInfo, read_jpeg_info
from facerestore.damage.webp_header import WebpInfo, read_webp_info
from facerestore.errors import ImageError, OutputError, UnreadFormatError
from facerestore.formats import WRITABLE_FORMATS, format_for_suffix, output_format
from facerestore.jpeg_eoi import closed_copy
from facerestore.jpeg_segments import APP1, APP13, COM, insert_segments

# Enough for 100-megapixel camera files (GFX100: 11648 x 8736); a colour float32 copy of such an image is 1.2 GB.
DEFAULT_MAX_PIXELS = 120_000_000
SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF", "AVIF")  # what we decode (by content)
DEFAULT_QUALITY = {"JPEG": 95, "WEBP": 95}
_FORMAT_NAMES = {"WEBP": "WebP"}  # Pillow's names as notes spell them
ORIENTATION_TAG = 0x0112
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
# TIFF files keep EXIF-like facts among their structural tags; only these descriptive ones are carried over.
_TIFF_DESCRIPTIVE_TAGS = (0x010E, 0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x8298)

# read_image enforces its own pixel limit before decoding; Pillow's global check (a warning at 89 MP, an error
# at twice that) would otherwise fire at a different figure, and warnings are not messages for our users.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
# Damaged metadata makes Pillow's plugins warn ("Corrupt EXIF data", "Tag data larger than file") while the
# pixels decode fine: Python would print two unattributed lines per warning on the user's terminal. What is
# unusable is dropped (see _clean_exif); real decoding failures still raise and become the file's one error line.
# A module-wide filter, not catch_warnings(): decoding runs in threads and catch_warnings is not thread-safe.
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")


@dataclass
class LoadedImage:
    src: Path
    format: str                 # Pillow format of the source: "JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF", "AVIF"
    pixels: np.ndarray          # float32, H x W x C in [0, 1], C = 3 (colour) or 1 (gray); EXIF orientation applied
    alpha: np.ndarray | None    # H x W alpha plane exactly as decoded (uint8 or uint16), passed through untouched
    bit_depth: int              # 8 or 16 (per channel)
    mode: str                   # Pillow mode of the source
    exif: bytes | None          # EXIF with Orientation reset to 1
    icc_profile: bytes | None
    dpi: tuple[float, float] | None
    notes: tuple[str, ...]      # e.g. "multi-frame file: used the first frame"
    jpeg: JpegInfo | None = None  # a JPEG file's quantisation tables and chroma subsampling
    orientation: int = 1        # the EXIF orientation the decoded pixels were turned by (1: as stored)
    xmp: bytes | None = None    # the XMP packet, tiff:Orientation set to 1 where the pixels were turned
    source: tuple[int, int, int, int] | None = None  # the file decoded: (st_dev, st_ino, st_size, st_mtime_ns)
    digest: bytes | None = None  # sha256 of its bytes as decoded (read_image(digest=True)), for copy_image
    webp: WebpInfo | None = None  # a lossy WebP file's quantiser index
    # Metadata Pillow reads but does not write back, carried by write_image where the output's format has a place:
    photoshop: bytes | None = None  # Photoshop's image resources, the IPTC record among them (photoshop.py), less
                                    # the thumbnail of the pixels as they were
    xmp_extension: tuple[bytes, ...] = ()  # a JPEG's extended XMP: its APP1 payloads, as the main packet names them
    comments: tuple[bytes, ...] = ()  # a JPEG's comment (COM) segments

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


# ---------------------------------------------------------------------------------------------------- reading

def file_identity(st: os.stat_result) -> tuple[int, int, int, int]:
    """What tells a file's content apart from what it held when read: the same inode, size and mtime."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _open_regular(path: Path, expect: tuple[int, int, int, int] | None = None, by_content: bool = False) -> Any:
    """Open for reading without ever blocking on a FIFO or touching a device (checked on the open descriptor).

    ``expect``: the file's :func:`file_identity` when it was decoded; a file replaced, truncated or rewritten
    since is refused (:class:`ImageError`), so a copy of it can never pass for the image that was read.
    ``by_content``: the caller compares the bytes it reads with those decoded, so the same file of the same size
    passes whatever its modification time (``touch``, a sync client setting it again).
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        raise ImageError(f"cannot read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise ImageError("not a regular file")
    try:
        # O_NONBLOCK: should the path be swapped for a FIFO after the stat, open() still returns at once.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ImageError(f"cannot read: {exc.strerror or exc}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise ImageError("not a regular file")
    if expect is not None and file_identity(st) != expect and not (by_content and file_identity(st)[:3] == expect[:3]):
        os.close(fd)
        raise ImageError(_changed(expect, st))
    if st.st_size == 0:
        os.close(fd)
        raise ImageError("empty file (0 bytes)")
    return os.fdopen(fd, "rb")


def _changed(expect: tuple[int, int, int, int], st: os.stat_result) -> str:
    """Why a file is no longer the one decoded (a sync client or another program wrote it meanwhile)."""
    if (st.st_dev, st.st_ino) != expect[:2]:
        return "the file was replaced since it was read"
    if st.st_size != expect[2]:
        return f"the file changed from {expect[2]} to {st.st_size} bytes since it was read"
    return "the file was rewritten since it was read"


def _orientation_ops(orientation: int) -> tuple[bool, int, bool]:
    """EXIF orientation -> (transpose first, quarter turns counter-clockwise, flip left-right afterwards)."""
    return {
        2: (False, 0, True), 3: (False, 2, False), 4: (False, 2, True), 5: (True, 0, False),
        6: (False, 3, False), 7: (True, 2, False), 8: (False, 1, False),
    }.get(orientation, (False, 0, False))


def apply_orientation(array: np.ndarray, orientation: int) -> np.ndarray:
    """Rotate/flip an H x W (x C) array the way ``ImageOps.exif_transpose`` would for this orientation."""
    transpose, turns, flip = _orientation_ops(orientation)
    if transpose:
        array = array.swapaxes(0, 1)
    if turns:
        array = np.rot90(array, turns)
    if flip:
        array = array[:, ::-1]
    return np.ascontiguousarray(array)


def undo_orientation(array: np.ndarray, orientation: int) -> np.ndarray:
    """The inverse of :func:`apply_orientation`: oriented pixels back to the file's stored layout."""
    transpose, turns, flip = _orientation_ops(orientation)
    if flip:
        array = array[:, ::-1]
    if turns:
        array = np.rot90(array, -turns)
    if transpose:
        array = array.swapaxes(0, 1)
    return np.ascontiguousarray(array)


def _clean_exif(im: Image.Image, fmt: str) -> tuple[int, bytes | None]:
    """(orientation, EXIF bytes with Orientation reset to 1), tolerating broken EXIF blocks."""
    try:
        exif = im.getexif()
        orientation = exif.get(ORIENTATION_TAG, 1)
        orientation = orientation if isinstance(orientation, int) else 1
        if fmt == "TIFF":
            # A TIFF's "EXIF" is its own structure (strip offsets, sizes...): rebuild from descriptive tags only.
            clean = Image.Exif()
            for tag in _TIFF_DESCRIPTIVE_TAGS:
                if tag in exif:
                    clean[tag] = exif[tag]
            for ifd in (_EXIF_IFD, _GPS_IFD):
                sub = exif.get_ifd(ifd)
                if sub:
                    clean.get_ifd(ifd).update(sub)
            exif = clean
            if not len(exif) and not exif.get_ifd(_EXIF_IFD):
                return orientation, None
        elif not im.info.get("exif") and not len(exif):
            return orientation, None
        if ORIENTATION_TAG in exif or orientation != 1:
            exif[ORIENTATION_TAG] = 1
        return orientation, exif.tobytes()
    except Exception:  # noqa: BLE001 - a corrupt EXIF block must not cost the image; drop it
        return 1, None


def _header_checks(im: Image.Image, max_pixels: int) -> None:
    width, height = im.size
    if width <= 0 or height <= 0:
        raise ImageError(f"invalid size {width}x{height}")
    if width * height > max_pixels:
        count, limit = _pixel_counts(width * height, max_pixels)
        raise ImageError(f"too many pixels: {width}x{height} = {count}, over the limit of {limit} (--max-pixels)")


def _pixel_counts(*counts: int) -> list[str]:
    """Pixel counts for a message, in megapixels to one decimal where that tells them apart, else exactly.

    ``--max-pixels 100`` is not "0.0 megapixels", and an image just over a limit must not read as equal to it.
    """
    megapixels = [f"{count / 1e6:.1f}" for count in counts]
    if min(counts) < 100_000 or len(set(megapixels)) < len(megapixels):
        return [f"{count:,} pixels" for count in counts]
    return [f"{text} megapixels" for text in megapixels]


def _float_gray(values: np.ndarray, notes: list[str]) -> np.ndarray:
    """Scale a float image to [0, 1]: kept as is when already there, else by the range its values suggest."""
    values = np.nan_to_num(values.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    if lo >= 0.0 and hi <= 1.0:
        notes.append("32-bit float image: values used as they are, written as 16-bit")
        return values
    scale = 255.0 if lo >= 0.0 and hi <= 255.0 else 65535.0 if lo >= 0.0 and hi <= 65535.0 else None
    if scale is None:
        notes.append(f"32-bit float image: values {lo:g}..{hi:g} stretched to the full range, written as 16-bit")
        return (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
    notes.append(f"32-bit float image: values divided by {scale:g}, written as 16-bit")
    return np.clip(values / scale, 0.0, 1.0)


def _file_format(im: Image.Image) -> str:
    """Pillow's name for the file's format, with an MPO named as the JPEG it is: cameras and phones add previews or
    depth maps as extra frames after a baseline JPEG, whose tables, pixels and bytes are what every JPEG step
    (the analysis, the quantisation constraint, a byte copy) reads."""
    return "JPEG" if im.format == "MPO" else (im.format or "?")


def _frame_count(im: Image.Image, fmt: str) -> int | None:
    """Frames in the file; None when a later frame is too damaged to count (the first may still be fine).

    Counting walks every frame's header (every TIFF directory), so it meets damage the first frame does not
    have: Pillow then raises TypeError, KeyError, struct.error... (found by tests/test_fuzz.py).
    """
    try:
        if not (fmt == "TIFF" or getattr(im, "is_animated", False)):
            return 1
        return int(getattr(im, "n_frames", 1))
    except Exception:  # noqa: BLE001
        return None


def _rawmode(im: Image.Image) -> str:
    """How the file stores its pixels (e.g. "RGB;16B"), known only before ``load()`` clears the tiles."""
    if not im.tile:
        return ""
    args = im.tile[0][3]
    return str(args[0] if isinstance(args, tuple) and args else args or "")


def _unsigned_32(im: Image.Image) -> bool:
    """A TIFF of 32-bit unsigned integers (SampleFormat 1, the default), which Pillow decodes into mode I."""
    tags = getattr(im, "tag_v2", None)
    if tags is None:
        return False
    sample_format = tags.get(339, 1)
    sample_format = sample_format[0] if isinstance(sample_format, tuple) else sample_format
    return tuple(tags.get(258, ())) == (32,) and sample_format == 1


def _to_arrays(im: Image.Image, notes: list[str]) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Decoded image -> (float32 H x W x C in [0, 1], alpha plane or None, bit depth)."""
    pixels, alpha, depth = _decoded_arrays(im, notes)
    # A colour key (PNG's tRNS) that no pixel has leaves nothing transparent: no alpha plane, as the file has none.
    keyed = im.mode in ("L", "RGB") or im.mode.startswith("I;16")
    if alpha is not None and keyed and "transparency" in im.info and _opaque(alpha):
        alpha = None
    return pixels, alpha, depth


def _decoded_arrays(im: Image.Image, notes: list[str]) -> tuple[np.ndarray, np.ndarray | None, int]:
    mode = im.mode
    if mode == "CMYK":
        notes.append("CMYK image: converted to RGB")
        im = im.convert("RGB")
    elif mode == "1":
        notes.append("1-bit image: restored as 8-bit grayscale")
        im = im.convert("L")
    elif mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in im.info
        im = im.convert("RGBA" if has_alpha else "RGB")
    elif mode in ("RGBa", "La"):
        im = im.convert(mode.upper())
    elif mode in ("L", "RGB") and "transparency" in im.info:
        im = im.convert(mode + "A")  # a colour key (PNG's tRNS): the pixels of that value are transparent
    elif mode in ("RGBX", "YCbCr"):
        im = im.convert("RGB")
    mode = im.mode

    if mode == "RGB":
        return np.asarray(im, dtype=np.float32) / 255.0, None, 8
    if mode == "RGBA":
        rgba = np.asarray(im)
        return rgba[..., :3].astype(np.float32) / 255.0, rgba[..., 3].copy(), 8
    if mode == "L":
        return (np.asarray(im, dtype=np.float32) / 255.0)[..., None], None, 8
    if mode == "LA":
        la = np.asarray(im)
        return (la[..., :1].astype(np.float32) / 255.0), la[..., 1].copy(), 8
    if mode.startswith("I;16"):
        values = np.asarray(im)
        key = im.info.get("transparency")  # a 16-bit gray PNG's colour key
        alpha = np.where(values == key, 0, 65535).astype(np.uint16) if isinstance(key, int) else None
        return (values.astype(np.float32) / 65535.0)[..., None], alpha, 16
    if mode == "I":
        values = np.asarray(im)
        if _unsigned_32(im):  # Pillow reads it as signed ("I;32N"): every value from 2**31 up comes out negative
            values = values.view(np.uint32)
        lo, hi = int(values.min()), int(values.max())
        if lo < 0 or hi > 65535:
            notes.append(f"32-bit integer image: values {lo}..{hi} stretched to 16 bits")
            gray = (values.astype(np.float64) - lo) / max(hi - lo, 1)
            return gray.astype(np.float32)[..., None], None, 16
        return (values.astype(np.float32) / 65535.0)[..., None], None, 16
    if mode == "F":
        return _float_gray(np.asarray(im), notes)[..., None], None, 16
    raise ImageError(f"unsupported image mode {mode}")


def read_image(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS, digest: bool = False) -> LoadedImage:
    """Decode ``path`` by content (JPEG, PNG, WebP, TIFF, BMP, GIF, AVIF) into a :class:`LoadedImage`.

    ``digest``: also hash the bytes decoded (``LoadedImage.digest``), for :func:`copy_image` to copy only those.

    Raises :class:`ImageError` with a one-line reason for anything that is not a readable image within limits.
    """
    path = Path(path)
    if max_pixels > (Image.MAX_IMAGE_PIXELS or max_pixels):
        Image.MAX_IMAGE_PIXELS = max_pixels  # let our own (checked) limit be the one that decides
    notes: list[str] = []
    with _open_regular(path) as fp:
        source = file_identity(os.fstat(fp.fileno()))
        try:
            im = Image.open(fp, formats=SUPPORTED_FORMATS)
        except Image.DecompressionBombError:
            raise ImageError(f"too many pixels: over the limit of {_pixel_counts(max_pixels)[0]} "
                             "(--max-pixels)") from None
        except Image.UnidentifiedImageError:
            kind = _signature(fp)
            if kind is not None:  # Pillow says "cannot identify" also for a known format with a broken header
                raise ImageError(_unopened(fp, kind)) from None
            raise _no_image(fp) from None
        except Exception as exc:  # noqa: BLE001 - hostile headers raise all sorts; each becomes one line
            raise ImageError(f"cannot decode: {_reason(exc)}") from None
        with im:
            fmt = _file_format(im)
            _header_checks(im, max_pixels)
            frames = _frame_count(im, fmt)
            if frames != 1:
                notes.append(f"multi-frame file ({frames} frames): used the first frame" if frames else
                             "multi-frame file with damaged later frames: used the first frame")
                try:
                    im.seek(0)
                except Exception as exc:  # noqa: BLE001
                    raise ImageError(f"cannot decode: {_reason(exc)}") from None
            if im.mode in ("RGB", "RGBA", "LA") and "16" in _rawmode(im):
                # Pillow has no 16-bit colour modes (nor gray with alpha): say so rather than pretend the depth
                # was kept. Shown only where the output is encoded from these pixels, not for a byte copy.
                kind = "grayscale image with alpha" if im.mode == "LA" else "colour image"
                notes.append(f"16-bit {kind}: Pillow decodes it to 8 bits per channel, so the output is 8-bit")
                if im.mode == "RGB" and "transparency" in im.info:
                    # Its colour key names 16-bit values, which the 8-bit pixels cannot match exactly: no key
                    # rather than pixels made transparent by chance.
                    del im.info["transparency"]
                    notes.append("colour key (transparency) of a 16-bit colour PNG dropped: it names 16-bit values")
            try:
                im.load()
            except Exception as exc:  # noqa: BLE001 - truncated/corrupt data: refuse, never half an image
                closed = _whole_without_eoi(fp) if fmt == "JPEG" else None
                if closed is None:
                    reason = _reason(exc)
                    if reason.startswith("decoder error"):  # Pillow's bare status code ("decoder error -2")
                        reason = f"damaged image data ({reason})"
                    raise ImageError(f"cannot decode: {reason}") from None
                im = closed
                notes.append("JPEG without its end marker (EOI): its image data is complete")
            source_mode = im.mode
            orientation, exif = _clean_exif(im, fmt)
            jpeg = read_jpeg_info(im, orientation) if fmt == "JPEG" else None
            webp = read_webp_info(fp) if fmt == "WEBP" else None
            icc = im.info.get("icc_profile") or None
            packet = xmp.read(im.info)
            resources, extension, comments = _unwritten_metadata(im, fmt, packet, notes)
            dpi = _clean_dpi(im.info.get("dpi"))
            try:
                pixels, alpha, bit_depth = _to_arrays(im, notes)
            except ImageError:
                raise
            except Exception as exc:  # noqa: BLE001
                raise ImageError(f"cannot convert {source_mode} pixels: {_reason(exc)}") from None
        content = _digest(fp, source) if digest else None
    if source_mode == "CMYK":
        icc = None  # a CMYK profile would mislabel the RGB pixels we now hold
    if orientation != 1:
        pixels = apply_orientation(pixels, orientation)
        alpha = apply_orientation(alpha, orientation) if alpha is not None else None
        packet = xmp.upright(packet) if packet is not None else None
    return LoadedImage(src=path, format=fmt, pixels=np.ascontiguousarray(pixels, dtype=np.float32), alpha=alpha,
                       bit_depth=bit_depth, mode=source_mode, exif=exif, icc_profile=icc, dpi=dpi, digest=content,
                       notes=tuple(notes), jpeg=jpeg, orientation=orientation, xmp=packet, source=source,
                       webp=webp, photoshop=resources, xmp_extension=extension, comments=comments)


def _unwritten_metadata(im: Image.Image, fmt: str, packet: bytes | None, notes: list[str]
                        ) -> tuple[bytes | None, tuple[bytes, ...], tuple[bytes, ...]]:
    """(Photoshop's image resources, extended XMP segments, comments) of a JPEG, or a TIFF's image resources:
    what Pillow reads from a file but would not write into its output."""
    try:
        if fmt == "TIFF":
            return photoshop.kept(photoshop.from_tiff(im.tag_v2), notes), (), ()
        if fmt != "JPEG":
            return None, (), ()
        applist = getattr(im, "applist", [])  # every APPn and COM segment before the image data, in file order
        return (photoshop.kept(photoshop.from_jpeg(applist), notes), xmp.extension(applist, packet, notes),
                tuple(payload for name, payload in applist if name == "COM"))
    except Exception:  # noqa: BLE001 - damaged metadata must not cost the image (a TIFF tag Pillow cannot decode)
        notes.append("IPTC and Photoshop metadata, extended XMP and comments dropped: they cannot be read")
        return None, (), ()


def _digest(fp: Any, source: tuple[int, int, int, int]) -> bytes | None:
    """sha256 of the open file's bytes, as decoded; None where the file changed while it was decoded."""
    fp.seek(0)
    hashed = hashlib.sha256()
    while chunk := fp.read(1 << 20):
        hashed.update(chunk)
    return hashed.digest() if file_identity(os.fstat(fp.fileno())) == source else None


NOT_AN_IMAGE = "not a supported image (JPEG, PNG, WebP, AVIF, TIFF, BMP or GIF)"
_SIGNATURES = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
               (b"II*\0", "TIFF"), (b"MM\0*", "TIFF"), (b"II+\0", "TIFF"), (b"MM\0+", "TIFF"))


def _whole_without_eoi(fp: Any) -> Image.Image | None:
    """The decoded image of a JPEG that lacks only its end marker, or None (see facerestore.jpeg_eoi)."""
    fp.seek(0)
    closed = closed_copy(fp.read())
    if closed is None:
        return None
    im = Image.open(io.BytesIO(closed), formats=("JPEG",))
    im.load()
    return im


def sniff_format(path: Path) -> str:
    """The image format that starts ``path`` (its magic number), without decoding anything: for plans.

    Raises :class:`ImageError` for what is not a supported image, an empty file or one that cannot be opened.
    """
    with _open_regular(Path(path)) as fp:
        kind = _signature(fp)
        if kind is None:
            raise _no_image(fp)
    return kind


def _no_image(fp: Any) -> ImageError:
    """The refusal of a file that starts as no format read: said as the photo format it is where its first bytes
    name one facerestore does not read (a HEIC saved as .jpg), else ``NOT_AN_IMAGE``."""
    try:
        fp.seek(0)
        family = unread_formats.by_content(fp.read(32))
    except OSError:
        family = None
    return UnreadFormatError(unread_formats.not_read(family)) if family else ImageError(NOT_AN_IMAGE)


def _signature(fp: Any) -> str | None:
    """The allowed format whose magic number starts the file, or None (for a clearer refusal message)."""
    try:
        fp.seek(0)
        head = fp.read(32)
    except OSError:
        return None
    for magic, kind in _SIGNATURES:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[4:8] == b"ftyp" and _avif_brand(head):
        return "AVIF"
    if head[:2] == b"BM" and len(head) >= 18 and int.from_bytes(head[14:18], "little") in (12, 40, 52, 56, 64,
                                                                                           108, 124):
        return "BMP"  # "BM" alone starts too many text files; the DIB header size makes it a real guess
    return None


_AVIF_BRANDS = (b"avif", b"avis")


def _avif_brand(head: bytes) -> bool:
    """An ISO media file's ``ftyp`` box (in ``head``, the file's first bytes) names AVIF: as its major brand, or
    among the compatible brands of a plain HEIF one (a HEIC photo names ``heic`` there instead)."""
    if head[8:12] in _AVIF_BRANDS:
        return True
    box = head[:min(int.from_bytes(head[:4], "big"), len(head))]
    return head[8:12] in (b"mif1", b"msf1") and any(box[i:i + 4] in _AVIF_BRANDS for i in range(16, len(box) - 3, 4))


_SAMPLE_FORMATS = {1: "integer", 2: "signed integer", 3: "float"}


def _unopened(fp: Any, kind: str) -> str:
    """Why a file that starts as a ``kind`` Pillow reads cannot be opened: a variant its plugin does not decode,
    where the header says which (a 12-bit JPEG; a TIFF of float colour or 16-bit gray with alpha), else damage.

    ``Image.open`` says only "cannot identify image file" for both: asked alone, the plugin gives its reason.
    """
    plugin = {"JPEG": JpegImagePlugin.JpegImageFile, "TIFF": TiffImagePlugin.TiffImageFile}.get(kind)
    reason = ""
    try:
        if plugin is not None:
            fp.seek(0)
            plugin(fp).close()  # opened from our file object, which it leaves open
    except Exception as exc:  # noqa: BLE001 - the reason is all we want
        reason = str(exc)
    bits = re.fullmatch(r"cannot handle (\d+)-bit layers", reason)
    if bits and bits[1] in ("12", "16"):
        return f"{bits[1]}-bit JPEG: not supported (only 8-bit JPEGs can be decoded)"
    if kind == "TIFF" and reason == "unknown pixel mode":
        return f"TIFF of {_tiff_samples(fp)}: a pixel layout that cannot be decoded"
    if kind == "AVIF" and not AvifImagePlugin.SUPPORTED:  # Pillow built without libavif (its wheels have it)
        return "AVIF image: this installation's Pillow cannot decode AVIF (Pillow 11.3 or later from PyPI can)"
    return f"damaged {kind} file: its header cannot be read"


def _tiff_samples(fp: Any) -> str:
    """A TIFF's samples per pixel in words, from its first directory ("3 samples of 32-bit float per pixel")."""
    try:
        fp.seek(0)
        ifd = TiffImagePlugin.ImageFileDirectory_v2(fp.read(8))
        fp.seek(ifd.next)
        ifd.load(fp)
        bits = tuple(ifd.get(258, (1,)))
        count = int(ifd.get(277, len(bits)))
        sample_format = _SAMPLE_FORMATS.get(tuple(ifd.get(339, (1,)))[0], "unknown")
    except Exception:  # noqa: BLE001 - a directory Pillow could not read either
        return "an unknown sample layout"
    per_sample = f"{bits[0]}-bit {sample_format}" if len(set(bits)) == 1 else "/".join(map(str, bits)) + "-bit"
    return f"{count} sample{'s' if count != 1 else ''} of {per_sample} per pixel"


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def _clean_dpi(dpi: Any) -> tuple[float, float] | None:
    try:
        x, y = (float(v) for v in dpi)
    except (TypeError, ValueError):
        return None
    if not (np.isfinite(x) and np.isfinite(y) and x > 0 and y > 0):
        return None
    return (round(x, 3), round(y, 3))


# ---------------------------------------------------------------------------------------------------- writing

def _quantize(values: np.ndarray, maximum: int, dtype: type) -> np.ndarray:
    # fmax/fmin take the number over a NaN: NaN and -inf become 0, +inf becomes 1, in two passes.
    scaled = np.fmax(values, 0.0, dtype=np.float32)
    np.fmin(scaled, 1.0, out=scaled)
    scaled *= maximum
    return np.rint(scaled, out=scaled).astype(dtype)


def _alpha8(alpha: np.ndarray) -> np.ndarray:
    if alpha.dtype == np.uint8:
        return alpha
    return np.rint(alpha.astype(np.float32) / 257.0).astype(np.uint8)


def _opaque(alpha: np.ndarray) -> bool:
    """Every alpha value at its maximum for the plane's depth (255, or 65535 for 16 bits): no transparency."""
    return bool(np.all(alpha == np.iinfo(alpha.dtype).max))


def _build_image(pixels: np.ndarray, like: LoadedImage, fmt: str, notes: list[str]) -> Image.Image:
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 3):
        raise OutputError(f"cannot write an array of shape {pixels.shape}: expected H x W x 1 or 3")
    alpha = like.alpha
    if alpha is not None and alpha.shape != pixels.shape[:2]:
        raise OutputError(f"alpha plane {alpha.shape} does not match the image {pixels.shape[:2]}")
    if alpha is not None and fmt == "JPEG":
        if not _opaque(alpha):
            raise OutputError("JPEG cannot hold transparency; use --format png, webp or tiff")
        notes.append("fully opaque alpha channel: written without it (JPEG has none)")
        alpha = None
    gray = pixels.shape[2] == 1
    if gray and alpha is None and like.bit_depth == 16:
        if fmt in ("PNG", "TIFF"):
            return Image.fromarray(_quantize(pixels[..., 0], 65535, np.uint16))
        notes.append(f"{_FORMAT_NAMES.get(fmt, fmt)} cannot hold 16-bit grayscale: written with 8 bits")
    elif like.bit_depth == 16:
        notes.append("16-bit image with alpha: written with 8 bits per channel")
    planes = _quantize(pixels, 255, np.uint8)
    if alpha is not None:
        planes = np.concatenate([planes, _alpha8(alpha)[..., None]], axis=2)
    if gray:
        im = Image.fromarray(planes[..., 0]) if alpha is None else Image.fromarray(planes, "LA")
        # WebP has no gray at all, BMP no gray with alpha: the file holds colour, a change of mode the user did
        # not ask for, so it is named as the others are.
        if fmt == "WEBP" and alpha is None:
            notes.append("grayscale image: written as RGB (WebP has no grayscale)")
            im = im.convert("RGB")
        elif fmt in ("WEBP", "BMP") and alpha is not None:
            notes.append(f"grayscale image with alpha: written as RGBA ({_FORMAT_NAMES.get(fmt, fmt)} has no "
                         "grayscale with alpha)")
            im = im.convert("RGBA")
        return im
    return Image.fromarray(planes, "RGBA" if alpha is not None else "RGB")


# EXIF's pointers to its sub-directories: camera settings and dates (ExifIFD), GPS, interoperability.
_EXIF_SUB_IFDS = (0x8769, 0x8825, 0xA005)


def _has_sub_ifds(exif: bytes) -> bool:
    parsed = Image.Exif()
    try:
        parsed.load(exif)
    except Exception:  # noqa: BLE001 - unparseable EXIF: Pillow writes the bytes as they are
        return False
    return any(tag in parsed for tag in _EXIF_SUB_IFDS)


def output_quality(fmt: str, quality: int | None) -> int:
    """The quality a lossy output (a Pillow ``fmt`` in ``DEFAULT_QUALITY``) is written at: ``--quality``, else
    the format's default."""
    return int(quality if quality is not None else DEFAULT_QUALITY[fmt])


def _save_options(fmt: str, like: LoadedImage, quality: int | None, notes: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if fmt in DEFAULT_QUALITY:
        options["quality"] = output_quality(fmt, quality)
    if fmt == "JPEG":
        options["subsampling"] = 0  # 4:4:4: restored detail is lost again by halving the chroma
    if fmt == "TIFF":
        if like.exif and _has_sub_ifds(like.exif):
            # libtiff, which Pillow compresses TIFFs with, refuses EXIF's sub-directory pointers ("Error setting
            # from dictionary"): Pillow's own writer keeps them, uncompressed.
            notes.append("TIFF written uncompressed to keep its EXIF (camera settings, dates, GPS)")
        else:
            options["compression"] = "tiff_lzw"
    if like.exif and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        options["exif"] = like.exif
    if like.icc_profile and fmt == "WEBP" and like.icc_profile[16:20] == b"GRAY":
        # WebP has no gray: the pixels are stored as RGB, which a gray profile cannot describe (colour-managed
        # readers refuse such a pair), as the CMYK profile of a CMYK JPEG cannot describe its RGB pixels.
        notes.append("gray ICC profile dropped: WebP stores gray pixels as RGB, which it cannot describe")
    elif like.icc_profile and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        options["icc_profile"] = like.icc_profile
    if like.dpi and fmt in ("JPEG", "PNG", "TIFF", "BMP"):
        options["dpi"] = like.dpi
    if fmt == "BMP":
        notes += _dropped_by_bmp(like)
    options.update(xmp.save_options(fmt, _xmp_packet(fmt, like, notes), options.get("exif"), notes))
    return options


def _dropped_by_bmp(like: LoadedImage) -> list[str]:
    """Notes for the metadata a BMP output loses. Pillow's BMP writer takes a resolution alone; the format has no
    place for EXIF or XMP (extended XMP included), and the ICC profile a BITMAPV5HEADER could embed is not
    written (Pillow neither writes nor reads one). IPTC and comments are named by _added_segments."""
    keep = "write JPEG, PNG, WebP or TIFF to keep it"
    return [f"{kind} dropped: {reason}; {keep}" for kind, reason, present in (
        ("EXIF metadata", "BMP has no place for it", like.exif),
        ("XMP metadata", "BMP has no place for it", like.xmp),
        ("ICC profile", "BMP outputs are written without one", like.icc_profile)) if present]


def _xmp_packet(fmt: str, like: LoadedImage, notes: list[str]) -> bytes | None:
    """The XMP packet a ``fmt`` output gets: ``like``'s, with its extended XMP merged in where the output's XMP is
    one packet (a JPEG output keeps the extension's own segments: see _added_segments)."""
    if not like.xmp_extension or like.xmp is None or fmt not in ("PNG", "WEBP", "TIFF"):
        return like.xmp  # a BMP loses the main packet too, named by _dropped_by_bmp
    try:
        packet = xmp_merge.merged(like.xmp, like.xmp_extension)
    except ValueError as exc:
        size = xmp.extension_size(like.xmp_extension)
        notes.append(f"extended XMP dropped ({size:,} bytes beside the main packet): {exc}")
        return like.xmp
    # The main packet was turned upright when read; what the extension says of the orientation must agree.
    return xmp.upright(packet) if like.orientation != 1 else packet


def _with_split_xmp(fmt: str, like: LoadedImage, notes: list[str]) -> LoadedImage:
    """``like`` as a JPEG output carries it: an XMP packet larger than a JPEG's XMP segment (a TIFF's, or one
    merged from extended XMP) split into a main packet and extended XMP, which the output writes as it writes
    a JPEG input's; where it cannot be split, without its XMP, named in a note."""
    if fmt != "JPEG" or like.xmp is None or like.xmp_extension or len(like.xmp) <= xmp.JPEG_MAX:
        return like
    try:
        packet, extension = xmp_split.split(like.xmp)
    except ValueError as exc:
        notes.append(f"XMP metadata dropped: {len(like.xmp):,} bytes do not fit in a JPEG's XMP segment, and "
                     f"cannot be split into extended XMP: {exc}")
        return replace(like, xmp=None)
    return replace(like, xmp=packet, xmp_extension=extension)


def _added_segments(fmt: str, like: LoadedImage, options: dict[str, Any], notes: list[str]) -> list[tuple[int, bytes]]:
    """The metadata of ``like`` that Pillow's writers leave out, where ``fmt`` has a place for it: (marker, payload)
    segments to add to a JPEG (Photoshop's APP13, extended XMP, comments); the IPTC and Photoshop tags of a TIFF,
    put into ``options``. For each that the format cannot hold, a note names what was dropped."""
    name = _FORMAT_NAMES.get(fmt, fmt)
    segments: list[tuple[int, bytes]] = []
    if like.xmp_extension:
        # Carried unchanged, so its GUID (the MD5 of the extended packet) still holds, and only with a main packet
        # that still names it: xmp.upright edits the orientation alone, never xmpNote:HasExtendedXMP.
        guid = xmp.extension_guid(options.get("xmp"))
        if fmt == "JPEG" and guid is not None and guid == xmp.extension_guid(like.xmp):
            segments += [(APP1, payload) for payload in like.xmp_extension]
        elif fmt == "JPEG":
            notes.append("extended XMP dropped: the main XMP packet that names it was not written")
    if like.photoshop and fmt == "JPEG":
        segments += [(APP13, payload) for payload in photoshop.jpeg_payloads(like.photoshop)]
    elif like.photoshop and fmt == "TIFF":
        tags = xmp.exif_tags(options.get("exif"))
        tags.update(photoshop.tiff_tags(like.photoshop))
        options["exif"] = tags
    elif like.photoshop:
        notes.append(photoshop.dropped(like.photoshop, name))
    if like.comments and fmt == "JPEG":
        segments += [(COM, comment) for comment in like.comments]
    elif like.comments and fmt == "PNG":
        # PNG's own "Comment" keyword: in an iTXt chunk (UTF-8), beside the XMP packet's if there is one. A
        # comment's bytes carry no encoding; those that are not UTF-8 are read as Latin-1, as tEXt is.
        chunk = options.setdefault("pnginfo", PngImagePlugin.PngInfo())
        for comment in like.comments:
            try:
                text = comment.decode("utf-8")
            except UnicodeDecodeError:
                text = comment.decode("latin-1")
            chunk.add_itxt("Comment", text.rstrip("\0"))
    elif like.comments:
        notes.append("JPEG comment dropped: only a JPEG or PNG output keeps it")
    return segments


def resolve_format(dst: Path, like: LoadedImage, fmt: str | None) -> str:
    """The output's Pillow format: ``fmt`` if given; else the source's own (by content) when ``dst`` carries the
    source's suffix or none we know; else what ``dst``'s suffix says.

    An output named after its input (``enhance`` without ``--format``) has only the input's name for a suffix,
    and a name never decides a format: a PNG called ``x.jpg`` stays a PNG called ``x.jpg`` (and, left unchanged,
    a byte copy). A suffix unlike the input's was chosen for the output, and is followed. An unknown ``fmt``
    raises :class:`facerestore.errors.UsageError`, as it does wherever a format is named.
    """
    if fmt is not None:
        return output_format(fmt).pillow
    suffix = Path(dst).suffix.lower()
    by_suffix = format_for_suffix(suffix)
    if by_suffix is None or suffix == Path(like.src).suffix.lower():
        return like.format if like.format in WRITABLE_FORMATS else "PNG"  # GIF: its palette would not hold a photo
    return by_suffix.pillow


def _write_reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        known = {errno.ENOSPC: "no space left on device", errno.EROFS: "read-only file system",
                 errno.EACCES: "permission denied", errno.EPERM: "permission denied",
                 errno.EDQUOT: "disk quota exceeded", errno.ENAMETOOLONG: "path too long for the file system"}
        return known.get(exc.errno, exc.strerror or _reason(exc))
    return _reason(exc)


def _is_fatal(exc: BaseException) -> bool:
    """No later output can be written either: stop the run rather than fail every remaining file."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


def output_error(action: str, exc: BaseException) -> OutputError:
    """``exc`` raised while doing ``action`` ("cannot write X") as an :class:`OutputError` with a plain reason,
    fatal where no later output could be written either."""
    return OutputError(f"{action}: {_write_reason(exc)}", fatal=_is_fatal(exc))


def make_folder(folder: Path) -> None:
    """Create ``folder`` and its parents if missing; :class:`OutputError` naming it otherwise."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(f"cannot create the folder {folder}", exc) from None


def _save_bmp_with_alpha(image: Image.Image, fh: Any, dpi: tuple[float, float] | None) -> None:
    """An RGBA image as a 32-bit BMP whose header declares the alpha: a BITMAPV4HEADER with BI_BITFIELDS masks.

    Pillow writes RGBA into a plain BITMAPINFOHEADER, where the fourth byte of each pixel is padding by the
    format's definition: the transparency is in the file, and every reader (Pillow's included) drops it.
    """
    width, height = image.size
    ppm = [int(value * 39.3701 + 0.5) for value in (dpi or (96.0, 96.0))]  # dots per metre, as Pillow writes them
    pixels = np.ascontiguousarray(np.asarray(image)[::-1, :, [2, 1, 0, 3]]).tobytes()  # rows bottom-up, BGRA
    info = struct.pack("<IiiHHIIiiII4II36x3I", 108, width, height, 1, 32, 3, len(pixels), ppm[0], ppm[1], 0, 0,
                       0x00FF0000, 0x0000FF00, 0x000000FF, 0xFF000000, 0x73524742, 0, 0, 0)  # ..., LCS_sRGB
    fh.write(b"BM" + struct.pack("<IHHI", 14 + len(info) + len(pixels), 0, 0, 14 + len(info)) + info)
    fh.write(pixels)


def write_image(dst: Path, pixels: np.ndarray, like: LoadedImage, fmt: str | None = None,
                quality: int | None = None, mtime: float | None = None) -> tuple[str, ...]:
    """Encode ``pixels`` (float32 H x W x C in [0, 1]) to ``dst`` atomically, carrying ``like``'s metadata.

    The format is :func:`resolve_format`'s. 16-bit grayscale sources give 16-bit PNG/TIFF; the alpha plane is
    re-attached untouched (JPEG cannot hold transparency: ``OutputError``; a fully opaque plane is dropped, with
    a note). The file's modification time is set to ``mtime`` when given. Returns notes about anything
    the format could not keep. Raises :class:`OutputError` (:class:`UsageError` for an unknown ``fmt``); no
    temporary file survives a failure (:func:`facerestore.atomic.write_atomic`).
    """
    dst = Path(dst)
    pil_format = resolve_format(dst, like, fmt)
    notes: list[str] = []
    image = _build_image(np.asarray(pixels, dtype=np.float32), like, pil_format, notes)
    like = _with_split_xmp(pil_format, like, notes)
    options = _save_options(pil_format, like, quality, notes)
    segments = _added_segments(pil_format, like, options, notes)
    make_folder(dst.parent)

    def encode(fh: Any) -> None:
        if pil_format == "BMP" and image.mode == "RGBA":
            _save_bmp_with_alpha(image, fh, options.get("dpi"))
        elif segments:
            encoded = io.BytesIO()
            image.save(encoded, format=pil_format, **options)
            fh.write(insert_segments(encoded.getvalue(), segments))
        else:
            image.save(fh, format=pil_format, **options)

    try:
        write_atomic(dst, encode, fsync=True, mtime=mtime)
    except Exception as exc:  # KeyboardInterrupt & co. keep their meaning (the temporary is gone either way)
        raise output_error(f"cannot write {dst}", exc) from None
    return tuple(notes)


def copy_image(src: Path, dst: Path, mtime: float | None = None,
               expect: tuple[int, int, int, int] | None = None, digest: bytes | None = None) -> None:
    """Copy ``src``'s bytes to ``dst`` atomically: an output identical to its input, metadata and all.

    ``expect`` is the source's :func:`file_identity` when it was decoded (``LoadedImage.source``): a source
    that vanished, became a FIFO or other special file, or was replaced, truncated or rewritten since is an
    :class:`ImageError` naming that (never blocking, never a copy of other bytes under the output's name).
    ``digest`` (``LoadedImage.digest``): the bytes copied are compared with those decoded, so a file whose
    modification time alone changed (``touch``) is still copied, and one rewritten within the same timestamp is
    not. Raises :class:`OutputError` like :func:`write_image` for the output's side.
    """
    dst = Path(dst)
    source = _open_regular(Path(src), expect, by_content=digest is not None)  # ImageError: the input's fault

    def copy(fh: Any) -> None:
        copied = 0
        hashed = hashlib.sha256() if digest is not None else None
        while chunk := source.read(1 << 20):
            fh.write(chunk)
            copied += len(chunk)
            if hashed is not None:
                hashed.update(chunk)
        st = os.fstat(source.fileno())
        # Changed while being copied, or before: the temporary is removed.
        if hashed is not None and hashed.digest() != digest:
            raise ImageError(_changed(expect, st) if expect is not None else "the file changed since it was read")
        if hashed is None and expect is not None and (copied != expect[2] or file_identity(st) != expect):
            raise ImageError(_changed(expect, st))

    try:
        with source:
            write_atomic(dst, copy, fsync=True, mtime=mtime)
    except ImageError:
        raise
    except Exception as exc:  # as in write_image
        raise output_error(f"cannot write {dst}", exc) from None
