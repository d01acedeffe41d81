"""Photo formats facerestore does not read (HEIC/HEIF, JPEG XL, JPEG 2000, camera raw), known two ways: by a
file's suffix, for the one note a walk gives on the files it left alone (``discovery.unread_note``), and by its
first bytes, so a file whose name hides its format (a phone's HEIC saved as ``.jpg``) is refused as what it is,
not as "not a supported image".

Kept free of numpy and Pillow: the walk reads it for every file it passes.
"""

from __future__ import annotations

import os

RAW = "camera raw"
HEIF = "HEIC/HEIF"
JPEG_XL = "JPEG XL"
JPEG_2000 = "JPEG 2000"
# By suffix: a walk or list leaves these alone but counts them, so no part of an archive goes unread without a
# word. ``.raw`` is left out: it names too many things that are no photos.
UNREAD_PHOTO_FORMATS = {
    ".heic": HEIF, ".heif": HEIF, ".hif": HEIF, ".jxl": JPEG_XL, ".jp2": JPEG_2000, ".j2k": JPEG_2000,
    **dict.fromkeys((".3fr", ".arw", ".cr2", ".cr3", ".crw", ".dcr", ".dng", ".erf", ".fff", ".gpr", ".iiq", ".kdc",
                     ".mef", ".mos", ".mrw", ".nef", ".nrw", ".orf", ".pef", ".ptx", ".raf", ".rw2", ".rwl", ".sr2",
                     ".srf", ".srw", ".x3f"), RAW),
}

# By content. HEIF's brands for HEVC stills and sequences and the plain image-file ones (an AVIF names its own
# brand or lists it among the compatible ones, and is told apart before these are asked: imageio reads it).
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"})
_MAGIC = ((b"\xff\x0a", JPEG_XL), (b"\0\0\0\x0cJXL \r\n\x87\n", JPEG_XL),           # bare codestream, container
          (b"\0\0\0\x0cjP  \r\n\x87\n", JPEG_2000), (b"\xff\x4f\xff\x51", JPEG_2000),  # JP2 container, codestream
          (b"FUJIFILMCCD-RAW", RAW))                                                   # Fujifilm RAF


def by_suffix(name: str) -> str | None:
    """The photo format a file name's suffix stands for where facerestore does not read it ("camera raw"), or None."""
    return UNREAD_PHOTO_FORMATS.get(os.path.splitext(name)[1].lower())


def by_content(head: bytes) -> str | None:
    """The unread photo format whose signature starts ``head`` (a file's first 32 bytes or more), or None."""
    for magic, family in _MAGIC:
        if head.startswith(magic):
            return family
    if head[4:8] == b"ftyp":  # an ISO media file: its major brand says what it holds
        if head[8:12] == b"crx ":  # Canon CR3
            return RAW
        if head[8:12] in _HEIF_BRANDS:
            return HEIF
    return None


def not_read(family: str) -> str:
    """The one-line reason a file in an unread photo format fails."""
    return f"{family} photo: a format facerestore does not read (convert it to JPEG, PNG or TIFF first)"
