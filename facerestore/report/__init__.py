"""Per-image report files and the per-run ``report.html``, ``summary.csv`` and ``summary.json``.

Everything a report writes lives under ``OUTPUT/_facerestore_report/`` (charts, comparisons, previews,
thumbnails, named after the output's path relative to ``OUTPUT``; a name that would pass 255 bytes is cut and
ends in a hash of the whole), with the three summary files at the top
of ``OUTPUT/``. Both the per-image stage and the run report derive file names from the output path with
:func:`report_files`, so a report can be rebuilt later from ``summary.json`` alone.

Infinite values (the PSNR of an output identical to its reference) are written as the string ``"inf"`` in
the metrics dictionaries, JSON and CSV (``float("inf")`` parses it back) and shown as ``∞`` in the HTML.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from facerestore.discovery import REPORT_DIR_NAME
from facerestore.formats import OUTPUT_FORMATS
from facerestore.summary import as_float, json_number

__all__ = ["REPORT_DIR_NAME", "ReportFiles", "report_files", "json_number", "as_float"]

_NAME_MAX = 255  # the longest file name (bytes) most file systems take


@dataclass(frozen=True)
class ReportFiles:
    """Where the report files of one output image live, as paths relative to the output folder."""

    key: PurePosixPath  # the output's path relative to the output folder (posix separators)

    def _named(self, suffix: str) -> PurePosixPath:
        name = self.key.name + suffix
        if len(os.fsencode(name)) > _NAME_MAX:
            # The output's own name may take the whole limit: its report files then keep its start and a hash of
            # the whole, so that none is past the limit and two such names cannot meet.
            digest = "~" + hashlib.sha1(os.fsencode(name)).hexdigest()[:12]
            stem = self.key.name
            while len(os.fsencode(stem + digest + suffix)) > _NAME_MAX:
                stem = stem[:-1]
            name = stem + digest + suffix
        return PurePosixPath(REPORT_DIR_NAME, self.key.parent, name)

    @property
    def histogram(self) -> PurePosixPath:
        return self._named(".hist.png")

    @property
    def comparison(self) -> PurePosixPath:
        return self._named(".compare.jpg")

    # The slider's previews are lossless: a JPEG preview would add its own artefacts to an artefact comparison.
    @property
    def before(self) -> PurePosixPath:
        return self._named(".in.png")

    @property
    def after(self) -> PurePosixPath:
        return self._named(".out.png")

    def input_copy(self, suffix: str) -> PurePosixPath:
        """The slider's "before" when it is the input file itself, copied under its format's suffix."""
        return self._named(".in" + suffix)

    @property
    def input_copies(self) -> tuple[PurePosixPath, ...]:
        """Every name :meth:`input_copy` may give: one per format a browser shows."""
        return tuple(self.input_copy(f.suffix) for f in OUTPUT_FORMATS if f.browser)

    @property
    def thumbnail(self) -> PurePosixPath:
        return self._named(".thumb.jpg")


def report_files(output: str | os.PathLike[str], output_dir: str | os.PathLike[str]) -> ReportFiles:
    """The report file names of ``output``: mirrored by its path under ``output_dir``.

    An output outside ``output_dir`` (e.g. written next to its input) gets ``_external/<hash>/<name>`` so two
    such files with the same name cannot collide.
    """
    out = os.path.abspath(output)
    root = os.path.abspath(output_dir)
    rel = os.path.relpath(out, root)
    if rel.startswith(os.pardir + os.sep) or rel == os.pardir or os.path.isabs(rel):
        digest = hashlib.sha1(os.path.dirname(out).encode("utf-8", "surrogateescape")).hexdigest()[:10]
        return ReportFiles(PurePosixPath("_external", digest, os.path.basename(out)))
    return ReportFiles(PurePosixPath(Path(rel).as_posix()))
