"""Quantisation-aware training of DARN (export/qat.py) and the int8 build made from its weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime.quantization", reason="the int8 build needs onnxruntime.quantization")
onnx = pytest.importorskip("onnx")

from PIL import Image  # noqa: E402

from export import archs, checkpoint, qat  # noqa: E402
from export.onnx_export import export_checkpoint  # noqa: E402
from export.quantize import QAT_RECIPE, quantize  # noqa: E402
from facerestore.degrade import parse_chain  # noqa: E402
from facerestore.metrics import psnr  # noqa: E402


SHIPPED_RUN = Path(__file__).resolve().parents[1] / "runs" / "darn8u-g2" / "best"  # the weights of darn.onnx


def _shipped_darn() -> archs.Darn:
    """The shipped darn's trained weights (random ones make no sense of a photo, so their rounding neither)."""
    model = archs.build("darn8u")
    checkpoint.load(SHIPPED_RUN, {"model": model})
    return model.eval()


def _damaged(hopper_rgb: np.ndarray, y: int, x: int, side: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A JPEG-20 crop of a real face as NCHW floats, and its clean original."""
    clean = np.ascontiguousarray(hopper_rgb[y:y + side, x:x + side])
    lq = parse_chain("jpeg:20").apply(clean, np.random.default_rng(seed))
    as_nchw = lambda a: (a.astype(np.float32) / 255).transpose(2, 0, 1)[None].copy()  # noqa: E731
    return as_nchw(lq), as_nchw(clean)


def _calibrate(model: archs.Darn, batches: list[np.ndarray], level: float = 0.5) -> None:
    """Training-mode forward passes: what sets the running ranges."""
    model.train()
    with torch.no_grad():
        for x in batches:
            model(torch.from_numpy(x), torch.tensor([[level]]))
    model.eval()


def test_inner_convs_round_inputs_weights_and_outputs_to_the_int8_grid(hopper_rgb):
    model = qat.enable(_shipped_darn())
    rounded = qat.inner_convs(model)
    # The build keeps the ends and the body's first convs (scaled by the level after rounding) in float.
    assert model.head not in rounded and model.tail not in rounded
    assert not any(block.conv1 in rounded for block in model.body)
    assert len(rounded) == 8 + 2 * 4 + 2  # the body's second convs, the branch's blocks, its down and up convs
    _calibrate(model, [_damaged(hopper_rgb, 0, 0, 96, 0)[0]])
    conv = model.body[3].conv2
    seen = {}
    conv.register_forward_hook(lambda m, args, out: seen.update(x=args[0], y=out))
    x, _ = _damaged(hopper_rgb, 200, 200, 96, 1)
    with torch.no_grad():
        model(torch.from_numpy(x), torch.tensor([[0.5]]))
    for row, values in ((0, seen["x"]), (1, seen["y"])):  # the conv's input (before rounding) and its output
        low, high = min(conv.ranges[row, 0].item(), 0.0), max(conv.ranges[row, 1].item(), 0.0)
        scale = (high - low) / 255
        zero = round(-low / scale)
        steps = values / scale + zero
        if row == 1:  # the output is what the conv returns: on the grid, inside the range
            assert torch.allclose(steps, steps.round(), atol=1e-2)
            assert steps.min() >= -1e-3 and steps.max() <= 255 + 1e-3
        else:  # the input arrives unrounded; the conv rounds it itself
            assert not torch.allclose(steps, steps.round(), atol=1e-2)
    # The whole conv, rebuilt by hand: input rounded onto its grid, weights onto multiples of max|w| / 64 per
    # output channel, the result rounded onto the output's grid. That is what it computed, and not the float conv.
    def onto_grid(t, row):
        low, high = min(conv.ranges[row, 0].item(), 0.0), max(conv.ranges[row, 1].item(), 0.0)
        scale = (high - low) / 255
        zero = round(-low / scale)
        return (torch.clamp(torch.round(t / scale) + zero, 0, 255) - zero) * scale

    w = conv.weight.detach()
    step = w.abs().amax(dim=(1, 2, 3), keepdim=True) / 64
    w7 = torch.clamp(torch.round(w / step), -64, 64) * step
    assert all(len(torch.unique(torch.round(w7[c] / step[c]))) <= 129 for c in range(w.shape[0]))
    by_hand = onto_grid(torch.nn.functional.conv2d(onto_grid(seen["x"], 0), w7, conv.bias, padding=1), 1)
    assert torch.allclose(by_hand, seen["y"], atol=1e-5)
    in_float = torch.nn.functional.conv2d(seen["x"], w, conv.bias, padding=1)
    assert not torch.allclose(in_float, seen["y"], atol=1e-3)


def test_the_weights_file_stays_a_plain_darn_and_the_rounding_costs_little(hopper_rgb, tmp_path):
    float_model = _shipped_darn().eval()
    model = qat.enable(_shipped_darn())
    assert model.state_dict().keys() == float_model.state_dict().keys()  # the ranges are not weights
    _calibrate(model, [_damaged(hopper_rgb, 0, 0, 128, s)[0] for s in range(3)])
    x, _ = _damaged(hopper_rgb, 180, 200, 128, 5)
    with torch.no_grad():
        a = float_model(torch.from_numpy(x), torch.tensor([[0.5]])).numpy()
        b = model(torch.from_numpy(x), torch.tensor([[0.5]])).numpy()
    assert not np.array_equal(a, b)
    assert psnr(np.clip(a, 0, 1), np.clip(b, 0, 1), 1.0) > 35.0
    # Saved and loaded as training saves it: an ordinary darn8u that checkpoint.load takes as is.
    checkpoint.save(tmp_path / "qat", {"model": model}, {}, {"arch": "darn8u"})
    plain = archs.build("darn8u")
    checkpoint.load(tmp_path / "qat", {"model": plain})
    assert all(torch.equal(p, q) for p, q in zip(plain.state_dict().values(), float_model.state_dict().values()))
    # The ranges round-trip through the metadata, and refuse a model laid out differently.
    again = qat.enable(_shipped_darn())
    qat.set_ranges(again, qat.ranges(model))
    assert qat.ranges(again) == qat.ranges(model)
    with pytest.raises(ValueError, match="another model"):
        qat.set_ranges(qat.enable(archs.build("darn8")), qat.ranges(model))


def test_the_int8_build_for_these_weights_rounds_what_the_training_rounds(hopper_rgb, tmp_path):
    """export.quantize's recipe for fine-tuned weights keeps in float what the training keeps, 7-bit weights
    inside."""
    model = _shipped_darn()
    folder = tmp_path / "run"
    meta = {"arch": "darn8u", "step": 1, "epoch": 1, "history": [{"epoch": 1, "val_psnr": 30.0}], "params": 1,
            "config": {"arch": "darn8u", "data": str(folder / "none"), "chain": "random", "patch": 96},
            "split": {"train": [], "val": [], "test": []}}
    checkpoint.save(folder / "best", {"model": model}, {}, meta)
    crop = folder / "crop.png"
    Image.fromarray(hopper_rgb[100:196, 120:248]).save(crop)
    fp32 = export_checkpoint(folder / "best", folder / "darn.onnx", check_images=[crop])
    calib = [_damaged(hopper_rgb, y, x, 128, s)[0] for s, (y, x) in enumerate([(0, 0), (0, 300), (300, 0)])]
    int8 = quantize(fp32, tmp_path / "darn.int8.onnx", [{"input": c, "level": np.array([[0.5]], np.float32)}
                                                         for c in calib], QAT_RECIPE)

    graph = onnx.load(str(int8)).graph
    consts = {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer}
    quantised_weights = [consts[n.input[0]] for n in graph.node
                         if n.op_type == "DequantizeLinear" and consts.get(n.input[0]) is not None
                         and consts[n.input[0]].dtype == np.int8]
    convs = [n for n in graph.node if n.op_type == "Conv"]
    float_weight = [n for n in convs if n.input[1] in consts and consts[n.input[1]].dtype == np.float32]
    assert len(float_weight) == 10 and len(quantised_weights) == len(convs) - 10 == len(qat.inner_convs(model))
    assert all(np.abs(w).max() <= 64 for w in quantised_weights)

    import onnxruntime as ort

    x, _ = _damaged(hopper_rgb, 256, 128, 128, 9)
    feed = {"input": x, "level": np.array([[0.5]], np.float32)}
    out_float, out_int8 = (ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["output"], feed)[0]
                           for path in (fp32, int8))
    assert not np.array_equal(out_float, out_int8)
    assert psnr(np.clip(out_int8, 0, 1), np.clip(out_float, 0, 1), 1.0) > 40.0

    # Its speed is measured against the float model as the runtime runs both: the level a constant of the graph,
    # which computes what the level input did.
    from export.quantize import _session_with_level, speedup

    folded = _session_with_level(fp32, "level", 0.5).run(["output"], {"input": x})[0]
    np.testing.assert_allclose(folded, out_float, atol=1e-5)
    assert 0 < speedup(fp32, int8, 3, side=64, repeats=1) < float("inf")
