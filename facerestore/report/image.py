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
from PIL import Image, ImageOps

from facerestore import charts, metrics
from facerestore.discovery import IMAGE_SUFFIXES
from facerestore.errors import FaceRestoreError, ImageError, OutputError

from . import json_number, report_files

log = logging.getLogger(__name__)

PREVIEW_SIDE = 640  # the before/after slider images
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
    if exact.is_file():
        return exact
    for suffix in sorted(IMAGE_SUFFIXES):
        for variant in (suffix, suffix.upper()):
            candidate = exact.with_suffix(variant)
            if candidate.is_file():
                return candidate
    return None


def _pixels(image: Any) -> np.ndarray:
    """Pixels of a LoadedImage-like object, or the array itself."""
    return np.asarray(getattr(image, "pixels", image))


def read_pixels(path: Path) -> np.ndarray:
    """Decode an image (via facerestore.imageio: EXIF orientation, 16-bit, gray kept) to H x W x C floats."""
    try:
        from facerestore.imageio import read_image
    except ImportError:  # pragma: no cover - imageio is part of the package; kept for partial checkouts
        try:
            with Image.open(path) as im:
                im = ImageOps.exif_transpose(im)
                gray = im.mode in ("L", "I;16", "I", "1")
                arr = np.asarray(im.convert("L" if gray else "RGB"), dtype=np.float32) / 255.0
        except OSError as exc:
            raise ImageError(f"{path}: {exc}") from exc
        return arr[..., None] if arr.ndim == 2 else arr
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


def image_metrics(levels_in: np.ndarray, levels_out: np.ndarray, levels_ref: np.ndarray | None,
                  hists: dict[str, list[np.ndarray]] | None = None) -> dict[str, float]:
    """Flat metrics of one image (8-bit levels); infinite PSNRs stay ``inf`` here.

    Keys: ``gaps``, ``levels``, ``spikiness``, ``peak_ratio``, ``entropy`` each with ``_in``/``_out``
    (channel means), and with a reference ``psnr``, ``ssim``, ``w1`` with ``_in``/``_out``.
    """
    hists = hists if hists is not None else {}
    h_in = hists.setdefault("in", metrics.channel_histograms(levels_in))
    h_out = hists.setdefault("out", metrics.channel_histograms(levels_out))
    result: dict[str, float] = {}
    for tag, h in (("in", h_in), ("out", h_out)):
        for key, value in metrics.mean_stats(h).items():
            result[f"{key}_{tag}"] = value
    if levels_ref is not None:
        ref_hists: dict[int, list[np.ndarray]] = {}
        for tag, image, h in (("in", levels_in, h_in), ("out", levels_out, h_out)):
            a, ref = comparable(image, levels_ref)
            h_a = h if a is image else metrics.channel_histograms(a)
            h_ref = ref_hists.setdefault(ref.shape[-1], metrics.channel_histograms(ref))
            result[f"psnr_{tag}"] = metrics.psnr(a, ref)
            result[f"ssim_{tag}"] = metrics.ssim(a, ref)
            result[f"w1_{tag}"] = metrics.mean_wasserstein(h_a, h_ref)
        if levels_ref.shape[-1] == levels_in.shape[-1]:
            hists["ref"] = ref_hists[levels_ref.shape[-1]]
        else:
            hists["ref"] = metrics.channel_histograms(levels_ref)
    return result


def _reference_levels(reference: Any, shape: tuple[int, ...], name: str) -> np.ndarray | None:
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
    levels_in = as_levels(_pixels(loaded))
    levels_out = as_levels(np.asarray(restored))
    name = str(getattr(job, "rel", "") or getattr(job, "dst", ""))
    levels_ref = _reference_levels(reference, levels_in.shape, name)
    hists: dict[str, list[np.ndarray]] = {}
    values = image_metrics(levels_in, levels_out, levels_ref, hists)

    files = report_files(job.dst, report_dir.parent)
    out_root = report_dir.parent
    states = ([(LABEL_REFERENCE, hists["ref"])] if "ref" in hists else []) + [
        (LABEL_INPUT, hists["in"]), (LABEL_OUTPUT, hists["out"])]
    try:
        charts.histogram_panels_from_histograms(states, out_root / files.histogram)
        before = charts.fit(charts.to_display(levels_in), PREVIEW_SIDE)
        after = charts.fit(charts.to_display(levels_out), PREVIEW_SIDE)
        panels = [("Input", before), ("Output", after)]
        if levels_ref is not None:
            panels.append(("Reference", charts.fit(charts.to_display(levels_ref), PREVIEW_SIDE)))
        charts.comparison_image(panels, out_root / files.comparison, max_side=COMPARISON_SIDE)
        charts.save_image(before, out_root / files.before)
        charts.save_image(after, out_root / files.after)
        charts.save_image(charts.fit(after, THUMB_SIDE), out_root / files.thumbnail)
    except OSError as exc:
        raise OutputError(f"cannot write the report of {name}: {exc}") from exc
    return {key: json_number(value) for key, value in values.items()}
