"""The archive table: models scored on real damaged files beside the input and the best filter, and a later
model's rows added to an earlier report of the same faces."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

from conftest import build_tiny_onnx, crop_folder
from export import archive_eval
from tile_interrupts import interrupt_first_tile

DAMAGES = ("jpeg10", "clean")


@pytest.fixture(scope="module")
def faces(tmp_path_factory, hopper_rgb, astronaut_path):
    with Image.open(astronaut_path) as im:
        astronaut = np.asarray(im.convert("RGB")).copy()
    return crop_folder(tmp_path_factory.mktemp("faces"), [hopper_rgb, astronaut], 64, 8, (40, 30), (90, 110))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return {"one": build_tiny_onnx(folder / "one.onnx", seed=1), "two": build_tiny_onnx(folder / "two.onnx", seed=2)}


def test_models_are_scored_beside_the_input_and_the_best_filter(faces, models):
    report = archive_eval.evaluate(faces, {"one": models["one"]}, n_eval=2, degradations=DAMAGES, threads=1)
    jpeg = report["results"]["jpeg10"]
    assert set(jpeg) == {"input", "best filter", "one (full)", "one (auto)"}
    assert jpeg["input"]["faces"] == 2 and math.isfinite(jpeg["input"]["psnr"])
    # Luminance PSNR on the 8-bit scale: a JPEG 10 face's Y is within a few dB of its RGB score, never negative.
    assert 20.0 < jpeg["input"]["luma_psnr"] < jpeg["input"]["psnr"] + 8.0
    # Every row counts the faces made worse than their input, against the input's own per-face scores.
    full = jpeg["one (full)"]
    assert full["worse"] == sum(a < b for a, b in zip(full["per_face_psnr"], jpeg["input"]["per_face_psnr"]))
    # A clean photo's score is to itself: infinite exactly when every face came back unchanged.
    clean = report["results"]["clean"]["one (auto)"]
    assert math.isinf(clean["psnr"]) == (clean["changed"] == 0)
    assert math.isinf(report["results"]["clean"]["input"]["psnr"])


def test_a_later_model_is_added_to_an_earlier_report_of_the_same_faces(faces, models, tmp_path):
    earlier = archive_eval.evaluate(faces, {"one": models["one"]}, n_eval=2, degradations=DAMAGES, threads=1)
    archive_eval.write_report(earlier, tmp_path / "a.json", None)
    later = archive_eval.evaluate(faces, {"two": models["two"]}, n_eval=2, degradations=DAMAGES, threads=1,
                                  filters=False)
    assert "best filter" not in later["results"]["jpeg10"]
    merged = archive_eval.merge(json.loads((tmp_path / "a.json").read_text()), later)
    row = merged["results"]["jpeg10"]
    assert {"input", "best filter", "one (auto)", "two (auto)"} <= set(row)
    assert row["two (auto)"] == later["results"]["jpeg10"]["two (auto)"]
    assert set(merged["protocol"]["models"]) == {"one", "two"}
    assert "two (auto)" in archive_eval.markdown_table(merged)


def test_rows_from_other_faces_are_refused(faces, models, tmp_path):
    earlier = archive_eval.evaluate(faces, {"one": models["one"]}, n_eval=2, degradations=DAMAGES, threads=1)
    other = archive_eval.evaluate(faces, {"two": models["two"]}, n_eval=3, degradations=DAMAGES, threads=1,
                                  filters=False)
    with pytest.raises(ValueError, match="not the same faces"):
        archive_eval.merge(earlier, other)


def test_validation_faces_can_be_scored_for_a_selection_rule(faces, models):
    on_val = archive_eval.evaluate(faces, {"one": models["one"]}, n_eval=2, degradations=("jpeg10",), threads=1,
                                   filters=False, scored_on="validation")
    on_test = archive_eval.evaluate(faces, {"one": models["one"]}, n_eval=2, degradations=("jpeg10",), threads=1,
                                    filters=False)
    assert on_val["protocol"]["scored_on"] == "validation"
    assert on_val["results"]["jpeg10"]["input"]["per_face_psnr"] != on_test["results"]["jpeg10"]["input"]["per_face_psnr"]
    with pytest.raises(ValueError, match="different"):
        archive_eval.merge(on_test, on_val)


def test_a_resaved_case_is_a_jpeg_whose_pixels_show_its_first_save(hopper_rgb, tmp_path):
    """``jpeg10>95``: saved at 10, decoded and saved again at 95, as a re-posted photo is; the runtime reads the
    last save's tables and the first save's damage."""
    from export.archive import encode
    from facerestore.damage.analysis import analyze
    from facerestore.imageio import read_image

    face = np.ascontiguousarray(hopper_rgb[100:292, 140:332])
    once, suffix = encode(face, "jpeg10", seed=0)
    twice, suffix_twice = encode(face, "jpeg10>95", seed=0)
    assert suffix == suffix_twice == ".jpg" and len(twice) > 2 * len(once)  # the fine save keeps the blocks' edges
    (tmp_path / "once.jpg").write_bytes(once)
    (tmp_path / "twice.jpg").write_bytes(twice)
    first, resaved = analyze(read_image(tmp_path / "once.jpg")), analyze(read_image(tmp_path / "twice.jpg"))
    assert (first.table_quality, first.double_compression) == (10, False)
    assert resaved.table_quality == 95 and resaved.double_compression and abs(resaved.jpeg_quality - 10) <= 5


def test_a_row_named_for_a_build_follows_its_models_curve(faces, models, monkeypatch):
    """darn.int8 is restored with darn's fitted curve, as enhance restores with darn.int8.onnx."""
    asked = []
    real = archive_eval.curve_for

    def curve_for(name, conditioned, kind, gray=False):
        asked.append(name)
        return real(name, conditioned, kind, gray)

    monkeypatch.setattr(archive_eval, "curve_for", curve_for)
    report = archive_eval.evaluate(faces, {"big.int8": models["one"], "two": models["two"]}, n_eval=2,
                                   degradations=("jpeg10",), threads=1, filters=False)
    assert set(asked) == {"big", "two"}
    assert {"big.int8 (auto)", "two (auto)"} <= set(report["results"]["jpeg10"])


@pytest.mark.parametrize("ctrl_cs", [1, 2])
def test_ctrl_c_while_a_model_runs_in_threads_waits_for_them(faces, models, monkeypatch, default_sigint, ctrl_cs):
    """With --threads 2 a model runs its tiles in two threads (run_all) and archive-eval waited on them from the
    main thread unprotected: a Ctrl-C left them in ONNX Runtime as the interpreter exited, and a second one at exit
    landed in their join, which marks such a thread stopped (CPython gh-90882): the process aborted (SIGABRT).
    Now the interrupt comes out of the model's run only once every tile has come back, a second Ctrl-C during that
    wait counted, not raised."""
    state = interrupt_first_tile(monkeypatch, ctrl_cs)
    with pytest.raises(KeyboardInterrupt):
        try:
            archive_eval.evaluate(faces, {"one": models["one"]}, n_eval=2, degradations=("jpeg10",), threads=2,
                                  filters=False)
        finally:
            running = state["running"]
    assert running == 0  # no tile left in ONNX Runtime when the interrupt reached the caller
    assert state["sent"] == ctrl_cs
