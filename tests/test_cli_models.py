"""``facerestore models``: table or JSON on stdout, missing and corrupt files said clearly on stderr."""

from __future__ import annotations

import hashlib
import json

import pytest
from click.testing import CliRunner

from facerestore import contract, registry
from facerestore.cli import cli
from facerestore.errors import ModelError


@pytest.fixture
def models_dir(tmp_path, monkeypatch, tiny_rgb_model, tiny_gray_model):
    """basic: missing; big: intact with its checksum; gan: present but not the file its checksum names."""
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "big.onnx").write_bytes(tiny_rgb_model.read_bytes())
    (folder / "gan.onnx").write_bytes(tiny_gray_model.read_bytes())
    monkeypatch.setattr(registry, "MODELS_DIR", folder)
    monkeypatch.setattr(registry, "SHIPPED", {
        "basic": registry.ModelSpec("basic", "basic.onnx", "0" * 64, "BasicCNN"),
        "big": registry.ModelSpec("big", "big.onnx", hashlib.sha256(tiny_rgb_model.read_bytes()).hexdigest(),
                                  "BigCNN"),
        "gan": registry.ModelSpec("gan", "gan.onnx", "f" * 64, "GAN"),
    })
    return folder


def test_json_lists_models_with_metadata_and_checks(models_dir):
    result = CliRunner().invoke(cli, ["models", "--json"])
    assert result.exit_code == 1  # not every shipped model is usable
    entries = {e["name"]: e for e in json.loads(result.stdout)}
    assert list(entries) == ["basic", "big", "gan"]
    assert entries["big"]["status"] == "ok" and entries["big"]["default"] is True
    assert entries["big"]["metadata"]["arch"] == "tiny2" and entries["big"]["metadata"]["channels"] == "3"
    assert entries["basic"]["status"] == "not installed" and entries["basic"]["installed"] is False
    assert entries["gan"]["status"] == "corrupt" and "mismatch" in entries["gan"]["error"]


def test_table_goes_to_stdout_and_problems_to_stderr(models_dir):
    result = CliRunner().invoke(cli, ["models"], env={"COLUMNS": "120"})  # cells unfolded
    assert result.exit_code == 1
    assert "not installed" in result.stdout and "corrupt" in result.stdout and "tiny2" in result.stdout
    assert "validation" in result.stdout and "val PSNR" in result.stdout
    problems = result.stderr.splitlines()
    assert len(problems) == 2 and problems[0].startswith("error: basic: file missing")
    assert problems[1].startswith("error: gan: sha256 mismatch")


def _scored_copy(src, dst, psnr: str, training_data: str):
    """``src`` with validation scores and a training-data description in its metadata, as exported models have."""
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(src))
    props = {p.key: p.value for p in model.metadata_props}
    props.update({contract.META_VAL_PSNR: psnr, contract.META_VAL_SSIM: "0.9",
                  contract.META_TRAINING_DATA: training_data})
    onnx.helper.set_model_props(model, props)
    onnx.save(model, str(dst))
    return dst.read_bytes()


def test_table_says_what_each_score_was_measured_on(monkeypatch, tmp_path, tiny_rgb_model, tiny_gray_model):
    """An RGB and a luma PSNR are not comparable: each row names its own; shared training text is said once."""
    monkeypatch.setattr(registry, "MODELS_DIR", tmp_path)
    shared = "97 face crops (public; not redistributed); split by photo"
    specs = {}
    for name, model, stage in (("big", tiny_rgb_model, "CPU stages"), ("gan", tiny_gray_model, "CPU stage")):
        data = _scored_copy(model, tmp_path / f"{name}.onnx", "31.5", f"{shared}; 64px patches ({stage})")
        specs[name] = registry.ModelSpec(name, f"{name}.onnx", hashlib.sha256(data).hexdigest(), name)
    monkeypatch.setattr(registry, "SHIPPED", specs)
    result = CliRunner().invoke(cli, ["models"], env={"COLUMNS": "120"})
    assert result.exit_code == 0 and result.stderr == ""
    rows = {line.split()[1]: line for line in result.stdout.splitlines() if line.startswith("│ ")}
    assert rows["big"].count("RGB") == 3 and "luma" not in rows["big"]  # input, val PSNR and val SSIM
    assert rows["gan"].count("luma") == 3 and "RGB" not in rows["gan"]
    assert "31.5 luma" in rows["gan"] and "31.5 RGB" in rows["big"]
    assert result.stdout.count("97 face crops (public; not redistributed)") == 1
    assert "big: training data: 64px patches (CPU stages)" in result.stdout
    assert "gan: training data: 64px patches (CPU stage)" in result.stdout


def test_all_intact_exits_0(models_dir, monkeypatch):
    monkeypatch.setattr(registry, "SHIPPED", {"big": registry.SHIPPED["big"]})
    result = CliRunner().invoke(cli, ["models", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)[0]["status"] == "ok"


def test_real_registry_reports_each_shipped_model():
    """In this checkout the files may not be exported yet: then each must say so, never crash."""
    result = CliRunner().invoke(cli, ["models", "--json"])
    entries = json.loads(result.stdout)
    assert [e["name"] for e in entries] == ["basic", "big", "gan", "darn"]
    assert [e["origin"] for e in entries] == ["report", "report", "report", "facerestore"]
    for e in entries:
        assert e["status"] in ("ok", "not installed", "unverified", "corrupt")
        assert (e["status"] == "not installed") == (not e["installed"])
    assert result.exit_code == (0 if all(e["status"] == "ok" for e in entries) else 1)


def test_model_option_help_names_every_shipped_model():
    """The --model help is where a user learns the names: none of the shipped models may be missing from it."""
    result = CliRunner().invoke(cli, ["enhance", "--help"], terminal_width=200)
    assert result.exit_code == 0
    line = next(ln for ln in result.stdout.splitlines() if ln.lstrip().startswith("--model "))
    for name in registry.SHIPPED:
        assert name in line.split()[1].split("|")


def test_a_corrupt_fp16_build_makes_its_model_corrupt(models_dir):
    """--precision auto runs big.fp16.onnx on a CUDA card: `models` checks it as it checks big.onnx."""
    (models_dir / "big.fp16.onnx").write_bytes(b"not the exported file")
    result = CliRunner().invoke(cli, ["models", "--json"])
    assert result.exit_code == 1
    big = {e["name"]: e for e in json.loads(result.stdout)}["big"]
    assert [(b["precision"], b["status"]) for b in big["builds"]] == [("fp16", "corrupt")]
    assert big["status"] == "corrupt" and big["error"].startswith("big.fp16.onnx: sha256 mismatch")


def test_an_unreadable_checksum_file_refuses_each_model_with_its_reason(tmp_path, monkeypatch):
    broken = tmp_path / "checksums.json"
    broken.write_text("{not json", encoding="utf-8")
    monkeypatch.setattr(registry, "CHECKSUMS_FILE", broken)
    specs = registry._build_registry()  # what importing the package does: it must not raise
    assert all(spec.sha256 is None for spec in specs.values())
    with pytest.raises(ModelError, match=r"no recorded checksum .*cannot read .*checksums\.json"):
        registry.verify(specs["big"])
