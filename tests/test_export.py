"""Checkpoint -> ONNX: contract, full checker, runtime parity on real photos, metadata read back by the runtime."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from PIL import Image  # noqa: E402

from export import archs, checkpoint  # noqa: E402
from export.data import to_gray, to_nchw  # noqa: E402
from export.onnx_export import (ExportError, check_parity, export_checkpoint, load_model,  # noqa: E402
                                write_checksums)
from facerestore import contract  # noqa: E402


def _fake_trained_checkpoint(folder: Path, arch: str, hopper_rgb: np.ndarray) -> Path:
    """A checkpoint shaped like train()'s: perturbed weights, config, history, split with 2 real val photos."""
    torch.manual_seed(7)
    model = archs.build(arch)
    archs.identity_init(model)
    with torch.no_grad():
        for conv in model.convs():
            conv.bias.normal_(0, 0.01)  # non-zero biases, as after training (zero ones get folded away)
    data = folder / "faces"
    data.mkdir(parents=True, exist_ok=True)
    for i, (y, x) in enumerate(((120, 160), (300, 220))):
        Image.fromarray(hopper_rgb[y:y + 40, x:x + 48]).save(data / f"v{i}.png")
    meta = {"arch": arch, "step": 1200, "epoch": 8, "params": archs.count_params(model),
            "config": {"arch": arch, "data": str(data), "extra": [str(folder / "natural")], "chain": "random", "patch": 64},
            "history": [{"epoch": 7, "val_psnr": 30.25}, {"epoch": 8, "val_psnr": 31.5}],
            "split": {"train": ["a.png", "b.png"], "val": ["v0.png", "v1.png"], "test": ["t.png"]}}
    base = folder / arch / "best"
    checkpoint.save(base, {"model": model}, {}, meta)
    return base


@pytest.fixture(scope="module")
def check_images(tmp_path_factory, hopper_rgb) -> list[Path]:
    """Two crops of a real photo, of different odd sizes (exercising the dynamic axes)."""
    folder = tmp_path_factory.mktemp("check")
    paths = []
    for i, (h, w) in enumerate(((97, 131), (160, 72))):
        p = folder / f"crop{i}.png"
        Image.fromarray(hopper_rgb[140:140 + h, 150:150 + w]).save(p)
        paths.append(p)
    return paths


@pytest.fixture(scope="module")
def exported(tmp_path_factory, hopper_rgb, check_images) -> dict[str, tuple[Path, Path]]:
    """arch -> (checkpoint base, exported .onnx); gray 'gan' uses the default check (Grace Hopper, 2 sizes)."""
    folder = tmp_path_factory.mktemp("export")
    out = {}
    for arch in ("basic", "gan"):
        base = _fake_trained_checkpoint(folder, arch, hopper_rgb)
        images = check_images if arch == "basic" else ()
        path = export_checkpoint(base.with_suffix(".json"), folder / "models" / f"{arch}.onnx",
                                 check_images=images)
        out[arch] = (base, path)
    return out


def _session(path: Path) -> "ort.InferenceSession":
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("arch", ["basic", "gan"])
def test_file_obeys_the_contract(exported, arch):
    path = exported[arch][1]
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    # Self-contained: every weight is embedded, nothing beside the file.
    assert all(t.data_location != onnx.TensorProto.EXTERNAL for t in proto.graph.initializer)
    assert not [p.name for p in path.parent.iterdir() if p.suffix not in (".onnx", ".json")]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # like any file the user writes, not mkstemp's 0600
    channels = archs.ARCHS[arch].in_channels
    (inp,), (out,) = proto.graph.input, proto.graph.output
    assert (inp.name, out.name) == (contract.INPUT_NAME, contract.OUTPUT_NAME)
    for t in (inp, out):
        assert t.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
        dims = t.type.tensor_type.shape.dim
        assert [d.dim_value for d in dims][1] == channels
        assert all(dims[i].dim_param and not dims[i].dim_value for i in (0, 2, 3))  # dynamic N, H, W


