"""DARN, facerestore's own model: its shape and cost, its receptive field, export with the damage input, training."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from PIL import Image  # noqa: E402

from benchmarks.flops import conv_cost  # noqa: E402
from conftest import crop_folder, interrupt_after_first_epoch  # noqa: E402
from export import archs, checkpoint  # noqa: E402
from export.onnx_export import build_metadata, export_checkpoint  # noqa: E402
from export.train import TrainConfig, train  # noqa: E402
from facerestore import contract  # noqa: E402
from facerestore.restore import restore_pixels  # noqa: E402
from facerestore.session import open_model  # noqa: E402


def _bigcnn_macs() -> int:
    widths = archs.ARCHS["big"].widths
    return sum(9 * a * b for a, b in zip(widths[:-1], widths[1:]))


def _trained_like(arch: str = "darn", seed: int = 3) -> archs.Darn:
    """A DARN with every weight non-zero (a fresh one starts as the identity, which would prove nothing)."""
    torch.manual_seed(seed)
    model = archs.build(arch)
    std = 0.05 * (48 / model.spec.width) ** 0.5  # a correction of similar size at any width, not an explosion
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, std)
    return model.eval()


def _checkpoint_meta(arch: str, folder: Path, **config) -> dict:
    """The metadata of a one-epoch checkpoint, as training writes it, for a model that was never trained."""
    return {"arch": arch, "step": 10, "epoch": 1, "history": [{"epoch": 1, "val_psnr": 30.0}],
            "config": {"arch": arch, "data": str(folder / "none"), "chain": "random", **config},
            "split": {"train": [], "val": [], "test": []}}


def test_size_and_cost_are_what_the_model_card_says():
    spec = archs.DarnSpec()
    model = archs.Darn(spec)
    assert archs.count_params(model) == 279_340
    assert spec.receptive_radius == 29 >= 24
    assert spec.macs_per_pixel == 64_908
    assert 2 * spec.macs_per_pixel <= _bigcnn_macs()  # at most half of BigCNN's multiply-adds per pixel


def test_the_deeper_size_sees_further_and_stays_within_the_cost_goal():
    spec = archs.DARN_SIZES["darn8"]
    assert (spec.blocks, spec.width, spec.fold) == (8, 48, 2)
    assert spec.receptive_radius == 37
    assert spec.macs_per_pixel == 85_644
    assert 2 * spec.macs_per_pixel <= _bigcnn_macs()
    assert archs.is_conditioned("darn8") and archs.build("darn8").spec == spec


def test_the_ten_block_size_stays_within_the_cost_goal():
    spec = archs.DARN_SIZES["darn10"]
    assert (spec.blocks, spec.width, spec.fold) == (10, 48, 2)
    assert spec.receptive_radius == 45
    assert spec.macs_per_pixel == 106_380
    assert 2 * spec.macs_per_pixel <= _bigcnn_macs()
    assert archs.is_conditioned("darn10")


def test_the_wide_folded_size_sees_twice_as_far_for_the_same_cost():
    spec = archs.DARN_SIZES["darnf4"]
    assert (spec.blocks, spec.width, spec.fold) == (8, 96, 4)
    assert archs.count_params(archs.build("darnf4")) == 1_463_344
    assert spec.receptive_radius == 75
    assert spec.macs_per_pixel == 88_182
    assert 2 * spec.macs_per_pixel <= _bigcnn_macs()


def test_the_branched_size_sees_twice_as_far_within_the_cost_goal():
    spec = archs.DARN_SIZES["darn8u"]
    assert (spec.blocks, spec.width, spec.fold, spec.low_blocks, spec.low_width) == (8, 48, 2, 4, 48)
    assert spec.multiple == 4  # the branch halves the folded resolution again
    assert spec.receptive_radius == 77
    assert spec.macs_per_pixel == 102_492
    assert archs.count_params(archs.build("darn8u")) == 651_676
    assert 2 * spec.macs_per_pixel <= _bigcnn_macs()


def _grown(shallow_arch: str, deep_arch: str, height: int, width: int) -> archs.Darn:
    """``deep_arch`` grown from a trained-like ``shallow_arch``: checked to compute the same, then given one
    training gradient."""
    shallow, deep = _trained_like(shallow_arch), archs.build(deep_arch)
    archs.deepen(shallow, deep)
    x, level = torch.rand(2, 3, height, width), torch.tensor([[0.15], [0.8]])
    with torch.no_grad():
        np.testing.assert_allclose(deep(x, level), shallow(x, level), atol=1e-6)
    deep.train()
    (deep(x, level) - x).square().mean().backward()
    return deep


def test_growing_a_branch_keeps_what_the_model_computes_and_the_branch_learns():
    grown = _grown("darn8", "darn8u", 40, 36)
    assert grown.up.weight.grad.abs().sum() > 0
    assert grown.down.weight.abs().sum() > 0
    with pytest.raises(ValueError, match="cannot deepen"):
        archs.deepen(grown, archs.build("darn10"))


def test_deepening_a_trained_model_keeps_what_it_computes():
    deep = _grown("darn", "darn8", 40, 34)
    # The new blocks are free to learn: their first conv is not zero, and their last conv gets a gradient.
    assert deep.body[7].conv1.weight.abs().sum() > 0
    assert deep.body[7].conv2.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="cannot deepen"):
        archs.deepen(deep, archs.build("darn"))


def test_a_fresh_model_is_the_identity():
    x = torch.rand(2, 3, 32, 40)
    np.testing.assert_array_equal(archs.Darn()(x, torch.tensor([[0.2], [0.9]])).detach(), x)


@pytest.mark.parametrize("arch", ["darn", "darnf4", "darn8u"])
def test_receptive_field_is_exactly_the_declared_radius(arch):
    """The gradient of one output pixel reaches input pixels at most ``receptive_radius`` away, and from some
    place within the folding grid reaches that far (so tiling with that overlap is exact and not wasteful)."""
    model = _trained_like(arch)
    radius, multiple = model.spec.receptive_radius, model.spec.multiple
    side = 8 * (radius + multiple)  # its centre sits on the grid
    x = torch.rand(1, 3, side, side, requires_grad=True)
    reaches = []
    for offset in range(multiple):
        x.grad = None
        y0 = x0 = side // 2 + offset
        model(x, torch.tensor([[0.5]]))[0, :, y0, x0].sum().backward()
        ys, xs = np.nonzero(x.grad.abs().sum(1)[0].numpy())
        reaches.append(max(np.abs(ys - y0).max(), np.abs(xs - x0).max()))
    assert max(reaches) == radius


def test_the_level_changes_the_output():
    model = _trained_like()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        low, high = model(x, torch.tensor([[0.1]])), model(x, torch.tensor([[0.9]]))
    assert (low - high).abs().mean() > 1e-3


@pytest.fixture(scope="module")
def exported_darn(tmp_path_factory, hopper_rgb) -> tuple[archs.Darn, Path]:
    folder = tmp_path_factory.mktemp("darn")
    model = _trained_like()
    meta = {**_checkpoint_meta("darn", folder, patch=96), "params": archs.count_params(model)}
    checkpoint.save(folder / "best", {"model": model}, {}, meta)
    crop = folder / "crop.png"
    Image.fromarray(hopper_rgb[100:197, 120:251]).save(crop)  # odd sizes: export crops them to the fold
    return model, export_checkpoint(folder / "best", folder / "darn.onnx", check_images=[crop])


def test_export_declares_the_damage_input_and_its_range(exported_darn):
    _, path = exported_darn
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == [contract.INPUT_NAME, "level"]
    meta = sess.get_modelmeta().custom_metadata_map
    assert meta[contract.META_CONDITION_INPUT] == "level"
    assert meta[contract.META_CONDITION_RANGE] == "0 1"
    assert meta[contract.META_MULTIPLE] == "2"
    assert meta[contract.META_RECEPTIVE] == "29"
    assert meta[contract.META_BYTES_PER_PIXEL] == str(archs.DarnSpec().bytes_per_pixel)
    assert meta[contract.META_ARCH] == "darn" and meta[contract.META_PARAMS] == "279340"


def test_padding_the_head_to_whole_channel_blocks_keeps_the_function_and_the_model():
    model = _trained_like()
    padded = archs.padded_for_onnx(model)
    assert (model.head.in_channels, padded.head.in_channels) == (13, 16)
    x, level = torch.rand(1, 3, 40, 36), torch.tensor([[0.3]])
    with torch.no_grad():
        torch.testing.assert_close(padded(x, level), model(x, level), atol=1e-6, rtol=0)


def test_the_exported_head_takes_whole_channel_blocks(exported_darn):
    # ONNX Runtime runs a CPU conv in its blocked layout only when its input channels fill whole blocks; the
    # export's parity with the unpadded model is test_runtime_matches_torch_and_tiles_exactly_at_odd_sizes's.
    _, path = exported_darn
    weights = {t.name: list(t.dims) for t in onnx.load(str(path)).graph.initializer}
    assert weights["head.weight"] == [48, 16, 3, 3]


def test_its_fp16_build_converts_the_zero_planes_too(exported_darn, hopper_rgb, tmp_path):
    from export.quantize import to_fp16

    _, path = exported_darn  # the zero planes come from a ConstantOfShape whose fill value defaults to float32
    fp16 = to_fp16(path, tmp_path / "darn.fp16.onnx")
    feed = {contract.INPUT_NAME: hopper_rgb[40:136, 60:140].transpose(2, 0, 1)[None].astype(np.float32) / 255.0,
            "level": np.array([[0.6]], np.float32)}
    out32, out16 = (ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, feed)[0]
                    for p in (path, fp16))
    assert not np.array_equal(out32, out16) and np.abs(out32 - out16).max() < 1e-2  # really fp16, and close


def _assert_matches_torch_and_tiles(runtime, model: archs.Darn, pixels: np.ndarray, strength: float,
                                    tiles: tuple[int, ...]) -> None:
    """The runtime's whole-image result equals torch on the same edge-padded image (cut back to the odd size),
    and every tile size gives the same pixels."""
    height, width = pixels.shape[:2]
    m = model.spec.multiple
    whole = restore_pixels(runtime, pixels, tile=4096, strength=strength)
    padded = np.pad(pixels, ((0, -height % m), (0, -width % m), (0, 0)), mode="edge")
    with torch.no_grad():
        ref = model(torch.from_numpy(padded.transpose(2, 0, 1).copy())[None], torch.tensor([[strength]]))
    np.testing.assert_allclose(whole, np.clip(ref[0].numpy().transpose(1, 2, 0)[:height, :width], 0, 1), atol=1e-4)
    for tile in tiles:
        np.testing.assert_allclose(restore_pixels(runtime, pixels, tile=tile, strength=strength), whole, atol=1e-5)


def test_runtime_matches_torch_and_tiles_exactly_at_odd_sizes(exported_darn, hopper_rgb):
    model, path = exported_darn
    runtime = open_model(path, device="cpu")
    pixels = hopper_rgb[60:60 + 143, 80:80 + 101].astype(np.float32) / 255.0  # odd height and width
    _assert_matches_torch_and_tiles(runtime, model, pixels, 0.6, (24, 37, 64))


def test_the_deeper_size_exports_its_reach_and_tiles_exactly(tmp_path, hopper_rgb):
    deep = archs.build("darn8")
    archs.deepen(_trained_like(), deep)
    with torch.no_grad():
        for block in deep.body[6:]:  # the grown blocks, trained a little: not the identity any more
            block.conv2.weight.normal_(0, 0.05)
    meta = _checkpoint_meta("darn8", tmp_path, patch=128, loss="mse")
    checkpoint.save(tmp_path / "best", {"model": deep.eval()}, {}, meta)
    path = export_checkpoint(tmp_path / "best", tmp_path / "darn8.onnx")
    runtime = open_model(path, device="cpu")
    assert runtime.metadata[contract.META_RECEPTIVE] == "37"
    assert "MSE loss" in runtime.metadata[contract.META_DESCRIPTION]
    pixels = hopper_rgb[31:31 + 121, 7:7 + 99].astype(np.float32) / 255.0
    whole = restore_pixels(runtime, pixels, tile=4096, strength=0.5)
    for tile in (30, 53):
        np.testing.assert_allclose(restore_pixels(runtime, pixels, tile=tile, strength=0.5), whole, atol=1e-5)


@pytest.mark.parametrize("arch, radius", [("darnf4", 75), ("darn8u", 77)])
def test_the_sizes_that_need_multiples_of_4_export_their_reach_and_cost_and_tile_exactly(arch, radius, tmp_path,
                                                                                         hopper_rgb):
    """darnf4 folds 4x4 pixels; darn8u folds 2x2 and its branch halves that again."""
    model = _trained_like(arch)
    checkpoint.save(tmp_path / "best", {"model": model}, {}, _checkpoint_meta(arch, tmp_path, patch=192))
    path = export_checkpoint(tmp_path / "best", tmp_path / f"{arch}.onnx")
    runtime = open_model(path, device="cpu")
    assert runtime.size_multiple == 4
    assert runtime.metadata[contract.META_RECEPTIVE] == str(radius)
    # Each conv counted at its own resolution (darn8u's branch on a sixteenth of the pixels, its body on a quarter),
    # the head's zero planes included: ONNX Runtime multiplies them too.
    spec = model.spec
    zero_planes = -(3 * spec.fold ** 2 + 1) % archs.CHANNEL_BLOCK
    assert conv_cost(path).macs_per_pixel == spec.macs_per_pixel + zero_planes * spec.width * 9 // spec.fold ** 2
    pixels = hopper_rgb[13:13 + 163, 21:21 + 141].astype(np.float32) / 255.0  # neither side a multiple of 4
    _assert_matches_torch_and_tiles(runtime, model, pixels, 0.7, (36, 61))  # tiles smaller than the reach
    # A batch of tiles, as CUDA runs them, gives each tile what it gives alone (the exporter once fixed darn8u's
    # batch at 1).
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    tiles = np.stack([pixels[:64, :64], pixels[64:128, 32:96]]).transpose(0, 3, 1, 2).copy()
    levels = np.array([[0.2], [0.9]], np.float32)
    both = sess.run(None, {contract.INPUT_NAME: tiles, "level": levels})[0]
    for i in range(2):
        alone = sess.run(None, {contract.INPUT_NAME: tiles[i:i + 1], "level": levels[i:i + 1]})[0]
        np.testing.assert_allclose(both[i:i + 1], alone, atol=1e-6)


CROP = 64


@pytest.fixture(scope="module")
def faces_dir(tmp_path_factory, hopper_rgb, astronaut_path) -> Path:
    """Crops of two real photos standing in for the face folder (20 test + 2 validation + the rest train)."""
    with Image.open(astronaut_path) as im:
        astronaut = np.asarray(im.convert("RGB")).copy()
    return crop_folder(tmp_path_factory.mktemp("faces"), [hopper_rgb, astronaut], CROP, 28, (40, 30), (80, 100))


def _config(faces_dir: Path, out: Path, **overrides) -> TrainConfig:
    base = dict(arch="darn", data=str(faces_dir), out=str(out), epochs=3, steps_per_epoch=12, batch=8, patch=32,
                lr=2e-3, lr_min=2e-4, loss="l1", seed=2, threads=1, max_val=2)
    return TrainConfig(**{**base, **overrides})


def test_a_short_real_training_run_lowers_the_validation_loss(faces_dir, tmp_path):
    last = train(_config(faces_dir, tmp_path / "run"), progress=False)
    with (tmp_path / "run" / "curves.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    # The first steps at a high learning rate knock it off the identity it starts as; from there it learns, on
    # every epoch, a correction that brings the damaged validation photos closer to their originals, and a clean
    # photo told level 0 stays close to itself.
    losses = [float(r["val_loss"]) for r in rows]
    gains = [float(r["val_gain_db"]) for r in rows]
    assert losses[2] < losses[1] < losses[0]
    assert gains[2] > gains[1] > gains[0]
    assert last["val_clean_psnr"] > 40


@pytest.fixture(scope="module")
def float_run(faces_dir, tmp_path_factory) -> Path:
    """Two epochs of float training: what a quantisation-aware run fine-tunes."""
    out = tmp_path_factory.mktemp("float")
    train(_config(faces_dir, out, epochs=2), progress=False)
    return out / "last"


def test_quantisation_aware_fine_tuning_lowers_the_validation_loss_of_the_rounded_model(faces_dir, float_run,
                                                                                        tmp_path):
    rows = []
    for epochs in (1, 3):  # the rounded start, scored by a run that does not train, then a real run
        lr = 5e-4 if epochs > 1 else 0.0
        train(_config(faces_dir, tmp_path / str(epochs), epochs=epochs, qat=True, init=str(float_run), lr=lr,
                      lr_min=lr / 10), progress=False)
        with (tmp_path / str(epochs) / "curves.csv").open() as fh:
            rows.append([float(r["val_loss"]) for r in csv.DictReader(fh)])
    (start,), losses = rows
    # Its first steps already undo part of what the rounding cost; later ones go on from there.
    assert losses[2] < losses[0] < start


def test_quantisation_aware_training_needs_trained_weights(faces_dir, tmp_path):
    from export.train import ConfigError

    with pytest.raises(ConfigError, match="--init"):
        train(_config(faces_dir, tmp_path / "q", qat=True), progress=False)


@pytest.mark.parametrize("qat", [False, True], ids=["float", "quantisation-aware"])
def test_resume_continues_exactly(faces_dir, tmp_path, monkeypatch, qat, float_run):
    whole = tmp_path / "whole"
    init = str(float_run) if qat else ""
    train(_config(faces_dir, whole, epochs=2, qat=qat, init=init), progress=False)
    cut = tmp_path / "cut"
    interrupt_after_first_epoch(_config(faces_dir, cut, epochs=2, qat=qat, init=init), monkeypatch)
    train(_config(faces_dir, cut, epochs=2, qat=qat, init=init), resume=True, progress=False)
    a = checkpoint.load_meta(whole / "last")
    b = checkpoint.load_meta(cut / "last")
    assert a["step"] == b["step"] == 24
    from safetensors.torch import load_file

    wa, wb = load_file(str(whole / "last.safetensors")), load_file(str(cut / "last.safetensors"))
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def test_a_deeper_run_starts_from_a_trained_darn(faces_dir, tmp_path):
    train(_config(faces_dir, tmp_path / "shallow", epochs=1), progress=False)
    deep = train(_config(faces_dir, tmp_path / "deep", arch="darn8", epochs=1, lr=0.0, lr_min=0.0,
                         init=str(tmp_path / "shallow" / "last")), progress=False)
    shallow = checkpoint.load_meta(tmp_path / "shallow" / "last")["history"][-1]
    # Not one step taken (lr 0): the deepened model scores exactly what it was grown from.
    assert deep["val_psnr"] == pytest.approx(shallow["val_psnr"], abs=1e-4)
    assert checkpoint.load_meta(tmp_path / "deep" / "last")["arch"] == "darn8"
    # A model cannot be grown into a shallower one: a usage error, not a traceback.
    from export.train import ConfigError

    with pytest.raises(ConfigError, match="cannot deepen darn8"):
        train(_config(faces_dir, tmp_path / "back", epochs=1, init=str(tmp_path / "deep" / "last")), progress=False)


def _live_head_units(run: Path, photo: np.ndarray) -> float:
    """The share of a run's head ReLUs that fire on a real photo (trained without an average: its own weights)."""
    model = archs.build(checkpoint.load_meta(run / "last")["arch"])
    checkpoint.load(run / "last", {"model": model})
    seen = []
    hook = model.head.register_forward_hook(lambda module, inputs, output: seen.append(output))
    with torch.no_grad():
        model(torch.from_numpy(photo.transpose(2, 0, 1).copy())[None], torch.tensor([[0.6]]))
    hook.remove()
    return float((seen[0] > 0).float().mean())


