"""``facerestore models``: table on stderr, JSON on stdout, missing and corrupt files said clearly."""

from __future__ import annotations

import hashlib
import json

import pytest
from click.testing import CliRunner

from facerestore import registry
from facerestore.cli import cli


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


def test_table_goes_to_stderr(models_dir):
    result = CliRunner().invoke(cli, ["models"])
    assert result.stdout == ""
    assert "not installed" in result.stderr and "corrupt" in result.stderr and "tiny2" in result.stderr


def test_all_intact_exits_0(models_dir, monkeypatch):
    monkeypatch.setattr(registry, "SHIPPED", {"big": registry.SHIPPED["big"]})
    result = CliRunner().invoke(cli, ["models", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)[0]["status"] == "ok"


def test_real_registry_reports_each_shipped_model():
    """In this checkout the files may not be exported yet: then each must say so, never crash."""
    result = CliRunner().invoke(cli, ["models", "--json"])
    entries = json.loads(result.stdout)
    assert [e["name"] for e in entries] == ["basic", "big", "gan"]
    for e in entries:
        assert e["status"] in ("ok", "not installed", "unverified", "corrupt")
        assert (e["status"] == "not installed") == (not e["installed"])
    assert result.exit_code == (0 if all(e["status"] == "ok" for e in entries) else 1)
