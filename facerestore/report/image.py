"""The per-image report: statistics, histogram chart, comparison strip, slider previews and thumbnail.

Works on the arrays already in memory (the decoded input and the restored output), quantised to 8-bit
levels, so the numbers are those of the files a viewer sees and nothing is decoded twice.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from facerestore import charts, metrics
from facerestore.discovery import IMAGE_SUFFIXES
from facerestore.errors import FaceRestoreError
from facerestore.formats import format_for_pillow
from facerestore.imageio import copy_image, output_error, sniff_format
from facerestore.summary import json_number

from . import ReportFiles, report_files

log = logging.getLogger(__name__)

# The before/after slider images (lossless PNG): native pixels up to this side, so the page's 1:1 view is
# the image's own pixels for face photos, while a 24-megapixel file still costs a few MB, not tens.
PREVIEW_SIDE = 1024
COMPARISON_SIDE = 512  # each panel of the labelled comparison strip
THUMB_SIDE = 128

LABEL_REFERENCE, LABEL_INPUT, LABEL_OUTPUT = "Original (reference)", "Degraded input", "Enhanced output"


def match_reference(job: Any, reference_dir: Path | None) -> Path | None:
    """The original of ``job`` in ``reference_dir``: same relative path, with any known image suffix.

    The exact name wins; otherwise the same stem with ``.png``, ``.jpg``... (either case), so JPEG inputs
    match PNG originals.
    """
    if reference_dir is None:
        return None
    rel = Path(job.rel)
    exact = Path(reference_dir) / rel
    # os.path.isfile, not Path.is_file: a name past the file system's limit (a long stem with a longer suffix) is
    # no match, where Path.is_file raises ENAMETOOLONG.
    if os.path.isfile(exact):
        return exact
    for suffix in sorted(IMAGE_SUFFIXES):
        for variant in (suffix, suffix.upper()):
            candidate = exact.with_suffix(variant)
            if os.path.isfile(candidate):
                return candidate
    return None


def _pixels(image: Any) -> np.ndarray:
    """Pixels of a LoadedImage-like object, or the array itself."""
    return np.asarray(getattr(image, "pixels", image))


def read_pixels(path: Path) -> np.ndarray:
    """Decode an image (via facerestore.imageio: EXIF orientation, 16-bit, gray kept) to H x W x C floats."""
    from facerestore.imageio import read_image

    return read_image(Path(path)).pixels


def as_levels(pixels: np.ndarray) -> np.ndarray:
    """8-bit H x W x C levels (gray kept as one channel)."""
    levels = metrics.to_uint8(pixels)
    return levels[..., None] if levels.ndim == 2 else levels


def comparable(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bring two images to the same channel count: mixed colour/gray pairs compare on luminance."""
    if a.shape[-1] == b.shape[-1]:
        return a, b
    return metrics.luminance(a)[..., None], metrics.luminance(b)[..., None]


class Reference:
    """The original that a photo's input and outputs are scored against (8-bit levels).

    What scoring against it needs of the reference alone (its histograms, SSIM's filtered planes) is computed
    once, on first use, for each form it is compared in: itself, or its luminance for a mixed colour/gray pair.
    """

    def __init__(self, levels: np.ndarray):
        self.levels = levels
        self._forms: dict[int, tuple[np.ndarray, list[np.ndarray], metrics.SsimReference]] = {}

    def _form(self, ref: np.ndarray) -> tuple[np.ndarray, list[np.ndarray], metrics.SsimReference]:
        channels = ref.shape[-1]
        if channels not in self._forms:
            self._forms[channels] = (ref, metrics.channel_histograms(ref), metrics.SsimReference(ref))
        return self._forms[channels]

    def histograms(self) -> list[np.ndarray]:
        """The reference's own channel histograms."""
        return self._form(self.levels)[1]

    def scores(self, levels: np.ndarray, hists: list[np.ndarray]) -> dict[str, float]:
        """``psnr``, ``ssim`` and ``w1`` of an image (with its channel histograms ``hists``) against the reference."""
        a, ref = comparable(levels, self.levels)
        ref, ref_hists, ssim = self._form(ref)
        h_a = hists if a is levels else metrics.channel_histograms(a)
        return {"psnr": metrics.psnr(a, ref), "ssim": ssim.score(a), "w1": metrics.mean_wasserstein(h_a, ref_hists)}