def test_the_wide_folded_size_keeps_its_head_alive_while_it_learns(faces_dir, tmp_path, hopper_rgb):
    """Uncentred, a run like this one leaves 0.1 % of the 4x4 fold's head ReLUs alive (and a real run never left
    the identity); centred and He-initialised, about a quarter still fire here, half in the real run."""
    train(_config(faces_dir, tmp_path / "f4", arch="darnf4", epochs=1, steps_per_epoch=60, batch=4, patch=64,
                  lr=5e-4, lr_min=5e-4), progress=False)
    assert _live_head_units(tmp_path / "f4", hopper_rgb[:128, :128].astype(np.float32) / 255.0) > 0.1


def test_a_patch_that_does_not_fold_is_refused(faces_dir, tmp_path):
    from export.train import ConfigError

    with pytest.raises(ConfigError, match="--patch must be a multiple of 4, got 30"):
        train(_config(faces_dir, tmp_path / "f4", arch="darnf4", patch=30), progress=False)


def test_a_pairs_folder_or_a_fixed_chain_is_refused_for_the_conditioned_model(faces_dir, tmp_path):
    from export.train import ConfigError

    with pytest.raises(ConfigError, match="damage level"):
        train(_config(faces_dir, tmp_path / "x", chain="jpeg:20"), progress=False)


