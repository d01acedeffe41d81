"""Charts drawn with Pillow: histogram panels, comparison strips and learning curves.

No plotting library: matplotlib alone costs a second to import, more than a whole report. Fonts are Pillow's
built-in scalable default (no external assets), loaded once per size and cached. Histogram curves are drawn
as one polygon per channel from vectorised coordinates, so a chart costs a few milliseconds.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from . import metrics
from .atomic import write_atomic

BACKGROUND = (255, 255, 255)
INK = (34, 34, 34)
GRID = (225, 225, 225)
MUTED = (110, 110, 110)
CHANNEL_COLOURS = {"R": (220, 50, 47), "G": (40, 160, 60), "B": (38, 110, 210), "L": (60, 60, 60)}
SERIES_COLOURS = [(38, 110, 210), (220, 110, 30), (40, 160, 60), (150, 60, 180), (120, 120, 120)]

PANEL_W, PANEL_H = 380, 250
PLOT_MARGIN = (46, 40, 14, 50)  # left, top, right, bottom: room for the title, ticks and the stats line


@lru_cache(maxsize=8)
def font(size: int = 13) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's built-in font at ``size`` (cached: loading it is the only start-up cost of a chart)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def save_image(image: Image.Image, path: Path) -> Path:
    """Write a chart or preview: JPEG (quality 85) for ``.jpg``, fast-compressed (lossless) PNG otherwise.

    Atomically (:mod:`facerestore.atomic`): a full disk or a Ctrl-C mid-write leaves the previous file or none,
    never a broken image that a later run or page would take for a finished one.
    """
    path = Path(path)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        rgb = image.convert("RGB")
        write_atomic(path, lambda fh: rgb.save(fh, format="JPEG", quality=85, optimize=False))
    else:
        # zlib level 1: a 1024 px photo preview encodes in 0.047 s instead of 0.068 s at level 3 (8 % larger);
        # the report's PNGs are most of its per-image cost, which shows beside a fast model.
        write_atomic(path, lambda fh: image.save(fh, format="PNG", compress_level=1))
    return path


# --- histogram panels -----------------------------------------------------------------------------------

def _densities(hists: Sequence[np.ndarray]) -> tuple[list[str], list[np.ndarray]]:
    """Channel names and level densities (fraction of pixels per level) from channel histograms."""
    names = ["L"] if len(hists) == 1 else ["R", "G", "B"][: len(hists)]
    return names, [np.asarray(h, dtype=np.float64) / max(1, np.sum(h)) for h in hists]


def _shared_ceiling(all_densities: list[list[np.ndarray]]) -> float:
    """One y-axis for every panel, scaled to the smoothest state so its shape is readable.

    A posterized input's spikes can be 20x taller than a smooth photo's bins; scaling to them would flatten
    the panels that matter. Spikes above the ceiling are clipped and marked instead.
    """
    smooth = min(all_densities, key=lambda ds: max(metrics.histogram_stats(d).spikiness for d in ds))
    return 1.15 * max(float(d.max()) for d in smooth) or 1.0


def _plot_box(x0: int) -> tuple[int, int, int, int]:
    left, top, right, bottom = PLOT_MARGIN
    return x0 + left, top, PANEL_W - left - right, PANEL_H - top - bottom


def _curve(x0: int, density: np.ndarray, ceiling: float) -> list[tuple[float, float]]:
    px0, py0, pw, ph = _plot_box(x0)
    xs = px0 + np.arange(metrics.LEVELS) * (pw / (metrics.LEVELS - 1))
    ys = py0 + ph - np.minimum(density / ceiling, 1.0) * ph
    return list(zip(xs.tolist(), ys.tolist()))


def _draw_axes(draw: ImageDraw.ImageDraw, x0: int, title: str, ceiling: float) -> None:
    px0, py0, pw, ph = _plot_box(x0)
    draw.text((px0, 10), title, fill=INK, font=font(15))
    for frac in (0.25, 0.5, 0.75):
        y = py0 + ph - round(frac * ph)
        draw.line([(px0, y), (px0 + pw, y)], fill=GRID)
    for level in (0, 64, 128, 192, 255):
        x = px0 + round(level / 255 * pw)
        draw.line([(x, py0 + ph), (x, py0 + ph + 3)], fill=MUTED)
        label = str(level)
        draw.text((x - draw.textlength(label, font=font(11)) / 2, py0 + ph + 5), label, fill=MUTED, font=font(11))
    draw.text((x0 + 4, py0 - 6), f"{ceiling * 100:.2g}%", fill=MUTED, font=font(10))
    draw.rectangle([px0, py0, px0 + pw, py0 + ph], outline=MUTED)


def histogram_panels_from_histograms(states: Sequence[tuple[str, Sequence[np.ndarray]]], path: Path) -> Path:
    """:func:`histogram_panels` from channel histograms already computed (one 256-bin array per channel)."""
    if not states:
        raise ValueError("histogram_panels needs at least one image")
    prepared = [(label, *_densities(hists)) for label, hists in states]
    ceiling = _shared_ceiling([ds for _, _, ds in prepared])
    width = PANEL_W * len(prepared)
    canvas = Image.new("RGB", (width, PANEL_H), BACKGROUND)
    # Translucent fills first (one polygon per channel), then axes, curves and text on top.
    overlay = Image.new("RGBA", (width, PANEL_H), (0, 0, 0, 0))
    fills = ImageDraw.Draw(overlay)
    for i, (_, names, densities) in enumerate(prepared):
        px0, py0, pw, ph = _plot_box(i * PANEL_W)
        for name, d in zip(names, densities):
            fills.polygon([(px0, py0 + ph), *_curve(i * PANEL_W, d, ceiling), (px0 + pw, py0 + ph)],
                          fill=CHANNEL_COLOURS[name] + (55,))
    canvas.paste(overlay, mask=overlay)
    draw = ImageDraw.Draw(canvas)
    for i, (label, names, densities) in enumerate(prepared):
        x0 = i * PANEL_W
        _draw_axes(draw, x0, label, ceiling)
        px0, py0, pw, ph = _plot_box(x0)
        stats_parts = []
        for name, d in zip(names, densities):
            colour = CHANNEL_COLOURS[name]
            pts = _curve(x0, d, ceiling)
            draw.line(pts, fill=colour, width=1)
            for j in np.flatnonzero(d > ceiling).tolist():  # spikes taller than the axis: a tick above it
                draw.line([(pts[j][0], py0 - 5), (pts[j][0], py0 - 1)], fill=colour, width=1)
            st = metrics.histogram_stats(d)
            stats_parts.append(f"{name}: {st.levels} levels, {st.gaps} gaps")
        draw.text((px0, py0 + ph + 22), "   ".join(stats_parts), fill=INK, font=font(11))
    return save_image(canvas, path)


def histogram_panels(states: Sequence[tuple[str, np.ndarray]], path: Path) -> Path:
    """One panel per image state (e.g. original, degraded input, enhanced output), side by side.

    Each panel shows the R, G and B level distributions (luminance for a grayscale image) as the fraction of
    pixels per level, on the same axes for every panel. Levels 0-255 run along x; bins above the shared
    ceiling are clipped and marked with a tick above the plot. The chart is written to ``path`` (PNG).
    """
    return histogram_panels_from_histograms([(label, metrics.channel_histograms(image))
                                             for label, image in states], path)


# --- comparison strips ----------------------------------------------------------------------------------

def to_display(image: np.ndarray) -> Image.Image:
    """A Pillow RGB image from an H x W (x 1 or 3) array of uint8, uint16 or floats in [0, 1]."""
    levels = metrics.to_uint8(image)
    if levels.ndim == 3 and levels.shape[-1] == 1:
        levels = levels[..., 0]
    return Image.fromarray(levels).convert("RGB")


def fit(image: Image.Image, max_side: int, reducing_gap: float = 2.0) -> Image.Image:
    """Downscale (never upscale) so the longer side is at most ``max_side``.

    A box pre-shrink by whole factors leaves Lanczos at most ``reducing_gap`` to do (fast, still antialiased);
    1.0 leaves it only the fraction (a 2x shrink is then a pure 2x2 box: 13x faster, 48 dB from Lanczos on a face).
    """
    scale = max_side / max(image.size)
    if scale >= 1:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=reducing_gap)


def crop_center(image: Image.Image, max_side: int) -> Image.Image:
    """The central region of at most ``max_side`` x ``max_side`` pixels, nothing resampled."""
    width, height = min(image.width, max_side), min(image.height, max_side)
    left, top = (image.width - width) // 2, (image.height - height) // 2
    return image.crop((left, top, left + width, top + height))


def comparison_image(images: Sequence[tuple[str, np.ndarray | Image.Image]], path: Path,
                     max_side: int = 512, crop: bool = False) -> Path:
    """Labelled side-by-side panels (e.g. input | output | reference), each at most ``max_side`` pixels.

    Images are arrays (as :func:`to_display` takes) or Pillow images. A larger image is downscaled, or with
    ``crop`` cut to its centre so every pixel stays 1:1 (pixel-level differences are what a comparison of
    restorations is for). Every panel is scaled to the height of the first so the faces line up; a label bar
    sits above each.
    """
    if not images:
        raise ValueError("comparison_image needs at least one image")
    # The strip is an overview saved as JPEG (quality 85, further from its panels than a box shrink is from
    # Lanczos), so its panels take the fast shrink; pixel-level judging is the slider's, at 1:1.
    shrink = crop_center if crop else (lambda image, side: fit(image, side, reducing_gap=1.0))
    panels = [shrink(img if isinstance(img, Image.Image) else to_display(img), max_side) for _, img in images]
    height = panels[0].height
    panels = [p if p.height == height else p.resize((max(1, round(p.width * height / p.height)), height),
                                                    Image.Resampling.LANCZOS) for p in panels]
    bar, gutter = 26, 6
    width = sum(p.width for p in panels) + gutter * (len(panels) - 1)
    canvas = Image.new("RGB", (width, height + bar), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    x = 0
    for (label, _), panel in zip(images, panels):
        canvas.paste(panel, (x, bar))
        text_w = draw.textlength(label, font=font(14))
        draw.text((x + (panel.width - text_w) / 2, 5), label, fill=INK, font=font(14))
        x += panel.width + gutter
    return save_image(canvas, path)


# --- learning curves ------------------------------------------------------------------------------------

def _nice_range(values: list[float]) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    lo, hi = min(finite), max(finite)
    if hi - lo < 1e-12:
        pad = abs(hi) * 0.05 or 1.0
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.06
    return lo - pad, hi + pad


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"


def _line_plot(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], title: str, xs: list[float],
               series: list[tuple[str, list[float], tuple[int, int, int]]]) -> None:
    """Axes, ticks, legend and one polyline per series inside ``box`` (left, top, right, bottom)."""
    left, top, right, bottom = box
    px0, py0, px1, py1 = left + 54, top + 30, right - 12, bottom - 34
    draw.text((px0, top + 6), title, fill=INK, font=font(15))
    x_lo, x_hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if x_hi == x_lo:
        x_lo, x_hi = x_lo - 1, x_hi + 1
    y_lo, y_hi = _nice_range([v for _, vs, _ in series for v in vs])

    def sx(x: float) -> float:
        return px0 + (x - x_lo) / (x_hi - x_lo) * (px1 - px0)

    def sy(y: float) -> float:
        return py1 - (y - y_lo) / (y_hi - y_lo) * (py1 - py0)

    for i in range(5):
        y = y_lo + (y_hi - y_lo) * i / 4
        draw.line([(px0, sy(y)), (px1, sy(y))], fill=GRID)
        label = _fmt(y)
        draw.text((px0 - 6 - draw.textlength(label, font=font(11)), sy(y) - 6), label, fill=MUTED, font=font(11))
    for x in np.unique(np.linspace(x_lo, x_hi, min(6, len(xs) or 2)).round()):
        draw.text((sx(x) - 6, py1 + 6), _fmt(float(x)), fill=MUTED, font=font(11))
    draw.text(((px0 + px1) / 2 - 16, py1 + 20), "epoch", fill=MUTED, font=font(11))
    draw.rectangle([px0, py0, px1, py1], outline=MUTED)
    legend_x = px0 + 8
    for name, values, colour in series:
        pts = [(sx(x), sy(v)) for x, v in zip(xs, values) if math.isfinite(v)]
        if len(pts) > 1:
            draw.line(pts, fill=colour, width=2)
        for x, y in pts if len(pts) < 40 else []:
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
        draw.line([(legend_x, py0 + 12), (legend_x + 16, py0 + 12)], fill=colour, width=3)
        draw.text((legend_x + 20, py0 + 6), name, fill=INK, font=font(11))
        legend_x += 28 + draw.textlength(name, font=font(11))


def learning_curves_png(history: Sequence[dict], path: Path) -> Path:
    """Training and validation loss, and validation PSNR (with the degraded input's PSNR), per epoch; a third
    panel with the validation histogram distance when the rows carry ``val_w`` (runs that select by it).

    ``history`` rows carry ``epoch``, ``train_loss``, ``val_loss``, ``val_psnr`` and ``val_input_psnr``;
    missing or non-finite values are skipped.
    """

    def column(key: str) -> list[float]:
        return [float(row.get(key, math.nan)) if row.get(key) is not None else math.nan for row in history]

    xs = [float(row.get("epoch", i + 1)) for i, row in enumerate(history)]
    panels = [
        ("Loss", [("train", column("train_loss"), SERIES_COLOURS[0]),
                  ("validation", column("val_loss"), SERIES_COLOURS[1])]),
        ("Validation PSNR (dB)", [("model output", column("val_psnr"), SERIES_COLOURS[2]),
                                  ("degraded input", column("val_input_psnr"), SERIES_COLOURS[4])]),
    ]
    if any(math.isfinite(v) for v in column("val_w")):
        # The input's W is far above the model's: plotting it would flatten the model's curve to a line.
        panels.append(("Validation histogram distance W", [("model output", column("val_w"), SERIES_COLOURS[3])]))
    panel_width, height = 450, 340
    canvas = Image.new("RGB", (panel_width * len(panels), height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for i, (title, series) in enumerate(panels):
        _line_plot(draw, (i * panel_width, 0, (i + 1) * panel_width, height), title, xs, series)
    return save_image(canvas, path)