@pytest.mark.parametrize("arch", ["basic", "gan"])
def test_runtime_matches_torch_on_a_real_photo_batch(exported, arch, hopper_rgb):
    base, path = exported[arch]
    model, _ = load_model(base)
    crop = hopper_rgb[60:60 + 83, 200:200 + 117]
    crops = [crop, crop[::-1, ::-1]]
    if archs.ARCHS[arch].in_channels == 1:
        crops = [to_gray(np.ascontiguousarray(c)) for c in crops]
    x = np.stack([to_nchw(np.ascontiguousarray(c)) for c in crops])  # batch of 2, odd H and W
    got = _session(path).run(None, {contract.INPUT_NAME: x})[0]
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    assert got.shape == x.shape
    assert np.max(np.abs(got - ref)) <= 1e-4
    assert np.mean(np.abs(got - x)) < 0.05  # the weights really are the checkpoint's near-identity ones


def test_metadata_is_complete_and_read_back(exported):
    base, path = exported["basic"]
    meta = _session(path).get_modelmeta().custom_metadata_map
    assert set(contract.META_KEYS) <= set(meta)
    assert all(meta[k].strip() for k in contract.META_KEYS)
    assert meta[contract.META_CONTRACT] == contract.CONTRACT_VERSION
    assert meta[contract.META_ARCH] == "basic"
    assert meta[contract.META_PARAMS] == "40451"
    assert meta[contract.META_CHANNELS] == "3"
    assert meta[contract.META_RECEPTIVE] == "3"
    assert meta[contract.META_EPOCHS] == "8"
    assert float(meta[contract.META_VAL_PSNR]) == pytest.approx(31.5)  # the checkpoint's own history row
    assert 0.3 < float(meta[contract.META_VAL_SSIM]) <= 1.0  # measured on the checkpoint's val photos
    assert "JPEG" in meta[contract.META_DEGRADATION] and "natural" in meta[contract.META_TRAINING_DATA]
    # The data folders by name: the checkpoint's path to them (a temporary folder here) is not recorded.
    assert meta[contract.META_TRAINING_DATA].startswith("face crops from faces (")
    assert str(base.parent.parent) not in meta[contract.META_TRAINING_DATA]
    gan = _session(exported["gan"][1]).get_modelmeta().custom_metadata_map
    assert (gan[contract.META_CHANNELS], gan[contract.META_PARAMS]) == ("1", "38145")
    assert "luminance" in gan[contract.META_DESCRIPTION] and "RGB" in meta[contract.META_DESCRIPTION]


def test_runtime_session_opens_the_export(exported):
    session = pytest.importorskip("facerestore.session")
    model = session.open_model(str(exported["gan"][1]), device="cpu")
    assert (model.channels, model.receptive_radius) == (1, 3)
    assert model.metadata[contract.META_ARCH] == "gan"


def test_extra_metadata_overrides(tmp_path, hopper_rgb, check_images):
    base = _fake_trained_checkpoint(tmp_path, "basic", hopper_rgb)
    path = export_checkpoint(base, tmp_path / "m.onnx", check_images=check_images[:1],
                             extra_meta={contract.META_TRAINING_DATA: "173 face crops (see model card)",
                                         "facerestore.note": "x"})
    meta = _session(path).get_modelmeta().custom_metadata_map
    assert meta[contract.META_TRAINING_DATA] == "173 face crops (see model card)" and meta["facerestore.note"] == "x"


def test_parity_check_catches_a_mismatch(exported, check_images):
    base, path = exported["basic"]
    model, _ = load_model(base)
    with torch.no_grad():
        model.convs()[-1].bias.add_(1e-3)  # a tiny drift the check must notice
    x = to_nchw(np.asarray(Image.open(check_images[0]).convert("RGB")))[None]
    with pytest.raises(ExportError, match="differs from torch"):
        check_parity(model, path.read_bytes(), [x])