def _banded_only_share(banding_only: float, draws: int = 4000) -> float:
    from facerestore.degrade import random_damage

    rng = np.random.default_rng(5)
    chains = [random_damage(rng, banding_only) for _ in range(draws)]
    alone = [c.steps[0] for c in chains if len(c.steps) == 1 and c.steps[0].name == "posterize"]
    assert all(12 <= int(step.args[0]) <= 64 for step in alone)
    return len(alone) / draws


def test_banding_only_adds_that_share_of_banded_patches():
    own = _banded_only_share(0.0)  # the mixture's own banding-only patches
    assert 0.02 < own < 0.2
    assert _banded_only_share(0.3) == pytest.approx(0.3 + 0.7 * own, abs=0.03)


def test_banding_only_is_a_share_for_the_conditioned_models_only(faces_dir, tmp_path):
    from export.train import ConfigError

    with pytest.raises(ConfigError, match="--banding-only must be a share in \\[0, 1\\), got 1"):
        train(_config(faces_dir, tmp_path / "x", banding_only=1.0), progress=False)
    with pytest.raises(ConfigError, match="--arch big does not train on"):
        train(_config(faces_dir, tmp_path / "x", arch="big", banding_only=0.2), progress=False)


def test_webp_share_serves_that_share_of_patches_as_webp():
    from facerestore.degrade import random_damage

    rng = np.random.default_rng(6)
    assert not any(s.name == "webp" for _ in range(2000) for s in random_damage(rng).steps)  # none of its own
    chains = [random_damage(rng, webp_share=0.3) for _ in range(4000)]
    served = [c for c in chains if c.steps and c.steps[-1].name == "webp"]
    assert len(served) / len(chains) == pytest.approx(0.3, abs=0.03)
    assert all(5 <= int(c.steps[-1].args[0]) <= 95 for c in served)
    after_jpeg = sum(any(s.name in ("jpeg", "jpeg2") for s in c.steps) for c in served) / len(served)
    assert 0.3 < after_jpeg < 0.5  # half keep the mixture's JPEG (which 8 in 10 of its draws have)
    assert all(0.0 < c.level <= 1.0 for c in served)
    # Beside --banding-only each share is of all patches, not of what the other leaves.
    both = [random_damage(rng, banding_only=0.15, webp_share=0.2) for _ in range(4000)]
    assert sum(c.steps[-1].name == "webp" for c in both if c.steps) / len(both) == pytest.approx(0.2, abs=0.02)


