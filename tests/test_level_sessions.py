"""A conditioned model on the CPU runs with its damage level made a constant of the graph (session.LevelSessions):
the same pixels as feeding the level, with the level's scale and shift folded into the convolutions."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from facerestore import contract, onnx_wire, registry
from facerestore.restore import restore_pixels
from facerestore.session import LevelSessions, open_model

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def _ort(data: bytes, optimized: str | None = None):
    options = ort.SessionOptions()
    if optimized:  # the graph ONNX Runtime really runs, without the CPU-specific layout of the highest level
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = optimized
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def _nchw(pixels: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(pixels.astype(np.float32).transpose(2, 0, 1)[None] / 255.0)


def test_a_graph_input_becomes_a_constant_and_the_rest_is_kept(tiny_conditioned_model, hopper_rgb):
    data = tiny_conditioned_model.read_bytes()
    fixed = onnx_wire.with_constant_input(data, "level", np.full((1, 1), 0.4, np.float32))
    model, original = onnx.load_from_string(fixed), onnx.load_from_string(data)
    assert [i.name for i in model.graph.input] == [contract.INPUT_NAME]
    level = [t for t in model.graph.initializer if t.name == "level"]
    assert len(level) == 1 and onnx.numpy_helper.to_array(level[0]).tolist() == [[pytest.approx(0.4)]]
    assert list(model.graph.node) == list(original.graph.node)
    assert {p.key: p.value for p in model.metadata_props} == {p.key: p.value for p in original.metadata_props}
    x = _nchw(hopper_rgb[:96, :128])
    want = _ort(data).run(None, {contract.INPUT_NAME: x, "level": np.full((1, 1), 0.4, np.float32)})[0]
    got = _ort(fixed).run(None, {contract.INPUT_NAME: x})[0]
    np.testing.assert_array_equal(got, want)
    assert np.abs(want - x).max() > 0.01  # the level matters: the correction is not nothing


def test_a_default_value_under_the_input_name_is_replaced_not_duplicated(tiny_conditioned_model):
    model = onnx.load(str(tiny_conditioned_model))
    model.graph.initializer.append(onnx.numpy_helper.from_array(np.full((1, 1), 0.9, np.float32), "level"))
    fixed = onnx.load_from_string(onnx_wire.with_constant_input(model.SerializeToString(), "level",
                                                                np.full((1, 1), 0.2, np.float32)))
    level = [onnx.numpy_helper.to_array(t) for t in fixed.graph.initializer if t.name == "level"]
    assert len(level) == 1 and level[0].tolist() == [[pytest.approx(0.2)]]


def test_an_input_the_graph_does_not_have_is_an_error(tiny_conditioned_model):
    with pytest.raises(ValueError, match="no graph input named 'strength'"):
        onnx_wire.with_constant_input(tiny_conditioned_model.read_bytes(), "strength", np.zeros((1, 1), np.float32))


def _darn():
    return registry.MODELS_DIR / "darn.onnx"


def test_darn_on_the_cpu_restores_the_same_pixels_as_when_fed_the_level(hopper_rgb):
    model = open_model(_darn(), device="cpu", threads=2)
    assert model._by_level is not None
    fed = open_model(_darn(), device="cpu", threads=2)
    fed._by_level = None  # the graph as shipped, the level an input
    pixels = hopper_rgb[:200, :300].astype(np.float32) / 255.0
    for level in (0.0, 0.35, 0.87):
        got, want = restore_pixels(model, pixels, strength=level), restore_pixels(fed, pixels, strength=level)
        np.testing.assert_allclose(got, want, atol=2e-6)
    # A batch of tiles runs one tile at a time, each with the same level.
    tiles = np.concatenate([_nchw(hopper_rgb[y:y + 64, 100:164]) for y in (0, 64, 128)])
    np.testing.assert_allclose(model.run(tiles, 0.6), fed.run(tiles, 0.6), atol=2e-6)


def test_the_level_scale_and_shift_fold_into_the_convolutions(tmp_path):
    data = _darn().read_bytes()
    ops = {}
    for name, variant in (("fed", data),
                          ("fixed", onnx_wire.with_constant_input(data, "level", np.full((1, 1), 0.5, np.float32)))):
        _ort(variant, optimized=str(tmp_path / f"{name}.onnx"))
        ops[name] = collections.Counter(n.op_type for n in onnx.load(str(tmp_path / f"{name}.onnx")).graph.node)
    blocks = 8
    assert ops["fed"]["Mul"] >= blocks and ops["fed"]["Relu"] >= blocks  # scale passes between conv and ReLU
    assert ops["fixed"]["Relu"] == 0  # every ReLU fused into its convolution: nothing left between them
    assert ops["fixed"]["Mul"] <= 1
    assert ops["fixed"]["Conv"] + ops["fixed"]["FusedConv"] == ops["fed"]["Conv"] + ops["fed"]["FusedConv"]


def test_sessions_are_made_once_per_level_and_only_the_latest_are_kept(tiny_conditioned_model):
    made = []

    def make(data: bytes):
        made.append(data)
        return _ort(data)

    sessions = LevelSessions(tiny_conditioned_model.read_bytes(), "level", make)
    first = sessions.session(0.5)
    assert sessions.session(0.5) is first and len(made) == 1
    others = [i / 100 for i in range(1, LevelSessions.KEEP + 1)]
    for level in others:
        sessions.session(level)
    assert len(made) == 1 + len(others) and len(sessions._sessions) == LevelSessions.KEEP
    assert sessions.session(others[-1]) is sessions.session(np.float32(others[-1]))
    sessions.session(0.5)  # the oldest, pushed out by the others: made again
    assert len(made) == 2 + len(others)


def test_the_report_models_keep_their_one_session(tiny_rgb_model):
    assert open_model(tiny_rgb_model, device="cpu")._by_level is None
