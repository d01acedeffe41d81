"""Batching is a speed choice only: the pixels must be those of one-image, one-tile-at-a-time runs."""

from __future__ import annotations


import numpy as np
import pytest

from facerestore.gpu import BoundModel
from facerestore.restore import plan_cores, plan_tiles, restore_pixels
from facerestore.session import OnnxModel, open_model

from conftest import build_tiny_onnx, whole_image_run


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> OnnxModel:
    pytest.importorskip("onnx")
    path = build_tiny_onnx(tmp_path_factory.mktemp("batching") / "deep.onnx", channels=3, layers=4, seed=2)
    return open_model(str(path), device="cpu", threads=2)


@pytest.fixture(scope="module")
def faces(hopper_rgb) -> np.ndarray:
    """Four different same-size crops of a real face photo, N x 3 x 96 x 128 float32."""
    crops = [hopper_rgb[y:y + 96, x:x + 128] for y, x in ((0, 0), (150, 200), (300, 64), (480, 380))]
    return np.stack([c.astype(np.float32).transpose(2, 0, 1) / 255.0 for c in crops])


class CountingModel(OnnxModel):
    """Records the batch size of every run (to prove a test really exercised batching)."""

    def __init__(self, inner: OnnxModel, max_batch: int | None):
        super().__init__(**{**inner.__dict__, "max_batch": max_batch})
        self.batch_sizes: list[int] = []

    def run(self, batch: np.ndarray, strength: float = 1.0) -> np.ndarray:
        self.batch_sizes.append(batch.shape[0])
        return super().run(batch, strength)


@pytest.mark.parametrize("wrap", [lambda m: m, BoundModel.wrap], ids=["session.run", "io-binding"])
def test_a_batch_of_images_equals_one_image_at_a_time(model, faces, wrap):
    runner = wrap(model)
    stacked = runner.run(faces)
    single = np.concatenate([runner.run(faces[i:i + 1]) for i in range(len(faces))])
    assert stacked.shape == faces.shape
    np.testing.assert_allclose(stacked, single, atol=1e-5, rtol=0)
    assert np.abs(stacked - faces).max() > 1e-3  # the model changed the pixels: not a trivial pass-through


def test_io_binding_equals_plain_run(model, faces):
    np.testing.assert_array_equal(BoundModel.wrap(model).run(faces), model.run(faces))


def test_batched_tiles_equal_single_tiles_and_the_whole_image(model, hopper_rgb):
    pixels = hopper_rgb[:448, :448].astype(np.float32) / 255.0  # 7 x 7 tiles (8 x 7 on two streams)
    batched = CountingModel(model, max_batch=None)
    one_by_one = CountingModel(model, max_batch=1)
    out_batched = restore_pixels(batched, pixels, tile=64)
    out_single = restore_pixels(one_by_one, pixels, tile=64)
    whole = whole_image_run(model, pixels)
    assert max(batched.batch_sizes) > 1, "tiles were never batched: the test would prove nothing"
    assert set(one_by_one.batch_sizes) == {1}
    core_h, core_w = plan_cores(448, 448, model.receptive_radius, 64, model.streams)
    tiles = plan_tiles(448, 448, core_h, model.receptive_radius, tile_w=core_w)
    assert sum(batched.batch_sizes) == sum(one_by_one.batch_sizes) == len(tiles) >= 49
    np.testing.assert_allclose(out_batched, out_single, atol=1e-5, rtol=0)
    np.testing.assert_allclose(out_batched, whole, atol=1e-5, rtol=0)


def test_memory_sized_gpu_tiles_give_the_same_pixels(model, hopper_rgb):
    """The GPU path's tile sizing changes only where tiles fall; on the CPU provider it runs through the
    same tiling and IO binding, so it must give the engine's pixels."""
    from facerestore.gpu import restore_on_gpu

    pixels = hopper_rgb[:300, :260].astype(np.float32) / 255.0
    np.testing.assert_allclose(restore_on_gpu(model, pixels), restore_pixels(model, pixels), atol=1e-5, rtol=0)