def test_webp_share_is_a_share_for_the_conditioned_models_only(faces_dir, tmp_path):
    from export.train import ConfigError

    with pytest.raises(ConfigError, match="--webp-share must be a share in \\[0, 1\\), got 1"):
        train(_config(faces_dir, tmp_path / "x", webp_share=1.0), progress=False)
    with pytest.raises(ConfigError, match="--webp-share changes the damage mixture, which --arch big"):
        train(_config(faces_dir, tmp_path / "x", arch="big", webp_share=0.2), progress=False)
    with pytest.raises(ConfigError, match="leaving the mixture none"):
        train(_config(faces_dir, tmp_path / "x", banding_only=0.5, webp_share=0.5), progress=False)


def _gray_share_sampler(photo: np.ndarray, gray_share: float, patch: int = 32, **kwargs):
    from export.data import PatchSampler

    return PatchSampler([photo], patch, conditioned=True, gray_share=gray_share, **kwargs)


def _jpeg_file_pixels(pixels: np.ndarray, quality: int, **save) -> np.ndarray:
    import io

    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=quality, **save)
    with Image.open(buf) as im:
        return np.asarray(im)


def test_gray_share_damages_a_patch_as_a_grayscale_file_and_serves_it_in_three_equal_channels(hopper_rgb):
    from facerestore.damage.levels import jpeg_level
    from facerestore.degrade import Chain, Step

    # One JPEG, with the chroma subsampling the mixture draws: a gray file has no chroma to subsample.
    chain = Chain((Step("jpeg", ("20", "420")),))
    sampler = _gray_share_sampler(hopper_rgb, 1.0, chain=chain)
    colour = _gray_share_sampler(hopper_rgb, 0.0, chain=chain)
    gray_after_damage = []
    for seed in range(4):
        lq, hq, level = sampler.sample_with_level(np.random.default_rng(seed))
        assert lq.shape == hq.shape == (32, 32, 3)
        assert (hq == hq[..., :1]).all() and (lq == lq[..., :1]).all()
        # The clean patch is the colour crop's ITU-R 601 luma, as Pillow converts (export.data.to_gray) ...
        crop = sampler._clean_patch(np.random.default_rng(seed))
        assert np.array_equal(hq[..., 0], np.asarray(Image.fromarray(crop).convert("L")))
        # ... and the damaged one that gray saved by Pillow as an L-mode JPEG at the chain's quality: made gray
        # before its damage, not the luma of the colour crop's JPEG (a gray copy of a colour file).
        assert np.array_equal(lq[..., 0], _jpeg_file_pixels(hq[..., 0], 20))
        gray_after = Image.fromarray(_jpeg_file_pixels(crop, 20, subsampling=2)).convert("L")
        gray_after_damage.append(np.array_equal(np.asarray(gray_after), lq[..., 0]))
        # A gray JPEG's level is a colour JPEG's of the same quality, as the runtime reads it from the luma table.
        assert level == colour.sample_with_level(np.random.default_rng(seed))[2] == jpeg_level(20)
    assert gray_after_damage.count(False) >= 2  # the two differ by a level or more wherever a patch has detail


