"""Which model file runs: shipped names and user paths, ``--precision``, and the fp16 build on a CUDA card."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from facerestore import registry
from facerestore.errors import ModelError
from facerestore.gpu import BoundModel, for_device
from facerestore.model_choice import ModelRequest, choose_file, shipped_build
from facerestore.session import CUDA


@pytest.fixture
def models_dir(tmp_path, monkeypatch) -> Path:
    """An empty models folder holding only big.onnx; builds and sidecars are added by each test."""
    monkeypatch.setattr(registry, "MODELS_DIR", tmp_path)
    (tmp_path / "big.onnx").write_bytes(b"fp32")
    return tmp_path


def _build(precision: str, on_card: bool = False, name: str = "big") -> Path:
    return shipped_build(registry.SHIPPED[name], precision, on_card).path


def test_fp32_and_forced_fp16(models_dir):
    assert _build("fp32") == _build("fp32", on_card=True) == models_dir / "big.onnx"
    with pytest.raises(ModelError, match="no fp16 version"):
        _build("fp16")
    (models_dir / "big.fp16.onnx").write_bytes(b"fp16")
    assert _build("fp16") == models_dir / "big.fp16.onnx"  # forced: runs even without a sidecar, on any device
    with pytest.raises(ValueError):
        choose_file("big", "bf16")
    with pytest.raises(ValueError):
        choose_file("big", "int8")  # no int8 build ships, so no precision selects one


def test_fp16_is_the_card_file_only_when_accepted(models_dir):
    assert _build("auto", on_card=True) == models_dir / "big.onnx"  # none shipped
    (models_dir / "big.fp16.onnx").write_bytes(b"fp16")
    assert _build("auto", on_card=True) == models_dir / "big.onnx"  # no record of its accuracy: never chosen
    (models_dir / "big.fp16.json").write_text(json.dumps({"accepted": False, "delta_db": 0.3}))
    assert _build("auto", on_card=True) == models_dir / "big.onnx"
    with pytest.raises(ModelError, match="fp16 version of 'big' was rejected"):
        _build("fp16")
    (models_dir / "big.fp16.json").write_text(json.dumps({"accepted": True, "delta_db": 0.002}))
    assert _build("auto", on_card=True) == models_dir / "big.fp16.onnx"
    assert _build("fp16") == models_dir / "big.fp16.onnx"
    # auto off the card never picks fp16: that choice is made only once a CUDA session is open.
    assert _build("auto") == models_dir / "big.onnx"


def test_names_and_user_paths(tmp_path):
    chosen = choose_file("big", "fp32")
    assert chosen.name == "big" and chosen.path == registry.SHIPPED["big"].path
    fp16 = choose_file("big", "fp16")  # checked against checksums.json like the fp32 file
    assert fp16.name == "big.fp16.onnx" and fp16.path.name == "big.fp16.onnx"
    user = tmp_path / "mine.onnx"
    user.write_bytes(b"not opened here")
    assert choose_file(str(user), "auto").path == user
    with pytest.raises(ModelError, match="shipped models"):
        choose_file(str(user), "fp16")
    with pytest.raises(ModelError, match="unknown model 'huge'"):
        choose_file("huge", "auto")
    with pytest.raises(ModelError, match="not found"):
        choose_file(str(tmp_path / "nope.onnx"), "auto")


def test_a_corrupt_fp16_build_is_refused(tmp_path, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    for name in ("big.onnx", "big.fp16.onnx", "big.fp16.json", "checksums.json"):
        (models / name).write_bytes((registry.MODELS_DIR / name).read_bytes())
    with (models / "big.fp16.onnx").open("ab") as fh:
        fh.write(b"\0")
    monkeypatch.setattr(registry, "MODELS_DIR", models)
    monkeypatch.setattr(registry, "CHECKSUMS_FILE", models / "checksums.json")
    assert choose_file("big", "fp32").path == models / "big.onnx"
    with pytest.raises(ModelError, match="corrupt"):
        choose_file("big", "fp16")
    with pytest.raises(ModelError, match="corrupt"):
        choose_file("big", "auto", on_card=True)


def test_auto_runs_the_shipped_fp16_file_once_cuda_really_runs(monkeypatch):
    """The switch to fp16 happens only on a session that reported CUDA, keeps the request's threads and
    verbosity, and never overrides a precision the user chose."""
    import facerestore.gpu as gpu
    import facerestore.session as session

    fp32, fp16 = registry.MODELS_DIR / "big.onnx", registry.MODELS_DIR / "big.fp16.onnx"
    assert _build("auto", on_card=True) == fp16, "big.fp16.onnx and its accepting sidecar ship in the package"
    real_open = session.open_model
    opened = []

    def open_as_if_on_a_card(path, device="auto", threads=None, verbose=False, streams=None, name=None):
        opened.append((Path(path), device, threads, verbose))
        model = real_open(path, "cpu", threads, name=name)
        model.provider = CUDA
        return model

    monkeypatch.setattr(session, "open_model", open_as_if_on_a_card)
    monkeypatch.setattr(gpu, "cuda_memory", lambda device_id=0: (8 * 2**30, 16 * 2**30))
    bound, _ = for_device(ModelRequest("big", threads=2, verbose=True).open(), None)
    assert isinstance(bound, BoundModel) and bound.path == fp16 and bound.name == "big.fp16.onnx"
    assert opened == [(fp32, "auto", 2, True), (fp16, "cuda", 2, True)]

    opened.clear()
    assert ModelRequest("big", precision="fp32").open().path == fp32  # the user's choice wins
    assert [path for path, *_ in opened] == [fp32]

    monkeypatch.setattr(session, "open_model", real_open)
    on_cpu = ModelRequest("big", device="cpu").open()
    assert on_cpu.path == fp32 and for_device(on_cpu, None)[0] is on_cpu  # never fp16 on the CPU


def test_request_from_the_command_line_options():
    params = {"model": "gan", "precision": "FP32", "device": "CPU", "threads": 3, "tile": 256, "verbose": True}
    assert ModelRequest.from_params(params) == ModelRequest("gan", "fp32", "cpu", 3, True)
