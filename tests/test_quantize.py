"""int8 and fp16 builds: made from real faces, kept within the accuracy budget (the runtime's choice of file
is tested in test_model_choice.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facerestore.degrade import parse_chain
from facerestore.metrics import psnr

from conftest import build_tiny_onnx


def _nchw(img: np.ndarray) -> np.ndarray:
    return (img.astype(np.float32) / 255.0).transpose(2, 0, 1)[None].copy()


@pytest.fixture(scope="module")
def face_case(hopper_rgb) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Calibration crops from the top of a real face photo; a degraded/clean pair from its bottom half."""
    rng = np.random.default_rng(0)
    chain = parse_chain("jpeg:20")
    calib = []
    for _ in range(8):
        y, x = int(rng.integers(0, 300 - 96)), int(rng.integers(0, 512 - 96))
        calib.append(_nchw(chain.apply(np.ascontiguousarray(hopper_rgb[y:y + 96, x:x + 96]), rng)))
    clean = np.ascontiguousarray(hopper_rgb[300:556, 128:384])
    return calib, _nchw(chain.apply(clean, np.random.default_rng(1))), _nchw(clean)


@pytest.fixture(scope="module")
def quantized(tmp_path_factory, face_case) -> tuple[Path, Path]:
    """A tiny conv stack (near identity, like the shipped models at their start) and its int8 QDQ version
    made with the first recipe, in build order, that keeps PSNR on the real face within the budget."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime.quantization", reason="int8 needs onnxruntime.quantization (and onnx)")
    from export.quantize import PSNR_BUDGET_DB, RECIPES, quantize
    from facerestore.session import open_model

    folder = tmp_path_factory.mktemp("int8")
    fp32 = build_tiny_onnx(folder / "tiny.onnx", channels=3, layers=3, seed=3)
    calib, x, target = face_case
    base = psnr(np.clip(open_model(str(fp32), device="cpu").run(x), 0, 1), target, 1.0)
    costs = {}
    for recipe in RECIPES:
        int8 = quantize(fp32, folder / f"{recipe.name}.onnx", calib, recipe)
        costs[recipe.name] = base - psnr(np.clip(open_model(str(int8), device="cpu").run(x), 0, 1), target, 1.0)
        if costs[recipe.name] <= PSNR_BUDGET_DB:
            return fp32, int8
    pytest.fail(f"no int8 recipe within {PSNR_BUDGET_DB} dB on a real face: {costs}")


def test_int8_matches_fp32_within_budget_on_a_real_face(quantized, face_case):
    from facerestore.session import open_model

    fp32, int8 = (open_model(str(p), device="cpu") for p in quantized)
    _, x, target = face_case
    out32 = np.clip(fp32.run(x), 0, 1)
    out8 = np.clip(int8.run(x), 0, 1)
    assert not np.array_equal(out32, out8)  # it really is a different (quantised) computation
    # The budget is an accuracy *cost*: PSNR against the clean face at most 0.1 dB below fp32 ...
    assert psnr(out32, target, 1.0) - psnr(out8, target, 1.0) <= 0.1
    # ... and the two outputs agree closely pixel by pixel (no luck from errors that happen to cancel).
    assert psnr(out8, out32, 1.0) > 40.0


def test_int8_file_is_qdq_and_keeps_the_model_card(quantized):
    import onnx

    fp32, int8 = quantized
    model = onnx.load(str(int8))
    ops = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    props = {p.key: p.value for p in model.metadata_props}
    original = {p.key: p.value for p in onnx.load(str(fp32)).metadata_props}
    assert props["facerestore.precision"] == "int8"
    assert all(props[k] == v for k, v in original.items())
    # FLOPs are those of the fp32 network: the cost model follows DequantizeLinear back to the weights.
    from benchmarks.flops import conv_cost

    assert conv_cost(int8).macs_per_pixel == conv_cost(fp32).macs_per_pixel


def test_build_int8_on_the_face_split_records_its_verdict(tmp_path, shared_faces):
    pytest.importorskip("onnxruntime.quantization")
    from export.quantize import PSNR_BUDGET_DB, build_int8

    fp32 = build_tiny_onnx(tmp_path / "tiny.onnx", channels=1, layers=2, seed=5)
    record = build_int8(fp32, shared_faces, measure_speed=False)
    int8 = tmp_path / "tiny.int8.onnx"
    assert record["psnr_fp32"] > 20.0
    if record["accepted"]:
        assert record["delta_db"] <= PSNR_BUDGET_DB
        assert json.loads((tmp_path / "tiny.int8.json").read_text())["psnr_int8"] == record["psnr_int8"]
        assert int8.is_file()
    else:
        assert all(t["delta_db"] > PSNR_BUDGET_DB for t in record["tried"])
        assert not int8.exists()


def test_fp16_build_from_the_command_line_keeps_the_card_measurement(tmp_path, hopper_rgb):
    """``python -m export.quantize --fp16 --no-int8``: the fp16 file within budget of fp32 on the validation
    faces, its sidecar (the card's speed-up carried over from the previous one), its digest recorded."""
    pytest.importorskip("onnx")
    import subprocess
    import sys

    from PIL import Image

    from facerestore.session import open_model

    faces = tmp_path / "faces"
    faces.mkdir()
    for i in range(44):  # 20 validation + 20 test + a few to train on, as split_faces needs
        y, x = 24 * (i // 11), 40 * (i % 11)
        Image.fromarray(np.ascontiguousarray(hopper_rgb[y:y + 40, x:x + 40])).save(faces / f"{i:02d}.png")
    models = tmp_path / "models"
    fp32 = build_tiny_onnx(models / "big.onnx", channels=3, layers=3, seed=3)
    card = {"gpu": "NVIDIA H200", "speedup_1024px": 1.28}
    (models / "big.fp16.json").write_text(json.dumps({"accepted": True, "card": card}))

    run = subprocess.run([sys.executable, "-m", "export.quantize", "--models", str(models), "--names", "big",
                          "--faces", str(faces), "--fp16", "--no-int8"],
                         capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    assert run.returncode == 0, run.stderr
    record = json.loads(run.stdout)
    assert record["accepted"] and abs(record["delta_db"]) <= record["budget_db"]
    sidecar = json.loads((models / "big.fp16.json").read_text())
    assert sidecar["card"] == card and sidecar["psnr_fp32"] == pytest.approx(record["psnr_fp32"])
    assert "big.fp16.onnx" in json.loads((models / "checksums.json").read_text())["sha256"]
    assert not (models / "big.int8.onnx").exists()
    x = _nchw(hopper_rgb[100:228, 100:228])
    out32 = open_model(str(fp32), device="cpu").run(x)
    out16 = open_model(str(models / "big.fp16.onnx"), device="cpu").run(x)
    assert not np.array_equal(out32, out16) and np.abs(out32 - out16).max() < 1e-2  # really fp16, and close


def test_cli_a_missing_or_broken_model_is_a_one_line_error_with_exit_2(tmp_path, capsys):
    pytest.importorskip("onnx")
    from export.quantize import main

    models = tmp_path / "models"
    build_tiny_onnx(models / "big.onnx")
    (models / "gan.onnx").write_bytes(np.random.default_rng(0).bytes(500))
    # Each was an ONNX Runtime traceback (exit 1); a missing second model only after the first was built.
    for names, bad in (("big,basic", "basic.onnx"), ("big,gan", "gan.onnx")):
        assert main(["--models", str(models), "--names", names, "--faces", str(tmp_path), "--no-speed"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and bad in err and len(err.strip().splitlines()) == 1, err
    assert main(["--models", str(models), "--names", "big", "--faces", str(tmp_path / "none")]) == 2
    assert "none: not a folder" in capsys.readouterr().err
    assert sorted(p.name for p in models.iterdir()) == ["big.onnx", "gan.onnx"]  # nothing built, no checksums