def state_metrics(levels: np.ndarray, reference: Reference | None = None,
                  hists: list[np.ndarray] | None = None) -> dict[str, float]:
    """The metrics of one image (8-bit levels), the same for a run's input and output and for each model of
    ``facerestore compare``; an infinite PSNR stays ``inf`` (JSON writers turn it into ``"inf"``).

    Keys: ``gaps``, ``levels``, ``spikiness``, ``peak_ratio``, ``entropy`` (means over channels), and with a
    reference of the same size ``psnr``, ``ssim`` and ``w1`` against it. ``hists`` are the image's channel
    histograms when already counted.
    """
    hists = hists if hists is not None else metrics.channel_histograms(levels)
    result = metrics.mean_stats(hists)
    if reference is not None:
        result.update(reference.scores(levels, hists))
    return result


def image_metrics(levels_in: np.ndarray, levels_out: np.ndarray, levels_ref: np.ndarray | None,
                  hists: dict[str, list[np.ndarray]] | None = None) -> dict[str, float]:
    """:func:`state_metrics` of the input and of the output, keys suffixed ``_in`` and ``_out``.

    ``hists`` receives the channel histograms of ``"in"``, ``"out"`` and ``"ref"`` (for the chart).
    """
    hists = hists if hists is not None else {}
    reference = Reference(levels_ref) if levels_ref is not None else None
    result: dict[str, float] = {}
    for tag, levels in (("in", levels_in), ("out", levels_out)):
        hists[tag] = metrics.channel_histograms(levels)
        for key, value in state_metrics(levels, reference, hists[tag]).items():
            result[f"{key}_{tag}"] = value
    if reference is not None:
        hists["ref"] = reference.histograms()
    return result


def reference_levels(reference: Any, shape: tuple[int, ...], name: str) -> np.ndarray | None:
    """The reference as 8-bit levels, or None (with a warning) when it is unreadable or another size."""
    if reference is None:
        return None
    try:
        pixels = read_pixels(Path(reference)) if isinstance(reference, (str, os.PathLike)) else _pixels(reference)
    except FaceRestoreError as exc:
        log.warning("%s: reference not used: %s", name, exc)
        return None
    levels = as_levels(pixels)
    if levels.shape[:2] != shape[:2]:
        log.warning("%s: reference is %dx%d, the input %dx%d: no reference metrics", name,
                    levels.shape[1], levels.shape[0], shape[1], shape[0])
        return None
    return levels


def input_as_preview(job: Any, loaded: Any, files: ReportFiles) -> str | None:
    """The suffix to copy the input file under when the input and output files themselves can be the slider's
    "before" and "after" (None: draw PNG previews).

    Copying a file costs nothing next to encoding two lossless previews (about 0.1 s at 1024 px, a third of
    BasicCNN's time). A browser shows the input file as the model saw it, and the output file as the user gets it,
    when both are 8-bit RGB or gray without alpha, one frame, not turned by EXIF, within ``PREVIEW_SIDE`` and in a
    format every browser shows; the output must also lie in the output folder so the page's link survives moving
    the folder. Both sides or neither: a browser colour-manages a file with an ICC profile, which a drawn preview
    does not carry, and a slider between the two kinds would show that as a change.
    """
    source = format_for_pillow(getattr(loaded, "format", ""))
    if source is None or not source.browser:
        return None
    if (loaded.mode not in ("RGB", "L") or loaded.bit_depth != 8 or loaded.alpha is not None or loaded.notes
            or loaded.orientation != 1 or max(loaded.width, loaded.height) > PREVIEW_SIDE):
        return None
    if files.key.parts[0] == "_external" or not os.path.isfile(job.dst):
        return None
    output = format_for_pillow(_content_format(Path(job.dst)))  # by content: the name need not say it
    if output is None or not output.browser:
        return None
    return source.suffix


