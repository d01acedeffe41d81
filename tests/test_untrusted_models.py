"""Untrusted model files through the real command: refused with one clear line and exit code 2, never run.

``--model PATH.onnx`` accepts only a self-contained file within the size limit that fits the model contract;
shipped models must match the sha256 recorded in the package; training checkpoints never unpickle anything.
"""

from __future__ import annotations

import ast
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from facerestore import contract, registry
from facerestore.cli import cli

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def photo(tmp_path, hopper_path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    with Image.open(hopper_path) as im:
        im.resize((64, 75)).save(folder / "face.jpg")
    return folder


def _enhance(photo: Path, model: str, out: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["enhance", str(photo), "-o", str(out), "--model", model, "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.stdout, result.stderr


def _assert_refused(photo: Path, model: Path | str, words: str, tmp_path: Path) -> str:
    out = tmp_path / "out"
    code, stdout, stderr = _enhance(photo, str(model), out)
    assert code == 2, stderr
    assert stdout == "" and "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], stderr
    assert not out.exists()  # nothing was run, nothing written
    return lines[0]


def _save(model, path: Path) -> Path:
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _conv_model(path: Path, in_shape: list, out_shape: list, elem=TensorProto.FLOAT, extra_input: bool = False,
                channels: int = 3) -> Path:
    """A 3x3 conv (or identity) model with the given I/O declarations."""
    inputs = [helper.make_tensor_value_info(contract.INPUT_NAME, elem, in_shape)]
    nodes = [helper.make_node("Identity", [contract.INPUT_NAME], [contract.OUTPUT_NAME])]
    if extra_input:
        inputs.append(helper.make_tensor_value_info("strength", TensorProto.FLOAT, [1]))
        nodes = [helper.make_node("Mul", [contract.INPUT_NAME, "strength"], [contract.OUTPUT_NAME])]
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info(contract.OUTPUT_NAME, elem,
                                                                                  out_shape)])
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


@pytest.mark.parametrize("case, words", [
    ("two_inputs", "exactly one input and one output"),
    ("int64_input", "must be float32"),
    ("two_channels", "channels must be 1 (gray) or 3 (RGB)"),
    ("five_dims", "must be 4-D"),
])
def test_models_that_do_not_fit_the_contract(case, words, photo, tmp_path):
    path = tmp_path / f"{case}.onnx"
    nchw = ["N", 3, "H", "W"]
    if case == "two_inputs":
        _conv_model(path, nchw, nchw, extra_input=True)
    elif case == "int64_input":
        _conv_model(path, nchw, nchw, elem=TensorProto.INT64)
    elif case == "two_channels":
        _conv_model(path, ["N", 2, "H", "W"], ["N", 2, "H", "W"])
    else:
        _conv_model(path, ["N", 3, "D", "H", "W"], ["N", 3, "D", "H", "W"])
    line = _assert_refused(photo, path, words, tmp_path)
    assert path.name in line


@pytest.mark.parametrize("content", [
    pytest.param(b"", id="empty"),
    pytest.param(b"<html>404 Not Found</html>\n", id="html-page"),
    pytest.param(b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(range(256)) * 4, id="jpeg-bytes"),
])
def test_files_that_are_not_onnx(content, photo, tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    _assert_refused(photo, path, "model.onnx", tmp_path)


def test_truncated_protobuf(photo, tmp_path, tiny_rgb_model):
    data = tiny_rgb_model.read_bytes()
    for keep in (len(data) // 2, len(data) - 7, 40):
        path = tmp_path / f"cut{keep}.onnx"
        path.write_bytes(data[:keep])
        _assert_refused(photo, path, path.name, tmp_path)


def _with_external_reference(tiny: Path, location: str, dst: Path) -> Path:
    """The tiny model with its first weight moved to an external file at ``location`` (never created here)."""
    model = onnx.load(str(tiny))
    weight = model.graph.initializer[0]
    weight.ClearField("raw_data")
    weight.ClearField("float_data")
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(4 * int(np.prod(weight.dims))))):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    dst.write_bytes(model.SerializeToString())
    return dst


@pytest.mark.parametrize("location", ["../../../../etc/passwd", "/etc/shadow", "weights.bin"])
def test_external_data_references_are_refused(location, photo, tmp_path, tiny_rgb_model):
    (tmp_path / "weights.bin").write_bytes(np.zeros(4096, np.float32).tobytes())  # even when present
    path = _with_external_reference(tiny_rgb_model, location, tmp_path / "ext.onnx")
    _assert_refused(photo, path, "external data", tmp_path)


def test_oversized_file_is_refused_before_it_is_read(photo, tmp_path):
    """A sparse 600 MB file: no disk used, and refused from its size alone (reading it would take seconds)."""
    path = tmp_path / "huge.onnx"
    with path.open("wb") as fh:
        fh.truncate(600 * 2**20)
    _assert_refused(photo, path, "larger than", tmp_path)


def test_size_limit_is_injectable(photo, tmp_path, tiny_rgb_model, monkeypatch):
    from facerestore import session

    monkeypatch.setattr(session, "MAX_MODEL_BYTES", tiny_rgb_model.stat().st_size - 1)
    _assert_refused(photo, tiny_rgb_model, "larger than", tmp_path)


def test_a_valid_model_still_runs(photo, tmp_path, tiny_rgb_model):
    code, stdout, stderr = _enhance(photo, str(tiny_rgb_model), tmp_path / "out")
    assert code == 0, stderr
    assert (tmp_path / "out" / "face.jpg").is_file()


# ------------------------------------------------------------------------------------------------ shipped models

@pytest.fixture
def temp_registry(tmp_path, monkeypatch, tiny_rgb_model):
    """A copy of the shipped-model registry in a temporary folder, holding big.onnx with its true digest."""
    models = tmp_path / "models"
    models.mkdir()
    data = tiny_rgb_model.read_bytes()
    (models / "big.onnx").write_bytes(data)
    monkeypatch.setattr(registry, "MODELS_DIR", models)
    monkeypatch.setattr(registry, "SHIPPED", {
        "big": registry.ModelSpec("big", "big.onnx", hashlib.sha256(data).hexdigest(), "test"),
        "basic": registry.ModelSpec("basic", "basic.onnx", None, "test"),
    })
    (models / "basic.onnx").write_bytes(data)
    return models


def test_shipped_model_runs_when_its_checksum_matches(photo, tmp_path, temp_registry):
    code, _, stderr = _enhance(photo, "big", tmp_path / "out")
    assert code == 0, stderr


@pytest.mark.parametrize("tamper", ["flip", "swap", "truncate"])
def test_shipped_model_checksum_mismatch_is_refused(tamper, photo, tmp_path, temp_registry):
    path = temp_registry / "big.onnx"
    data = bytearray(path.read_bytes())
    if tamper == "flip":
        data[len(data) // 2] ^= 1  # one weight bit: still a loadable model, silently different pictures
    elif tamper == "swap":
        from conftest import build_tiny_onnx

        data = bytearray(build_tiny_onnx(tmp_path / "other.onnx", seed=1).read_bytes())
    else:
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))
    _assert_refused(photo, "big", "corrupt", tmp_path)


