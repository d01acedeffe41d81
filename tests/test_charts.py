"""Charts decode as images of the expected sizes and show what they claim (on real photos)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from facerestore import charts, degrade


def _decode(path) -> Image.Image:
    with Image.open(path) as im:
        im.load()
        copy = im.copy()
        copy.format = im.format  # copy() drops it
        return copy


def test_histogram_panels_layout_and_same_axes(tmp_path, hopper_rgb):
    post = degrade.posterize(hopper_rgb, 12)
    path = charts.histogram_panels([("Original", hopper_rgb), ("Input", post), ("Output", hopper_rgb)],
                                   tmp_path / "h.png")
    im = _decode(path)
    assert im.format == "PNG" and im.size == (3 * charts.PANEL_W, charts.PANEL_H)
    # Same data on the same axes draws the same pixels: panels 1 and 3 are identical, panel 2 differs.
    arr = np.asarray(im.convert("RGB"))
    panel = [arr[:, i * charts.PANEL_W:(i + 1) * charts.PANEL_W] for i in range(3)]
    body = slice(charts.PLOT_MARGIN[1], charts.PANEL_H - charts.PLOT_MARGIN[3])  # the plot, not the titles
    assert np.array_equal(panel[0][body], panel[2][body])
    assert not np.array_equal(panel[0][body], panel[1][body])
    # The colour channels are drawn in their colours.
    reds = np.all(arr == charts.CHANNEL_COLOURS["R"], axis=-1).sum()
    blues = np.all(arr == charts.CHANNEL_COLOURS["B"], axis=-1).sum()
    assert reds > 50 and blues > 50


def test_histogram_panels_gray_draws_luminance_only(tmp_path, hopper_rgb):
    gray = hopper_rgb.mean(axis=2).astype(np.uint8)
    im = np.asarray(_decode(charts.histogram_panels([("Input", gray[..., None])], tmp_path / "g.png")).convert("RGB"))
    assert im.shape[:2] == (charts.PANEL_H, charts.PANEL_W)
    assert np.all(im == charts.CHANNEL_COLOURS["L"], axis=-1).sum() > 50
    assert np.all(im == charts.CHANNEL_COLOURS["R"], axis=-1).sum() == 0


def test_comparison_image_sizes_and_downscale(tmp_path, hopper_rgb):
    h, w = hopper_rgb.shape[:2]  # 600 x 512
    path = charts.comparison_image([("Input", hopper_rgb), ("Output", hopper_rgb.astype(np.float32) / 255),
                                    ("Reference", hopper_rgb)], tmp_path / "c.jpg", max_side=300)
    im = _decode(path)
    assert im.format == "JPEG"
    panel_w = round(w * 300 / h)
    assert im.height == 300 + 26  # panel height + label bar
    assert im.width == 3 * panel_w + 2 * 6
    # Small images are never upscaled.
    small = hopper_rgb[:40, :50]
    im2 = _decode(charts.comparison_image([("a", small), ("b", small)], tmp_path / "s.png", max_side=300))
    assert im2.size == (2 * 50 + 6, 40 + 26)


def test_learning_curves_png(tmp_path):
    history = [{"epoch": e, "step": e * 10, "train_loss": 0.1 / e, "val_loss": 0.12 / e,
                "val_psnr": 25 + e * 0.4, "val_input_psnr": 24.0, "val_gain_db": 1 + e * 0.4} for e in range(1, 9)]
    history[3]["val_loss"] = float("nan")  # a missing value must not break the chart
    im = _decode(charts.learning_curves_png(history, tmp_path / "curves.png"))
    assert im.format == "PNG" and im.size == (900, 340)
    arr = np.asarray(im.convert("RGB"))
    for colour in (charts.SERIES_COLOURS[0], charts.SERIES_COLOURS[1], charts.SERIES_COLOURS[2]):
        assert np.all(arr == colour, axis=-1).sum() > 20


def test_learning_curves_add_a_histogram_distance_panel_when_the_run_logged_it(tmp_path):
    history = [{"epoch": e, "train_loss": 0.1 / e, "val_loss": 0.12 / e, "val_psnr": 25 + e * 0.4,
                "val_input_psnr": 24.0, "val_w": 1.5 - e * 0.05, "val_input_w": 2.1} for e in range(1, 9)]
    im = _decode(charts.learning_curves_png(history, tmp_path / "curves.png"))
    assert im.size == (1350, 340)
    arr = np.asarray(im.convert("RGB"))
    w_colour = np.all(arr == charts.SERIES_COLOURS[3], axis=-1)
    assert w_colour[:, 900:].sum() > 20 and w_colour[:, :900].sum() == 0  # W drawn in its own panel only


def test_single_epoch_and_empty_inputs(tmp_path):
    im = _decode(charts.learning_curves_png([{"epoch": 1, "train_loss": 0.2, "val_loss": 0.3, "val_psnr": 26.0,
                                              "val_input_psnr": 25.0}], tmp_path / "one.png"))
    assert im.size == (900, 340)
    with pytest.raises(ValueError):
        charts.histogram_panels([], tmp_path / "none.png")