def test_gray_share_makes_that_share_of_the_mixtures_patches_gray(hopper_rgb):
    # Every kind of damage the mixture draws (WebP and banding included) on gray patches keeps them gray.
    sampler = _gray_share_sampler(hopper_rgb, 1.0, banding_only=0.2, webp_share=0.3)
    rng = np.random.default_rng(7)
    for _ in range(200):
        lq, hq, level = sampler.sample_with_level(rng)
        assert lq.shape == hq.shape == (32, 32, 3) and lq.dtype == np.uint8
        assert (hq == hq[..., :1]).all() and (lq == lq[..., :1]).all()
        assert 0.0 <= level <= 1.0
    sampler = _gray_share_sampler(hopper_rgb[::4, ::4], 0.3, patch=8)  # small patches of a smaller photo: quick
    rng = np.random.default_rng(8)
    gray = [bool((hq == hq[..., :1]).all()) for _, hq, _ in (sampler.sample_with_level(rng) for _ in range(2000))]
    assert sum(gray) / len(gray) == pytest.approx(0.3, abs=0.04)
    assert not any((hq == hq[..., :1]).all() for _, hq, _ in
                   (_gray_share_sampler(hopper_rgb, 0.0).sample_with_level(rng) for _ in range(50)))


def test_gray_share_is_a_share_for_the_conditioned_models_only(faces_dir, tmp_path):
    from export.train import ConfigError

    for share in (1.0, -0.1, float("nan")):
        with pytest.raises(ConfigError, match="--gray-share must be a share in \\[0, 1\\), got"):
            train(_config(faces_dir, tmp_path / "x", gray_share=share), progress=False)
    with pytest.raises(ConfigError, match="--gray-share changes the damage mixture, which --arch big"):
        train(_config(faces_dir, tmp_path / "x", arch="big", gray_share=0.2), progress=False)
    assert not (tmp_path / "x").exists()


