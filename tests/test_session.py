"""session (and the shipped-model lookup in front of it): checksums, file safety, contract validation, providers and log silencing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from facerestore import contract, onnx_wire, registry, session
from facerestore.errors import DeviceUnavailableError, ModelError
from facerestore.model_choice import ModelRequest
from facerestore.session import open_model

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _reference_forward(path: Path, x: np.ndarray) -> np.ndarray:
    """The fixture's conv stack (3x3 convs, zero padding 1, ReLU between) computed in plain numpy."""
    weights = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}
    layers = len(weights) // 2
    h = x.astype(np.float64)
    for i in range(layers):
        w, b = weights[f"w{i}"], weights[f"b{i}"]
        padded = np.pad(h, ((0, 0), (0, 0), (1, 1), (1, 1)))
        out = np.zeros((h.shape[0], w.shape[0], h.shape[2], h.shape[3]))
        for dy in range(3):
            for dx in range(3):
                patch = padded[:, :, dy:dy + h.shape[2], dx:dx + h.shape[3]]
                out += np.einsum("oi,nihw->nohw", w[:, :, dy, dx], patch)
        h = out + b[None, :, None, None]
        if i < layers - 1:
            h = np.maximum(h, 0)
    return h


def _graph_model(path: Path, inputs, outputs, nodes, inits=()) -> Path:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _vi(name: str, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def test_opens_fixture_model_on_cpu(tiny_rgb_model):
    model = open_model(str(tiny_rgb_model), device="cpu", threads=1)
    assert model.channels == 3
    assert model.receptive_radius == 2
    assert model.provider == "CPUExecutionProvider"
    assert model.metadata[contract.META_ARCH] == "tiny2"
    assert model.name == tiny_rgb_model.name
    x = np.random.default_rng(0).random((2, 3, 9, 7), dtype=np.float32)
    y = model.run(x)
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, _reference_forward(tiny_rgb_model, x), atol=1e-5)


def test_gray_model_reports_one_channel(tiny_gray_model):
    assert open_model(str(tiny_gray_model), device="cpu").channels == 1


def test_auto_device_keeps_onnxruntime_noise_off_stderr(tiny_rgb_model, capfd):
    model = open_model(str(tiny_rgb_model), device="auto")
    assert model.provider in ("CPUExecutionProvider", "CUDAExecutionProvider")
    err = capfd.readouterr().err
    assert "onnxruntime" not in err.lower() and "error" not in err.lower(), err


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_cpu_runs_get_one_single_threaded_stream_per_thread(tiny_rgb_model, device):
    """Also under ``auto`` where onnxruntime-gpu falls back to the CPU (as on a machine without a card)."""
    model = open_model(str(tiny_rgb_model), device=device, threads=2)
    if model.provider == "CUDAExecutionProvider":
        assert model.streams == 1  # a card runs one stream; its batches fill it
        return
    assert model.streams == 2
    assert open_model(str(tiny_rgb_model), device=device, threads=1).streams == 1
    assert open_model(str(tiny_rgb_model), device=device, threads=4, streams=2).streams == 2


def test_cuda_request_without_cuda_is_an_error_not_a_cpu_run(tiny_rgb_model, capfd):
    try:
        model = open_model(str(tiny_rgb_model), device="cuda")
    except DeviceUnavailableError as exc:
        assert "CUDA" in str(exc)
        assert "onnxruntime" not in capfd.readouterr().err.lower()
    else:  # a machine with a working GPU: then it must really run on CUDA
        assert model.provider == "CUDAExecutionProvider"


def test_unknown_name_and_missing_path(tmp_path):
    with pytest.raises(ModelError, match="unknown model 'huge'"):
        ModelRequest("huge").open()
    with pytest.raises(ModelError, match="not found"):
        ModelRequest(str(tmp_path / "nope.onnx")).open()


def test_garbage_file_is_a_model_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\xff\xff\xff\xff not protobuf at all")
    with pytest.raises(ModelError, match="bad.onnx"):
        open_model(str(bad))


def test_oversized_file_is_refused(tiny_rgb_model, monkeypatch):
    monkeypatch.setattr(session, "MAX_MODEL_BYTES", 100)
    with pytest.raises(ModelError, match="larger than"):
        open_model(str(tiny_rgb_model))


def test_external_data_is_refused_even_when_the_data_file_is_at_hand(tiny_rgb_model, tmp_path, monkeypatch):
    model = onnx.load(str(tiny_rgb_model))
    dst = tmp_path / "ext.onnx"
    onnx.save(model, str(dst), save_as_external_data=True, all_tensors_to_one_file=True, location="ext.bin",
              size_threshold=0)
    assert (tmp_path / "ext.bin").is_file()
    monkeypatch.chdir(tmp_path)  # where ONNX Runtime would look for it when loading from bytes
    with pytest.raises(ModelError, match="external data"):
        open_model(str(dst))


def test_external_scan_sees_tensors_nested_in_attributes():
    inner = numpy_helper.from_array(np.ones(3, np.float32), "c")
    inner.data_location = TensorProto.EXTERNAL
    node = helper.make_node("Constant", [], ["out"], value=inner)
    graph = helper.make_graph([node], "g", [], [_vi("out", [3])])
    data = helper.make_model(graph).SerializeToString()
    assert onnx_wire.external_tensor_found(data)
    inner.data_location = TensorProto.DEFAULT
    clean = helper.make_model(helper.make_graph([helper.make_node("Constant", [], ["out"], value=inner)], "g", [],
                                                [_vi("out", [3])])).SerializeToString()
    assert not onnx_wire.external_tensor_found(clean)


