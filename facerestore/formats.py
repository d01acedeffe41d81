"""The output formats: the one table that ``--format``, output file names and the encoder all read.

Kept free of numpy and Pillow: the command line reads it to build ``--help``.
"""

from __future__ import annotations

from dataclasses import dataclass

from facerestore.errors import UsageError


@dataclass(frozen=True)
class OutputFormat:
    pillow: str                 # the encoder's name for it
    suffix: str                 # the suffix of outputs written in it
    names: tuple[str, ...]      # what ``fmt`` arguments accept (lower case); the first is its usual name
    suffixes: tuple[str, ...]   # file suffixes that stand for it (lower case)
    offered: bool = True        # listed by ``--format``
    browser: bool = False       # every web browser shows it in an <img> (the report links such files as they are)


OUTPUT_FORMATS = (
    OutputFormat("PNG", ".png", ("png",), (".png",), browser=True),
    OutputFormat("JPEG", ".jpg", ("jpeg", "jpg"), (".jpg", ".jpeg"), browser=True),
    OutputFormat("WEBP", ".webp", ("webp",), (".webp",), browser=True),
    OutputFormat("TIFF", ".tif", ("tiff", "tif"), (".tif", ".tiff")),
    # Written for BMP inputs, which keep their format; too poor a container to offer for others.
    OutputFormat("BMP", ".bmp", ("bmp",), (".bmp",), offered=False),
)
FORMAT_CHOICES = tuple(f.names[0] for f in OUTPUT_FORMATS if f.offered)  # ("png", "jpeg", "webp", "tiff")
WRITABLE_FORMATS = tuple(f.pillow for f in OUTPUT_FORMATS)

_BY_NAME = {name: f for f in OUTPUT_FORMATS for name in f.names}
_BY_SUFFIX = {suffix: f for f in OUTPUT_FORMATS for suffix in f.suffixes}
_BY_PILLOW = {f.pillow: f for f in OUTPUT_FORMATS}


def output_format(name: str) -> OutputFormat:
    """The format a ``--format`` value names (any case); :class:`UsageError` for one we cannot write."""
    try:
        return _BY_NAME[name.lower()]
    except KeyError:
        raise UsageError(f"unknown output format {name!r} (choose from {', '.join(FORMAT_CHOICES)})") from None


def format_for_suffix(suffix: str) -> OutputFormat | None:
    """The format a file suffix stands for (``".JPG"`` -> JPEG), or None."""
    return _BY_SUFFIX.get(suffix.lower())


def format_for_pillow(pillow: str) -> OutputFormat | None:
    """The format Pillow calls ``pillow`` (a decoded file's ``format``: ``"JPEG"``), or None (``"GIF"``)."""
    return _BY_PILLOW.get(pillow)
