"""`facerestore compare` on real photos with two tiny ONNX models and originals."""

from __future__ import annotations

import csv
import errno
import io
import json
import threading
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from facerestore import degrade
from facerestore.commands.compare import INPUT_ROW, compare
from tile_interrupts import interrupt_first_tile


@pytest.fixture()
def pairs(tmp_path, hopper_path) -> tuple[Path, Path]:
    inputs, originals = tmp_path / "in", tmp_path / "orig"
    inputs.mkdir(), originals.mkdir()
    with Image.open(hopper_path) as im:
        rgb = np.asarray(im.convert("RGB"))[100:260, 120:248]
    Image.fromarray(rgb).save(originals / "hopper.png")
    Image.fromarray(degrade.jpeg(degrade.posterize(rgb, 16), 30)).save(inputs / "hopper.jpg", quality=95)
    return inputs, originals


def test_compare_two_models_with_reference(tmp_path, pairs, tiny_rgb_model, tiny_gray_model):
    inputs, originals = pairs
    out = tmp_path / "cmp"
    result = CliRunner().invoke(compare, [str(inputs), "--models", f"{tiny_rgb_model},{tiny_gray_model}",
                                          "--reference", str(originals), "-o", str(out), "--device", "cpu"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(out / "compare.json")
    assert "Model comparison" in result.stderr and "tiny_gray" in result.stderr
    data = json.loads((out / "compare.json").read_text())
    means = {m["model"]: m for m in data["means"]}
    assert set(means) == {INPUT_ROW, "tiny_rgb", "tiny_gray"}
    for m in means.values():
        assert m["images"] == 1 and 0 < m["ssim"] <= 1 and m["psnr"] > 10 and m["w1"] >= 0
    assert means[INPUT_ROW]["seconds"] is None and means["tiny_rgb"]["seconds"] > 0
    rows = list(csv.DictReader((out / "compare.csv").open()))
    assert [r["model"] for r in rows] == [INPUT_ROW, "tiny_rgb", "tiny_gray"]
    assert float(rows[1]["psnr"]) == pytest.approx(means["tiny_rgb"]["psnr"])
    # Grid: input | two models | reference, each panel 160 px high (never upscaled) under a label bar, lossless:
    # the input panel is the input's pixels and the reference panel the original's, exactly.
    with Image.open(out / "hopper.jpg.grid.png") as grid:
        assert grid.size == (4 * 128 + 3 * 6, 160 + 26)
        panels = np.asarray(grid.convert("RGB"))[26:]
    with Image.open(inputs / "hopper.jpg") as src, Image.open(originals / "hopper.png") as ref:
        assert np.array_equal(panels[:, :128], np.asarray(src.convert("RGB")))
        assert np.array_equal(panels[:, 3 * (128 + 6):], np.asarray(ref.convert("RGB")))
    with Image.open(out / "hopper.jpg.hist.png") as hist:
        assert hist.size == (4 * 380, 250)  # original, input, two models


def test_large_images_are_cropped_to_their_centre_not_downscaled(tmp_path, hopper_path, tiny_rgb_model):
    """A 600 px high photo: each panel is its central GRID_SIDE square at 1:1, not the whole photo shrunk."""
    from facerestore.commands.compare import GRID_SIDE

    with Image.open(hopper_path) as im:
        rgb = np.asarray(im.convert("RGB"))
    Image.fromarray(np.concatenate([rgb, rgb], axis=1)).save(tmp_path / "wide.png")  # 1024 x 600
    out = tmp_path / "cmp"
    result = CliRunner().invoke(compare, [str(tmp_path / "wide.png"), "--models", str(tiny_rgb_model), "-o", str(out),
                                          "--device", "cpu"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    with Image.open(out / "wide.png.grid.png") as grid:
        assert grid.size == (2 * GRID_SIDE + 6, GRID_SIDE + 26)
        first = np.asarray(grid.convert("RGB"))[26:, :GRID_SIDE]
    top, left = (600 - GRID_SIDE) // 2, (1024 - GRID_SIDE) // 2
    assert np.array_equal(first, np.concatenate([rgb, rgb], axis=1)[top:top + GRID_SIDE, left:left + GRID_SIDE])


def test_compare_rejects_duplicate_models(tmp_path, pairs, tiny_rgb_model):
    inputs, _ = pairs
    result = CliRunner().invoke(compare, [str(inputs), "--models", f"{tiny_rgb_model},{tiny_rgb_model}",
                                          "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and "twice" in result.stderr


def _compare(args: list[str]):
    return CliRunner().invoke(compare, [*args, "--device", "cpu"], catch_exceptions=False)


def test_ctrl_c_exits_130_and_leaves_no_broken_chart(tmp_path, pairs, tiny_rgb_model, monkeypatch):
    """Interrupted while the grid is being encoded: exit 130 as enhance, and no part of the PNG under its name."""
    inputs, _ = pairs
    out = tmp_path / "cmp"

    real_save = Image.Image.save

    def interrupted(self, fp, format=None, **params):  # noqa: A002 - Pillow's own parameter name
        if isinstance(fp, io.BytesIO):  # the damage analysis compresses in memory; only files are written out
            return real_save(self, fp, format, **params)
        start = b"\x89PNG\r\n\x1a\n" + bytes(25)  # the first 33 bytes of a PNG, then Ctrl-C
        if isinstance(fp, (str, Path)):
            with open(fp, "wb") as fh:
                fh.write(start)
        else:  # the temporary, which write_atomic hands over without its file descriptor
            fp.write(start)
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", interrupted)
    result = _compare([str(inputs), "--models", str(tiny_rgb_model), "-o", str(out)])
    assert result.exit_code == 130, result.output
    assert "Interrupted" in result.stderr and "Aborted" not in result.output and result.stdout == ""
    assert [p.name for p in out.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("ctrl_cs", [1, 2])
def test_ctrl_c_during_a_models_run_waits_for_its_threads_then_exits_130(tmp_path, pairs, tiny_rgb_model, monkeypatch,
                                                                         default_sigint, ctrl_cs):
    """With --threads 2 a model runs its tiles in two threads. A Ctrl-C was raised in the main thread while it
    waited on them (Future.result), and a second one at exit inside the join of a thread still in ONNX Runtime,
    which marks it stopped (CPython gh-90882): the process aborted (SIGABRT) in 2 of 40 double Ctrl-Cs. Now the
    command ends only after every run has come back, a second Ctrl-C during that wait counted, not raised."""
    inputs, _ = pairs
    out = tmp_path / "cmp"
    state = interrupt_first_tile(monkeypatch, ctrl_cs)
    result = _compare([str(inputs), "--models", str(tiny_rgb_model), "-o", str(out), "--threads", "2"])
    assert state["running"] == 0  # no run left in ONNX Runtime when the command ended
    assert state["sent"] == ctrl_cs
    assert result.exit_code == 130, result.output
    assert "Interrupted" in result.stderr and "Aborted" not in result.output and result.stdout == ""
    assert not (out / "compare.json").exists()
    assert not [t for t in threading.enumerate() if t.name.startswith("facerestore-compare")]


def test_an_output_folder_inside_an_input_folder_is_refused_as_by_enhance(tmp_path, pairs, tiny_rgb_model):
    inputs, _ = pairs
    result = _compare([str(inputs), "--models", str(tiny_rgb_model), "-o", str(inputs / "cmp")])
    assert result.exit_code == 2
    assert f"the output folder {inputs / 'cmp'} is inside the input folder {inputs}" in result.stderr
    assert sorted(p.name for p in inputs.iterdir()) == ["hopper.jpg"]  # nothing written there


def test_each_input_gets_its_own_files_as_enhance_maps_outputs(tmp_path, pairs, tiny_rgb_model):
    """a.jpg and a.png in one folder keep apart (named with their suffix, as enhance's outputs and the report's
    files are); folders of one name under -o are refused, and two files of one name name each other."""
    inputs, _ = pairs
    with Image.open(inputs / "hopper.jpg") as im:
        im.save(inputs / "hopper.png")
        flipped = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    out = tmp_path / "cmp"
    result = _compare([str(inputs), "--models", str(tiny_rgb_model), "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    data = json.loads((out / "compare.json").read_text())
    assert data["images"] == 2 and sorted({r["image"] for r in data["per_image"]}) == ["hopper.jpg", "hopper.png"]
    for name, source in (("hopper.jpg", inputs / "hopper.jpg"), ("hopper.png", inputs / "hopper.png")):
        with Image.open(out / f"{name}.grid.png") as grid, Image.open(source) as src:
            assert np.array_equal(np.asarray(grid.convert("RGB"))[26:, :128], np.asarray(src.convert("RGB")))
        assert (out / f"{name}.hist.png").is_file()

    x, y = tmp_path / "x" / "in", tmp_path / "y" / "in"
    for folder, image in ((x, Image.open(inputs / "hopper.png")), (y, flipped)):
        folder.mkdir(parents=True)
        image.save(folder / "a.png")
    shared = _compare([str(x), str(y), "--models", str(tiny_rgb_model), "-o", str(tmp_path / "two")])
    assert shared.exit_code == 2 and f"input folders {x} and {y} would share" in shared.stderr
    assert not (tmp_path / "two").exists()

    files = _compare([str(x / "a.png"), str(y / "a.png"), "--models", str(tiny_rgb_model), "-o", str(tmp_path / "f")])
    assert files.exit_code == 1
    lines = [line for line in files.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and str(y / "a.png") in lines[0] and str(x / "a.png") in lines[0], files.stderr
    data = json.loads((tmp_path / "f" / "compare.json").read_text())
    assert data["images"] == 1 and len(data["failed"]) == 1


def test_an_output_folder_that_cannot_be_made_is_one_line_and_exit_1(tmp_path, pairs, tiny_rgb_model):
    """As enhance fails on such an -o: one error line naming it, no traceback, nothing on stdout."""
    inputs, _ = pairs
    (tmp_path / "a.jpg").write_bytes(b"a file, not a folder")
    out = tmp_path / "a.jpg" / "cmp"
    result = _compare([str(inputs), "--models", str(tiny_rgb_model), "-o", str(out)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"error: cannot create the folder {out}: Not a directory"]
    assert result.stdout == ""


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_while_writing_charts_stops_and_keeps_the_table(tmp_path, pairs, tiny_rgb_model, monkeypatch):
    """The first chart fails: one line naming it, no later image tried, the numbers still in compare.json."""
    from facerestore import charts

    inputs, _ = pairs
    with Image.open(inputs / "hopper.jpg") as im:
        im.save(inputs / "second.png")
    monkeypatch.setattr(charts, "write_atomic", _no_space)
    out = tmp_path / "cmp"
    result = _compare([str(inputs), "--models", str(tiny_rgb_model), "-o", str(out)])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: {inputs / 'hopper.jpg'}: cannot write {out / 'hopper.jpg.grid.png'}: "
                      "no space left on device"]
    assert result.stdout.strip() == str(out / "compare.json")
    data = json.loads((out / "compare.json").read_text())
    assert data["images"] == 1 and len(data["failed"]) == 1 and {r["image"] for r in data["per_image"]} == {"hopper.jpg"}


def test_a_full_disk_while_writing_compare_json_is_one_line_and_exit_1(tmp_path, pairs, tiny_rgb_model,
                                                                        monkeypatch):
    import facerestore.atomic

    inputs, _ = pairs
    monkeypatch.setattr(facerestore.atomic, "write_atomic", _no_space)  # write_json's, not the charts'
    out = tmp_path / "cmp"
    result = _compare([str(inputs), "--models", str(tiny_rgb_model), "-o", str(out)])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: cannot write {out / 'compare.json'}: no space left on device"]
    assert "Model comparison" in result.stderr  # the means were shown before the write failed
    assert result.stdout == ""  # no path printed for a file that was not written
    assert (out / "hopper.jpg.grid.png").is_file()


def test_a_folder_skipped_on_purpose_is_noted_as_enhance_notes_it(tmp_path, pairs, tiny_rgb_model):
    inputs, _ = pairs
    (inputs / "up").symlink_to("..")
    result = CliRunner().invoke(compare, [str(inputs), "--models", str(tiny_rgb_model), "-o", str(tmp_path / "cmp"),
                                          "--device", "cpu"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert f"note: {inputs / 'up'}: symbolic link loop" in result.stderr