def test_a_short_run_with_a_gray_share_trains_records_it_and_an_older_run_resumes_without_one(faces_dir, tmp_path,
                                                                                             capsys):
    from export.__main__ import main

    run = tmp_path / "run"
    tiny = ["train", "--arch", "darn", "--data", str(faces_dir), "--out", str(run), "--epochs", "1",
            "--steps-per-epoch", "2", "--batch", "2", "--patch", "16", "--threads", "1", "--max-val", "2",
            "--no-progress"]
    # Gray patches take the banded-only and WebP shares too: those two alone may not fill the patches.
    assert main([*tiny, "--gray-share", "0.5", "--banding-only", "0.6", "--webp-share", "0.3"]) == 0
    meta = checkpoint.load_meta(run / "last")
    assert meta["step"] == 2 and meta["config"]["gray_share"] == 0.5
    assert (run / "last.safetensors").exists() and (run / "best.safetensors").exists()

    # A run recorded before the option existed trained with no gray patches: it resumes as --gray-share 0.
    model = archs.build("darn")
    opt = torch.optim.Adam(model.parameters())
    meta = checkpoint.load(run / "last", {"model": model}, {"model": opt})
    del meta["config"]["gray_share"], meta["optimizers"]
    checkpoint.save(run / "last", {"model": model}, {"model": opt}, meta)
    capsys.readouterr()
    assert main([*tiny, "--banding-only", "0.6", "--webp-share", "0.3", "--gray-share", "0.5", "--resume"]) == 2
    assert "was trained with --gray-share 0, not --gray-share 0.5" in capsys.readouterr().err
    assert main([*tiny, "--banding-only", "0.6", "--webp-share", "0.3", "--epochs", "2", "--resume"]) == 0
    meta = checkpoint.load_meta(run / "last")
    assert meta["step"] == 4 and meta["config"]["gray_share"] == 0.0


def test_the_metadata_says_when_the_mixture_had_more_banding(tmp_path):
    model = _trained_like("darn")
    checkpoint.save(tmp_path / "best", {"model": model}, {}, _checkpoint_meta("darn", tmp_path, banding_only=0.25))
    runtime = open_model(export_checkpoint(tmp_path / "best", tmp_path / "darn.onnx"), device="cpu")
    assert runtime.metadata[contract.META_DEGRADATION].endswith("; last trained with 25% more patches banded only")
    checkpoint.save(tmp_path / "webp", {"model": model}, {},
                    _checkpoint_meta("darn", tmp_path, banding_only=0.15, webp_share=0.2))
    runtime = open_model(export_checkpoint(tmp_path / "webp", tmp_path / "webp.onnx"), device="cpu")
    assert runtime.metadata[contract.META_DEGRADATION].endswith(
        "; last trained with 15% more patches banded only and 20% more served as lossy WebP 5-95")
    gray = build_metadata(model, _checkpoint_meta("darn", tmp_path, webp_share=0.2, gray_share=0.3))
    assert gray[contract.META_DEGRADATION].endswith(
        "; last trained with 20% more served as lossy WebP 5-95 and 30% of patches grayscale, damaged as gray files")
