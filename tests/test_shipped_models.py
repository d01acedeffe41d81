"""The weights that ship really restore a face they never saw (the sample astronaut portrait is a test face
of the training split), through the runtime's own path. A broken export or a mixed-up file fails here.

The model card's table holds the full measurement on 20 test faces; these floors sit well below what the
shipped files reach on this photo (BigCNN +1.9 / +1.4 dB, BasicCNN +1.5 / +1.0, GAN +0.6 / +0.7; histogram
distance after the collapse 3.0 -> 0.8 and 1.2), and the histogram floor is one a tuned Gaussian blur misses.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from facerestore.damage.analysis import analyze
from facerestore.damage.strength import decide, model_curve
from facerestore.imageio import read_image
from facerestore.metrics import channel_histograms, mean_wasserstein, psnr, to_uint8
from facerestore.model_choice import ModelRequest
from facerestore.restore import restore_pixels

from conftest import EXAMPLES

DEGRADED = {
    "paper": EXAMPLES / "photos" / "astronaut_paper.png",  # the report's intensity collapse
    "jpeg15": EXAMPLES / "photos" / "more" / "astronaut_jpeg15.jpg",
}
MIN_GAIN_DB = {"big": 1.0, "basic": 0.5, "gan": 0.3}


def _rgb(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).copy()


@pytest.fixture(scope="module")
def restored(astronaut_path):
    """(model, degradation) -> (degraded, restored, original), all uint8 RGB."""
    original = _rgb(astronaut_path)
    degraded = {kind: _rgb(path) for kind, path in DEGRADED.items()}
    out = {}
    for name in MIN_GAIN_DB:
        model = ModelRequest(name, device="cpu").open()
        for kind, lq in degraded.items():
            out[name, kind] = lq, to_uint8(restore_pixels(model, lq.astype(np.float32) / 255.0)), original
    return out


@pytest.mark.parametrize("kind", DEGRADED)
@pytest.mark.parametrize("name", MIN_GAIN_DB)
def test_each_shipped_model_raises_psnr_on_a_held_out_face(restored, name, kind):
    degraded, output, original = restored[name, kind]
    gain = psnr(output, original) - psnr(degraded, original)
    assert gain >= MIN_GAIN_DB[name], f"{name} on {kind}: {gain:+.2f} dB"


@pytest.mark.parametrize("kind", DEGRADED)
def test_bigcnn_beats_basiccnn_as_the_report_found(restored, kind):
    _, big, original = restored["big", kind]
    _, basic, _ = restored["basic", kind]
    assert psnr(big, original) > psnr(basic, original) + 0.1


@pytest.mark.parametrize("name", ["big", "basic"])
def test_the_collapsed_histogram_is_spread_back_towards_the_original(restored, name):
    degraded, output, original = restored[name, "paper"]
    target = channel_histograms(original)
    before = mean_wasserstein(channel_histograms(degraded), target)
    after = mean_wasserstein(channel_histograms(output), target)
    assert after < 0.5 * before, f"{name}: W {before:.2f} -> {after:.2f}"


@pytest.mark.parametrize("kind", DEGRADED)
def test_our_model_told_the_damage_it_reads_raises_psnr(astronaut_path, kind):
    """DARN runs as enhance runs it: the file's damage analysed, its level through DARN's fitted curve, the
    result told to the model (+1.9 dB on paper, +1.5 at JPEG 15 on this photo)."""
    model = ModelRequest("darn", device="cpu").open()
    assert model.bytes_per_pixel == 320  # its measured memory figure: tiles sized for it, not for BigCNN
    loaded = read_image(DEGRADED[kind])
    damage = analyze(loaded)
    decision = decide(damage.level, model_curve(model, damage.kind))
    assert not decision.unchanged and 0.5 < decision.strength < 1.0
    original, degraded = _rgb(astronaut_path), to_uint8(loaded.pixels)
    output = to_uint8(restore_pixels(model, loaded.pixels, strength=decision.strength))
    assert psnr(output, original) - psnr(degraded, original) >= 1.0