def _content_format(path: Path) -> str:
    """The Pillow name of the format ``path`` holds by its first bytes ("" when none we read)."""
    try:
        return sniff_format(path).upper()  # "WebP" -> "WEBP"
    except FaceRestoreError:
        return ""


def write_image_report(job: Any, loaded: Any, restored: np.ndarray, reference: Any,
                       report_dir: Path) -> dict[str, float | str]:
    """Write the report files of one restored image and return its metrics for the JSON record.

    ``job`` has ``rel`` and ``dst`` (a :class:`facerestore.discovery.Job`); ``loaded`` is the decoded input
    (a ``LoadedImage`` or its pixel array); ``restored`` the model output (H x W x C floats in [0, 1]);
    ``reference`` the original (a path, a ``LoadedImage``, an array, or None); ``report_dir`` is
    ``OUTPUT/_facerestore_report``. Files are named by :func:`facerestore.report.report_files` of ``job.dst``.
    Returned values are floats, or ``"inf"`` for an infinite PSNR (JSON has no infinity).
    """
    report_dir = Path(report_dir)
    pixels = _pixels(loaded)
    # An image left unchanged is its own output: one conversion and one preview serve both (on a 12 MP photo they
    # were a third of the time enhance spends on one it copies).
    same = restored is pixels
    levels_in = as_levels(pixels)
    levels_out = levels_in if same else as_levels(np.asarray(restored))
    name = str(getattr(job, "rel", "") or getattr(job, "dst", ""))
    levels_ref = reference_levels(reference, levels_in.shape, name)
    hists: dict[str, list[np.ndarray]] = {}
    values = image_metrics(levels_in, levels_out, levels_ref, hists)

    files = report_files(job.dst, report_dir.parent)
    out_root = report_dir.parent
    copy_suffix = input_as_preview(job, loaded, files)
    states = ([(LABEL_REFERENCE, hists["ref"])] if "ref" in hists else []) + [
        (LABEL_INPUT, hists["in"]), (LABEL_OUTPUT, hists["out"])]
    try:
        charts.histogram_panels_from_histograms(states, out_root / files.histogram)
        before = charts.fit(charts.to_display(levels_in), PREVIEW_SIDE)
        after = before if same else charts.fit(charts.to_display(levels_out), PREVIEW_SIDE)
        panels = [("Input", before), ("Output", after)]
        if levels_ref is not None:
            panels.append(("Reference", charts.fit(charts.to_display(levels_ref), PREVIEW_SIDE)))
        charts.comparison_image(panels, out_root / files.comparison, max_side=COMPARISON_SIDE)
        if copy_suffix is not None:
            written = {files.input_copy(copy_suffix)}
            # Atomic: never half a preview; and never another file's bytes, should the input change meanwhile.
            copy_image(job.src, out_root / files.input_copy(copy_suffix), expect=getattr(loaded, "source", None),
                       digest=getattr(loaded, "digest", None))
        else:
            written = {files.before, files.after}
            charts.save_image(before, out_root / files.before)
            charts.save_image(after, out_root / files.after)
        # An earlier run's previews of the other kind would otherwise be what the page links.
        for stale in {files.before, files.after, *files.input_copies} - written:
            (out_root / stale).unlink(missing_ok=True)
        charts.save_image(charts.fit(after, THUMB_SIDE), out_root / files.thumbnail)
    except OSError as exc:  # the file (write_atomic names the destination, not its temporary) and the reason
        raise output_error(f"cannot write {exc.filename}" if exc.filename else f"cannot write the report of {name}",
                           exc) from exc
    return {key: json_number(value) for key, value in values.items()}