def test_missing_checkpoint_and_old_opset_are_refused(tmp_path, exported):
    with pytest.raises(ExportError, match="missing"):
        export_checkpoint(tmp_path / "nope", tmp_path / "x.onnx")
    with pytest.raises(ExportError, match="opset"):
        export_checkpoint(exported["basic"][0], tmp_path / "x.onnx", opset=13)
    assert not (tmp_path / "x.onnx").exists()


def test_checksums_match_the_registry_format(exported, monkeypatch):
    models = exported["basic"][1].parent
    dst = write_checksums(models)
    doc = json.loads(dst.read_text())
    assert set(doc["sha256"]) == {"basic.onnx", "gan.onnx"}
    for name, digest in doc["sha256"].items():
        assert digest == hashlib.sha256((models / name).read_bytes()).hexdigest()
    registry = pytest.importorskip("facerestore.registry")
    monkeypatch.setattr(registry, "CHECKSUMS_FILE", dst)
    assert registry._recorded_checksums() == doc["sha256"]


def test_cli_exports(tmp_path, hopper_rgb, check_images, monkeypatch):
    import export.onnx_export as onnx_export
    from export.__main__ import main

    base = _fake_trained_checkpoint(tmp_path, "basic", hopper_rgb)
    checks = [a for p in check_images for a in ("--check-image", str(p))]
    out = tmp_path / "cli.onnx"
    assert main(["onnx", str(base.with_suffix(".safetensors")), "-o", str(out), "--opset", "18", *checks]) == 0
    proto = onnx.load(str(out))
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) == 18
    assert not (tmp_path / "checksums.json").exists()  # only the package's model folder gets one

    # Exporting into the package's model folder records the digest the runtime verifies.
    package = tmp_path / "pkg"
    monkeypatch.setattr(onnx_export, "PACKAGE_MODELS", package.resolve())
    package.mkdir()
    (package / "basic.onnx").write_bytes(b"the shipped model")  # replaced only when asked to
    assert main(["onnx", str(base), "-o", str(package / "basic.onnx"), *checks, "--overwrite"]) == 0
    digest = hashlib.sha256((package / "basic.onnx").read_bytes()).hexdigest()
    assert json.loads((package / "checksums.json").read_text()) == {"sha256": {"basic.onnx": digest}}


def test_cli_bad_input_is_a_one_line_error_with_exit_2(tmp_path, capsys, hopper_rgb, check_images):
    from export.__main__ import main

    base = _fake_trained_checkpoint(tmp_path, "basic", hopper_rgb)
    noise = tmp_path / "noise"
    noise.with_suffix(".json").write_text("{}")
    noise.with_suffix(".safetensors").write_bytes(np.random.default_rng(0).bytes(2000))
    existing = tmp_path / "existing.onnx"
    existing.write_bytes(b"an earlier export")
    (tmp_path / "folder.onnx").mkdir()
    # Each refused before the (slow) export; before, the ones after the first died in a traceback (exit 1), and
    # an existing file was silently replaced.
    for args, words in (([str(tmp_path / "missing")], ("missing",)),
                        ([str(noise)], ("noise",)),
                        ([str(base), "--check-image", str(tmp_path / "nope.png")], ("nope.png",)),
                        ([str(base), "--opset", "13"], ("opset",))):
        assert main(["onnx", *args, "-o", str(tmp_path / "x.onnx")]) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and all(w in err for w in words), err
    for output, words in ((existing, ("existing.onnx", "--overwrite")), (tmp_path / "folder.onnx", ("folder",))):
        assert main(["onnx", str(base), "-o", str(output), "--check-image", str(check_images[0])]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and all(w in err for w in words), err
    assert existing.read_bytes() == b"an earlier export" and not (tmp_path / "x.onnx").exists()
