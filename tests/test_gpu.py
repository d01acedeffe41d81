"""The CUDA path. Its arithmetic parts are checked everywhere; the runs on a card skip without one."""

from __future__ import annotations

import numpy as np
import pytest

from facerestore.degrade import parse_chain
from facerestore.errors import DeviceUnavailableError
from facerestore.gpu import MAX_CARD_TILE, BoundModel, for_device, tile_for_memory
from facerestore.metrics import psnr
from facerestore.restore import BYTES_PER_PIXEL, restore_pixels
from facerestore.session import CUDA, open_model

from conftest import build_tiny_onnx


@pytest.fixture(scope="module")
def fp32_path(tmp_path_factory):
    pytest.importorskip("onnx")
    return build_tiny_onnx(tmp_path_factory.mktemp("gpu") / "tiny.onnx", channels=3, layers=3, seed=4)


@pytest.fixture(scope="module")
def fp16_path(fp32_path):
    from export.quantize import to_fp16

    return to_fp16(fp32_path, fp32_path.with_name("tiny.fp16.onnx"))


@pytest.fixture(scope="module")
def face_pair(hopper_rgb):
    clean = np.ascontiguousarray(hopper_rgb[200:456, 128:384])
    degraded = parse_chain("jpeg:20").apply(clean, np.random.default_rng(0))
    return (degraded.astype(np.float32) / 255.0, clean.astype(np.float32) / 255.0)


@pytest.fixture(scope="module")
def cuda_model(fp32_path):
    try:
        model = open_model(str(fp32_path), device="cuda")
    except DeviceUnavailableError as exc:
        pytest.skip(f"no usable CUDA device here ({exc}); the GPU path runs in `python -m benchmarks.run "
                    "--device cuda` where one is present")
    return model


@pytest.mark.parametrize("free_gib", [1, 4, 24, 80, 140])
def test_tiles_fit_the_usable_share_of_free_memory(free_gib):
    free = free_gib * 2**30
    for batch in (1, 4):
        core = tile_for_memory(free, radius=5, batch=batch, max_tile=1 << 20)
        window = core + 10
        assert core % 32 == 0
        assert batch * window * window * BYTES_PER_PIXEL <= 0.5 * free
        # No activation reaches cuDNN's 32-bit index limit (BigCNN's widest layer: 128 channels).
        assert batch * window * window * 128 < 2**31
        # ... and it is the largest such tile: one step up would break one of the two limits.
        up = window + 32
        assert batch * up * up * BYTES_PER_PIXEL > 0.5 * free or batch * up * up * (BYTES_PER_PIXEL // 4) >= 2**31


def test_a_large_card_gets_the_measured_fastest_tile_not_a_4096_px_window():
    # A 4096 px BigCNN window failed in cuDNN on a 141 GB H200 (2**31 activations); 1024 px ran fastest there.
    assert tile_for_memory(140 * 2**30, radius=5) == MAX_CARD_TILE == 1024
    assert tile_for_memory(140 * 2**30, radius=5, batch=4) == 1024
    assert tile_for_memory(2**30, radius=5) < 1024  # a small card is still limited by its memory


def test_more_memory_never_means_smaller_tiles():
    sizes = [tile_for_memory(g * 2**30, radius=5) for g in (1, 2, 8, 24, 80)]
    assert sizes == sorted(sizes) and sizes[-1] > sizes[0]


def test_fp16_model_keeps_the_contract_and_the_accuracy_budget(fp16_path, fp32_path, face_pair):
    """Checked on the CPU provider (which runs fp16 Conv); the CUDA benchmark checks it again on the card."""
    import onnx

    model = onnx.load(str(fp16_path))
    assert {i.data_type for i in model.graph.initializer} == {onnx.TensorProto.FLOAT16}
    fp16 = open_model(str(fp16_path), device="cpu")  # float32 in/out: the runtime's contract check passes
    fp32 = open_model(str(fp32_path), device="cpu")
    lq, hq = face_pair
    out16 = restore_pixels(fp16, lq)
    out32 = restore_pixels(fp32, lq)
    assert psnr(out32, hq, 1.0) - psnr(out16, hq, 1.0) <= 0.1
    assert psnr(out16, out32, 1.0) > 50.0


def test_cuda_io_binding_matches_the_cpu(cuda_model, fp32_path, face_pair):
    assert cuda_model.provider == CUDA
    lq, _ = face_pair
    x = np.stack([lq.transpose(2, 0, 1)] * 3)
    cpu = open_model(str(fp32_path), device="cpu").run(x)
    np.testing.assert_allclose(BoundModel.wrap(cuda_model).run(x), cpu, atol=1e-3, rtol=0)


def test_cuda_restore_with_memory_sized_tiles(cuda_model, fp32_path, face_pair):
    from facerestore.gpu import restore_on_gpu

    lq, _ = face_pair
    cpu = restore_pixels(open_model(str(fp32_path), device="cpu"), lq)
    np.testing.assert_allclose(restore_on_gpu(cuda_model, lq), cpu, atol=1e-3, rtol=0)


def test_cuda_fp16_within_budget(fp16_path, fp32_path, face_pair):
    try:
        fp16 = open_model(str(fp16_path), device="cuda")
    except DeviceUnavailableError as exc:
        pytest.skip(f"no usable CUDA device here ({exc})")
    lq, hq = face_pair
    out32 = restore_pixels(open_model(str(fp32_path), device="cpu"), lq)
    out16 = restore_pixels(BoundModel.wrap(fp16), lq)
    assert psnr(out32, hq, 1.0) - psnr(out16, hq, 1.0) <= 0.1


def test_for_device_leaves_a_cpu_run_unchanged(tiny_rgb_model):
    model = open_model(str(tiny_rgb_model), device="cpu")
    assert for_device(model, None) == (model, None)
    assert for_device(model, 256)[1] == 256
    assert type(for_device(model, None)[0]) is type(model)  # no IO binding wrapper on the CPU


def test_for_device_binds_and_sizes_tiles_on_cuda(tiny_rgb_model, monkeypatch):
    """The CUDA branch, exercised without a GPU: the provider is what the session reported."""
    import facerestore.gpu as gpu

    model = open_model(str(tiny_rgb_model), device="cpu")
    model.provider = CUDA
    monkeypatch.setattr(gpu, "cuda_memory", lambda device_id=0: (8 * 2**30, 16 * 2**30))
    bound, tile = for_device(model, None)
    assert isinstance(bound, BoundModel)
    assert tile == tile_for_memory(8 * 2**30, model.receptive_radius)
    assert for_device(model, 128)[1] == 128  # the user's --tile wins



def test_a_conditioned_model_on_cuda_is_fed_its_level(tiny_conditioned_model, face_pair):
    """On the card the level stays an input (a session per level would search its conv algorithms again)."""
    try:
        model = open_model(str(tiny_conditioned_model), device="cuda")
    except DeviceUnavailableError as exc:
        pytest.skip(f"no usable CUDA device here ({exc})")
    assert model._by_level is None
    lq, _ = face_pair
    x = np.stack([lq.transpose(2, 0, 1)] * 2)
    cpu = open_model(str(tiny_conditioned_model), device="cpu")
    assert cpu._by_level is not None
    np.testing.assert_allclose(BoundModel.wrap(model).run(x, 0.7), cpu.run(x, 0.7), atol=1e-3, rtol=0)
