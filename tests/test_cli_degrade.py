"""``facerestore degrade``: mirrored hq/lq pair trees and a manifest, from real photos, without torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from facerestore.commands.degrade import degrade
from facerestore.degrade import parse_chain


@pytest.fixture()
def hq_dir(tmp_path, hopper_rgb, astronaut_path) -> Path:
    """A small folder of real photos: a JPEG at the top, a PNG in a subfolder, a grayscale one."""
    root = tmp_path / "hq_in"
    (root / "sub").mkdir(parents=True)
    Image.fromarray(hopper_rgb[100:228, 150:278]).save(root / "hopper.jpg", quality=95)
    with Image.open(astronaut_path) as im:
        im.convert("RGB").crop((150, 50, 246, 178)).save(root / "sub" / "astro.png")
        im.convert("L").crop((0, 0, 64, 80)).save(root / "sub" / "gray.png")
    return root


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.format == "PNG"
        return np.asarray(im).copy()


def _run(*args: str) -> object:
    return CliRunner().invoke(degrade, list(args), catch_exceptions=False)


def test_writes_mirrored_pairs_and_manifest(hq_dir, tmp_path):
    out = tmp_path / "pairs"
    result = _run(str(hq_dir), "-o", str(out), "--preset", "jpeg10", "--seed", "3")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""  # stdout is for data only
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 3 and manifest["chain"] == "jpeg:10" and manifest["failed"] == []
    by_source = {p["source"]: p for p in manifest["pairs"]}
    assert set(by_source) == {"hopper.jpg", "sub/astro.png", "sub/gray.png"}
    for rel in ("hopper.png", "sub/astro.png", "sub/gray.png"):
        assert (out / "hq" / rel).is_file() and (out / "lq" / rel).is_file()

    # hq is the source's pixels, lossless; lq is exactly the recorded chain applied to them.
    with Image.open(hq_dir / "hopper.jpg") as im:
        src = np.asarray(im.convert("RGB"))
    hq = _png(out / "hq" / "hopper.png")
    lq = _png(out / "lq" / "hopper.png")
    np.testing.assert_array_equal(hq, src)
    np.testing.assert_array_equal(lq, parse_chain(by_source["hopper.jpg"]["chain"]).apply(hq))
    assert lq.shape == hq.shape and not np.array_equal(lq, hq)
    assert (by_source["hopper.jpg"]["width"], by_source["hopper.jpg"]["height"]) == (128, 128)
    assert _png(out / "lq" / "sub" / "gray.png").ndim == 2  # grayscale stays grayscale


def test_outputs_get_ordinary_permissions(hq_dir, tmp_path):
    import os

    old = os.umask(0o022)
    try:
        assert _run(str(hq_dir), "-o", str(tmp_path / "p"), "--preset", "jpeg20").exit_code == 0
    finally:
        os.umask(old)
    files = [p for p in (tmp_path / "p").rglob("*") if p.is_file()]
    assert len(files) == 7 and all(p.stat().st_mode & 0o777 == 0o644 for p in files)
    assert not [p for p in files if p.name.startswith(".")]  # no temporary files left behind


def test_paper_preset_is_the_default_and_collapses_levels(hq_dir, tmp_path):
    out = tmp_path / "pairs"
    assert _run(str(hq_dir), "-o", str(out)).exit_code == 0
    lq = _png(out / "lq" / "sub" / "astro.png")
    hq = _png(out / "hq" / "sub" / "astro.png")
    assert all(len(np.unique(lq[..., c])) <= 20 < len(np.unique(hq[..., c])) for c in range(3))


def test_seeded_runs_repeat_and_seeds_differ(hq_dir, tmp_path):
    outs = [tmp_path / name for name in ("a", "b", "c")]
    for out, seed in zip(outs, ("7", "7", "8")):
        assert _run(str(hq_dir), "-o", str(out), "--chain", "random", "--seed", seed).exit_code == 0
    chains = [[p["chain"] for p in json.loads((o / "manifest.json").read_text())["pairs"]] for o in outs]
    assert chains[0] == chains[1] and chains[0] != chains[2]
    for rel in ("hopper.png", "sub/astro.png"):
        np.testing.assert_array_equal(_png(outs[0] / "lq" / rel), _png(outs[1] / "lq" / rel))


def test_noise_depends_on_seed_and_path_not_on_other_files(hq_dir, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    assert _run(str(hq_dir), "-o", str(first), "--chain", "noise:8").exit_code == 0
    Image.open(hq_dir / "hopper.jpg").save(hq_dir / "sub" / "000.png")  # a new file sorted before astro
    assert _run(str(hq_dir), "-o", str(second), "--chain", "noise:8").exit_code == 0
    np.testing.assert_array_equal(_png(first / "lq" / "sub" / "astro.png"), _png(second / "lq" / "sub" / "astro.png"))
    # Different images draw different noise (the hq/lq difference is not one shared pattern).
    d1 = _png(second / "lq" / "sub" / "000.png").astype(int) - _png(second / "hq" / "sub" / "000.png")
    d2 = _png(second / "lq" / "hopper.png").astype(int) - _png(second / "hq" / "hopper.png")
    assert d1.std() > 4 and not np.array_equal(d1, d2)


def test_bad_file_is_one_stderr_line_and_exit_1(hq_dir, tmp_path):
    (hq_dir / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    original = (hq_dir / "broken.jpg").read_bytes()
    out = tmp_path / "pairs"
    result = _run(str(hq_dir), "-o", str(out), "--preset", "jpeg20")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "broken.jpg" in errors[0]
    manifest = json.loads((out / "manifest.json").read_text())
    assert [f["source"] for f in manifest["failed"]] == ["broken.jpg"]
    assert len(manifest["pairs"]) == 3  # the others were still written
    assert (hq_dir / "broken.jpg").read_bytes() == original  # inputs are never modified


def test_a_damaged_image_leaves_its_pair_name_to_a_readable_one(hq_dir, tmp_path):
    whole = (hq_dir / "hopper.jpg").read_bytes()
    (hq_dir / "sub" / "astro.jpg").write_bytes(whole[:len(whole) // 2])  # sorted before astro.png, cut short
    out = tmp_path / "pairs"
    result = _run(str(hq_dir), "-o", str(out), "--preset", "jpeg20")
    assert result.exit_code == 1
    manifest = json.loads((out / "manifest.json").read_text())
    assert [f["source"] for f in manifest["failed"]] == ["sub/astro.jpg"]
    assert "sub/astro.png" in [p["source"] for p in manifest["pairs"]]


def test_file_names_are_escaped_in_error_lines(hq_dir, tmp_path):
    (hq_dir / "bad\nname\x1b[31m.jpg").write_bytes(b"not an image at all")
    result = _run(str(hq_dir), "-o", str(tmp_path / "pairs"), "--preset", "jpeg20")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "bad\\nname\\x1b[31m.jpg: not a supported image" in errors[0]
    assert "\x1b" not in result.stderr  # no escape sequence reaches the terminal


def test_through_the_facerestore_group(hq_dir, tmp_path):
    from facerestore.cli import cli

    result = CliRunner().invoke(cli, ["degrade", str(hq_dir), "-o", str(tmp_path / "p"), "--preset", "paper"])
    assert result.exit_code == 0, result.stderr
    assert json.loads((tmp_path / "p" / "manifest.json").read_text())["chain"] == "jpeg:30,posterize:20"


@pytest.mark.parametrize("args, message", [
    (["--chain", "posterize:1"], "posterize levels"),
    (["--chain", "sharpen:2"], "unknown degradation"),
    (["--chain", "jpeg:10", "--preset", "paper"], "not both"),
    (["--preset", "nope"], "nope"),
])
def test_usage_errors_exit_2(hq_dir, tmp_path, args, message):
    result = CliRunner().invoke(degrade, [str(hq_dir), "-o", str(tmp_path / "p"), *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert not (tmp_path / "p").exists()


def test_empty_folder_is_a_usage_error(tmp_path):
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(degrade, [str(tmp_path / "empty"), "-o", str(tmp_path / "p")])
    assert result.exit_code == 2 and "no images found" in result.stderr


def test_photos_in_formats_not_read_are_noted_unless_quiet(hq_dir, tmp_path):
    (hq_dir / "sub" / "DSC_1.NEF").write_bytes(b"not decoded")
    (hq_dir / "DSC_1.xmp").write_bytes(b"not decoded")
    result = CliRunner().invoke(degrade, [str(hq_dir), "-o", str(tmp_path / "p")])
    assert result.exit_code == 0, result.stderr
    assert "note: 1 file in formats facerestore does not read was left alone: 1 .nef" in result.stderr.splitlines()
    quiet = CliRunner().invoke(degrade, [str(hq_dir), "-o", str(tmp_path / "q"), "--quiet"])
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_output_inside_input_is_not_read_back(hq_dir):
    out = hq_dir / "pairs"
    assert _run(str(hq_dir), "-o", str(out), "--preset", "jpeg20").exit_code == 0
    # A second run must not pick up the pairs written by the first as new inputs.
    assert _run(str(hq_dir), "-o", str(out), "--preset", "jpeg20").exit_code == 0
    assert len(json.loads((out / "manifest.json").read_text())["pairs"]) == 3


def test_an_output_folder_holding_the_input_folder_reads_its_photos(hq_dir, monkeypatch):
    """`degrade hq_in -o .`: the pairs go to ./hq and ./lq, beside hq_in, yet every photo was left out as lying in
    the output folder, and the run ended "no images found in hq_in" (exit 2)."""
    monkeypatch.chdir(hq_dir.parent)
    for _ in range(2):  # the pairs of the first run are not read back by the second
        result = _run("hq_in", "-o", ".", "--preset", "jpeg20")
        assert result.exit_code == 0, result.stderr
        manifest = json.loads((hq_dir.parent / "manifest.json").read_text())
        assert {p["source"] for p in manifest["pairs"]} == {"hopper.jpg", "sub/astro.png", "sub/gray.png"}
    assert _png(hq_dir.parent / "hq" / "sub" / "astro.png").shape == (128, 96, 3)
    assert (hq_dir.parent / "lq" / "hopper.png").is_file()


def test_command_module_imports_nothing_heavy():
    """--help must stay instant: numpy/Pillow load when the command runs; torch/onnxruntime never."""
    code = ("import sys, facerestore.commands.degrade; "
            "print(sorted(m for m in ('torch', 'onnxruntime', 'numpy', 'PIL') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_an_output_folder_that_cannot_be_made_is_one_line_and_exit_1(hq_dir, tmp_path):
    """As enhance fails on such an -o: one error line naming it, no traceback, inputs untouched."""
    (tmp_path / "a.jpg").write_bytes(b"a file, not a folder")
    out = tmp_path / "a.jpg" / "pairs"
    result = _run(str(hq_dir), "-o", str(out), "--preset", "jpeg20")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"error: cannot create the folder {out}: Not a directory"]
    assert result.stdout == ""
    assert sorted(p.name for p in hq_dir.rglob("*")) == ["astro.png", "gray.png", "hopper.jpg", "sub"]


def test_a_negative_seed_is_a_usage_error(hq_dir, tmp_path):
    result = CliRunner().invoke(degrade, [str(hq_dir), "-o", str(tmp_path / "p"), "--seed", "-1"])
    assert result.exit_code == 2 and "--seed" in result.stderr and "-1" in result.stderr
    assert not (tmp_path / "p").exists()  # refused before any image is read


def test_ctrl_c_exits_130_with_a_manifest_of_the_pairs_written(hq_dir, tmp_path, monkeypatch):
    """Interrupted before the second image: the first pair is whole and the manifest lists it (and only it)."""
    import facerestore.commands.degrade as command

    real = command.degrade_one
    calls = []

    def interrupted_after_one(*args, **kwargs):
        calls.append(args[1])
        if len(calls) > 1:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(command, "degrade_one", interrupted_after_one)
    out = tmp_path / "pairs"
    result = _run(str(hq_dir), "-o", str(out), "--preset", "jpeg20", "-q")
    assert result.exit_code == 130, result.output
    assert "Interrupted" in result.stderr and "1 pair(s) written" in result.stderr and result.stdout == ""
    manifest = json.loads((out / "manifest.json").read_text())
    assert [p["source"] for p in manifest["pairs"]] == ["hopper.jpg"] and manifest["failed"] == []
    assert (out / "hq" / "hopper.png").is_file() and (out / "lq" / "hopper.png").is_file()
    assert not [p for p in out.rglob(".*")]  # no temporary left behind


def test_ctrl_c_while_the_photos_are_walked_exits_130(hq_dir, tmp_path, monkeypatch):
    import facerestore.discovery as discovery

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
        yield  # a generator, as the real walk is

    monkeypatch.setattr(discovery, "iter_inputs", interrupted)
    result = _run(str(hq_dir), "-o", str(tmp_path / "pairs"))
    assert result.exit_code == 130 and "Interrupted" in result.stderr and "Aborted" not in result.output
    assert not (tmp_path / "pairs").exists()