def test_shipped_model_without_recorded_checksum_is_refused(photo, tmp_path, temp_registry):
    _assert_refused(photo, "basic", "no recorded checksum", tmp_path)


def test_the_package_records_a_checksum_for_every_installed_shipped_model():
    for spec in registry.SHIPPED.values():
        if spec.installed:
            assert spec.sha256 and len(spec.sha256) == 64, f"{spec.filename} is installed without a checksum"


# ------------------------------------------------------------------------------------------- training checkpoints

def test_checkpoint_with_a_pickle_payload_is_never_executed(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    from export import checkpoint

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    ckpt = tmp_path / "ckpt"
    torch.save({"model": Payload()}, ckpt.with_suffix(".safetensors"))  # a pickle wearing the right name
    ckpt.with_suffix(".json").write_text("{}")
    with pytest.raises(Exception) as info:
        checkpoint.load(ckpt, {"model": torch.nn.Conv2d(3, 3, 3)})
    assert not marker.exists(), "loading a checkpoint executed pickled code"
    assert "pickle" not in type(info.value).__module__


def test_no_code_path_unpickles():
    """torch.load only with weights_only=True, and no pickle/dill/joblib imports, anywhere in the project."""
    offenders = []
    for path in [*ROOT.joinpath("facerestore").rglob("*.py"), *ROOT.joinpath("export").rglob("*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
                if any(n and n.split(".")[0] in ("pickle", "dill", "joblib", "cloudpickle") for n in names):
                    offenders.append(f"{path}:{node.lineno} imports a pickle module")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load" \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch":
                safe = any(k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                           for k in node.keywords)
                if not safe:
                    offenders.append(f"{path}:{node.lineno} torch.load without weights_only=True")
    assert not offenders, offenders