@pytest.mark.parametrize("case, message", [
    ("names", "must be named"),
    ("channels", "channels must be 1"),
    ("dtype", "float32"),
    ("rank", "4-D"),
    ("two_outputs", "exactly one input and one output"),
])
def test_contract_violations_are_explained(tmp_path, case, message):
    shape = ["N", 3, "H", "W"]
    inputs = [_vi(contract.INPUT_NAME, shape)]
    outputs = [_vi(contract.OUTPUT_NAME, shape)]
    nodes = [helper.make_node("Identity", [contract.INPUT_NAME], [contract.OUTPUT_NAME])]
    if case == "names":
        inputs = [_vi("x", shape)]
        nodes = [helper.make_node("Identity", ["x"], [contract.OUTPUT_NAME])]
    elif case == "channels":
        inputs, outputs = [_vi(contract.INPUT_NAME, ["N", 2, "H", "W"])], [_vi(contract.OUTPUT_NAME, ["N", 2, "H", "W"])]
    elif case == "dtype":
        inputs = [_vi(contract.INPUT_NAME, shape, TensorProto.DOUBLE)]
        outputs = [_vi(contract.OUTPUT_NAME, shape, TensorProto.DOUBLE)]
    elif case == "rank":
        inputs, outputs = [_vi(contract.INPUT_NAME, [3, "H", "W"])], [_vi(contract.OUTPUT_NAME, [3, "H", "W"])]
    elif case == "two_outputs":
        outputs.append(_vi("extra", shape))
        nodes.append(helper.make_node("Identity", [contract.INPUT_NAME], ["extra"]))
    path = _graph_model(tmp_path / f"{case}.onnx", inputs, outputs, nodes)
    with pytest.raises(ModelError, match=message):
        open_model(str(path))


def test_missing_radius_falls_back_to_a_safe_default(tmp_path):
    shape = ["N", 1, "H", "W"]
    path = _graph_model(tmp_path / "id.onnx", [_vi(contract.INPUT_NAME, shape)], [_vi(contract.OUTPUT_NAME, shape)],
                        [helper.make_node("Identity", [contract.INPUT_NAME], [contract.OUTPUT_NAME])])
    assert open_model(str(path)).receptive_radius == session.DEFAULT_RECEPTIVE_RADIUS


# ------------------------------------------------------------------------------------------ shipped models

@pytest.fixture
def fake_shipped(tmp_path, monkeypatch, tiny_rgb_model):
    """A models folder holding big.onnx (the tiny fixture) with its real checksum recorded."""
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    (models_dir / "big.onnx").write_bytes(tiny_rgb_model.read_bytes())
    digest = hashlib.sha256(tiny_rgb_model.read_bytes()).hexdigest()
    monkeypatch.setattr(registry, "MODELS_DIR", models_dir)
    monkeypatch.setattr(registry, "SHIPPED", {
        "big": registry.ModelSpec("big", "big.onnx", digest, "test"),
        "gan": registry.ModelSpec("gan", "gan.onnx", "0" * 64, "test"),
    })
    return models_dir


def test_shipped_model_opens_after_checksum(fake_shipped):
    model = ModelRequest("big", device="cpu").open()
    assert model.name == "big" and model.path == fake_shipped / "big.onnx"


def test_shipped_model_with_wrong_checksum_is_refused(fake_shipped):
    with (fake_shipped / "big.onnx").open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ModelError, match="corrupt"):
        ModelRequest("big").open()


def test_missing_shipped_model_says_not_installed(fake_shipped):
    with pytest.raises(ModelError, match="not installed"):
        ModelRequest("gan").open()


def test_registry_lists_the_reports_three_models_and_our_own():
    assert set(registry.SHIPPED) == {"basic", "big", "gan", "darn"}
    assert {name for name, spec in registry.SHIPPED.items() if spec.origin == "report"} == {"basic", "big", "gan"}
    assert registry.DEFAULT_MODEL == "big"
    assert all(spec.filename == f"{name}.onnx" for name, spec in registry.SHIPPED.items())


def test_run_all_keeps_order_and_reads_batches_lazily(tiny_rgb_model):
    """Concurrent runs give each batch's own result, and never cut more than a few tiles ahead (memory)."""
    model = open_model(str(tiny_rgb_model), device="cpu", threads=2)
    rng = np.random.default_rng(4)
    inputs = [rng.random((1, 3, 20 + i, 16), dtype=np.float32) for i in range(10)]
    pulled: list[int] = []

    def lazily():
        for i, x in enumerate(inputs):
            pulled.append(i)
            yield x

    results = model.run_all(lazily())
    first = next(results)
    assert len(pulled) <= model.streams + 1
    outputs = [first, *results]
    assert len(outputs) == len(inputs)
    for x, y in zip(inputs, outputs):
        np.testing.assert_array_equal(y, model.run(x))


def _with_property(src: Path, dst: Path, key: str, value: str) -> Path:
    model = onnx.load(str(src))
    entry = model.metadata_props.add()
    entry.key, entry.value = key, value
    onnx.save(model, str(dst))
    return dst


def test_a_declared_memory_figure_is_read_and_a_bad_one_refused(tiny_rgb_model, tmp_path):
    assert open_model(str(tiny_rgb_model)).bytes_per_pixel is None  # BigCNN's figure applies
    lean = _with_property(tiny_rgb_model, tmp_path / "lean.onnx", contract.META_BYTES_PER_PIXEL, "300")
    assert open_model(str(lean)).bytes_per_pixel == 300
    for bad in ("0", "-5", "lots"):
        path = _with_property(tiny_rgb_model, tmp_path / "bad.onnx", contract.META_BYTES_PER_PIXEL, bad)
        with pytest.raises(ModelError, match=f"bad.onnx: {contract.META_BYTES_PER_PIXEL}"):
            open_model(str(path))
