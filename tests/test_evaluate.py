"""The model card's evaluation: classical filters, tuning on validation only, models through the runtime path."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from export import evaluate as ev
from export.data import eval_pairs, split_faces
from facerestore.degrade import parse_chain
from facerestore.metrics import psnr

N_IMAGES = 12
CROP = 48


@pytest.fixture()
def noisy_crop(hopper_rgb) -> tuple[np.ndarray, np.ndarray]:
    clean = np.ascontiguousarray(hopper_rgb[120:184, 170:234])
    return parse_chain("noise:15").apply(clean, np.random.default_rng(0)), clean


@pytest.fixture(scope="module")
def faces_dir(tmp_path_factory, hopper_rgb) -> Path:
    from PIL import Image

    folder = tmp_path_factory.mktemp("faces")
    for i in range(N_IMAGES):
        y, x = 40 + 45 * (i // 4), 60 + 100 * (i % 4)
        Image.fromarray(hopper_rgb[y:y + CROP, x:x + CROP]).save(folder / f"{i:02d}.png")
    return folder


def test_edge_preserving_filters_with_no_range_tolerance_change_nothing(noisy_crop):
    noisy, _ = noisy_crop
    np.testing.assert_array_equal(ev.nlm_grid(noisy, [1e-3])[0], noisy)
    np.testing.assert_array_equal(ev.bilateral_grid(noisy, 1.0, [1e-3])[0], noisy)


# Edge-preserving filters must clearly beat the linear ones on a detailed face crop.
@pytest.mark.parametrize("name, param, gain_db", [("gaussian", 1.0, 1.5), ("median", 3, 1.5),
                                                  ("bilateral", (2.0, 40.0), 3.5), ("nlm", 19.0, 3.5)])
def test_filters_denoise_a_real_photo(noisy_crop, name, param, gain_db):
    noisy, clean = noisy_crop
    filt = next(f for f in ev.FILTERS if f.name == name)
    out = filt.run(noisy, param)
    assert out.shape == noisy.shape and out.dtype == np.uint8
    assert psnr(out, clean) > psnr(noisy, clean) + gain_db


def test_nlm_grid_equals_single_runs(noisy_crop):
    noisy, _ = noisy_crop
    grid = ev.nlm_grid(noisy, [6.0, 19.0])
    np.testing.assert_array_equal(grid[1], ev.nlm_grid(noisy, [19.0])[0])
    assert not np.array_equal(grid[0], grid[1])


def test_tuning_picks_the_best_parameter_on_the_pairs_given(faces_dir):
    pairs = [p for p in eval_pairs(split_faces(faces_dir, n_val=3, n_test=3).val) if p.degradation == "jpeg10"]
    filt = next(f for f in ev.FILTERS if f.name == "gaussian")
    param, best = ev.tune(filt, pairs)
    means = [np.mean([psnr(ev.gaussian(p.lq, s), p.hq) for p in pairs]) for s in filt.grid]
    assert param in filt.grid and best == pytest.approx(max(means))


def _runtime_restore(model_path: Path, lq: np.ndarray) -> np.ndarray:
    from facerestore.restore import restore_pixels
    from facerestore.session import open_model

    out = restore_pixels(open_model(str(model_path), device="cpu"), lq.astype(np.float32) / 255)
    return np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)


def test_evaluation_table(faces_dir, tiny_rgb_model, tiny_gray_model, tmp_path):
    report = ev.evaluate(faces_dir, {"tiny_rgb": tiny_rgb_model, "tiny_gray": tiny_gray_model}, n_eval=3)
    split = split_faces(faces_dir, n_val=3, n_test=3)
    assert report["protocol"]["test_images"] == 3 and report["protocol"]["validation_images"] == 3
    methods = ["input", "gaussian", "median", "bilateral", "nlm", "tiny_rgb", "tiny_gray"]
    test_pairs = eval_pairs(split.test)
    for deg in ("jpeg10", "jpeg20", "paper"):
        rows = report["results"][deg]
        assert list(rows) == methods
        for r in rows.values():
            assert all(math.isfinite(v) for v in r.values()) and 0 < r["ssim"] <= 1 and r["wasserstein"] >= 0
        # The input row is the degraded test images themselves.
        expected = np.mean([psnr(p.lq, p.hq) for p in test_pairs if p.degradation == deg])
        assert rows["input"]["psnr"] == pytest.approx(expected)
        # The model rows are exactly what the runtime's restore path gives, rounded to 8 bits.
        assert rows["tiny_gray"]["psnr"] == pytest.approx(np.mean(
            [psnr(_runtime_restore(tiny_gray_model, p.lq), p.hq) for p in test_pairs if p.degradation == deg]))
        for filt in ev.FILTERS:
            assert tuple(np.atleast_1d(report["tuned"][deg][filt.name])) in \
                {tuple(np.atleast_1d(g)) for g in filt.grid}

        # Per-face PSNRs behind the means; the margin is their paired difference, with its standard error.
        faces = report["per_face_psnr"][deg]
        assert faces["faces"] == [p.name for p in test_pairs if p.degradation == deg]
        assert np.mean(faces["tiny_rgb"]) == pytest.approx(rows["tiny_rgb"]["psnr"])
        mean, err = ev.margin(report, deg, "tiny_rgb", "nlm")
        diffs = np.asarray(faces["tiny_rgb"]) - np.asarray(faces["nlm"])
        assert mean == pytest.approx(rows["tiny_rgb"]["psnr"] - rows["nlm"]["psnr"])
        assert err == pytest.approx(diffs.std(ddof=1) / np.sqrt(3)) and err > 0

    text = ev.write_report(report, tmp_path / "t.json", tmp_path / "t.md")
    assert text.count(", per face (mean ± standard error, dB): tiny_rgb ") == 3
    assert (tmp_path / "t.md").read_text() == text
    assert json.loads((tmp_path / "t.json").read_text())["results"] == json.loads(json.dumps(report["results"]))
    assert text.count("| degraded input |") == 3 and text.count("| tiny_gray |") == 3
    assert "non-local means (h=" in text and "**" in text


def test_scoring_on_validation_never_reads_a_test_face(faces_dir, tiny_rgb_model, monkeypatch):
    split = split_faces(faces_dir, n_val=3, n_test=3)
    read = []
    real_eval_pairs = ev.eval_pairs

    def recording_eval_pairs(paths, *args, **kwargs):
        read.extend(paths)
        return real_eval_pairs(paths, *args, **kwargs)

    monkeypatch.setattr(ev, "eval_pairs", recording_eval_pairs)
    report = ev.evaluate(faces_dir, {"tiny_rgb": tiny_rgb_model}, n_eval=3, scored_on="validation")
    assert read and set(read) == set(split.val)
    assert report["protocol"]["scored_on"] == "validation"
    val_pairs = eval_pairs(split.val)
    for deg in ("jpeg10", "jpeg20", "paper"):
        mine = [p for p in val_pairs if p.degradation == deg]
        assert report["results"][deg]["input"]["psnr"] == pytest.approx(np.mean([psnr(p.lq, p.hq) for p in mine]))
        assert report["results"][deg]["tiny_rgb"]["psnr"] == pytest.approx(
            np.mean([psnr(_runtime_restore(tiny_rgb_model, p.lq), p.hq) for p in mine]))
    assert ev.markdown_table(report).startswith("Validation faces: 3")
    with pytest.raises(ValueError, match="scored_on"):
        ev.evaluate(faces_dir, {}, n_eval=3, scored_on="train")


def test_cli_prints_the_table_on_stdout(faces_dir, tiny_rgb_model, tmp_path, capsys):
    pytest.importorskip("torch")  # ``python -m export`` builds the train parser too
    from export.__main__ import main

    code = main(["evaluate", str(tiny_rgb_model), "--data", str(faces_dir), "--eval-count", "3",
                 "--json", str(tmp_path / "r.json")])
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith("Held-out test faces: 3") and "| tiny_rgb |" in out
    assert set(json.loads((tmp_path / "r.json").read_text())["results"]) == {"jpeg10", "jpeg20", "paper"}
    assert main(["evaluate", str(tiny_rgb_model), "--data", str(faces_dir), "--eval-count", "3",
                 "--on", "validation"]) == 0
    assert capsys.readouterr().out.startswith("Validation faces: 3")


def test_cli_data_error(tmp_path, capsys):
    pytest.importorskip("torch")
    from export.__main__ import main

    (tmp_path / "empty").mkdir()
    assert main(["evaluate", "--data", str(tmp_path / "empty")]) == 2
    assert "no images found" in capsys.readouterr().err


def test_cli_a_missing_or_broken_model_is_a_one_line_error_with_exit_2(faces_dir, tiny_rgb_model, tmp_path, capsys):
    pytest.importorskip("torch")
    from export.__main__ import main

    broken = tmp_path / "broken.onnx"
    broken.write_bytes(np.random.default_rng(0).bytes(500))
    data = ["--data", str(faces_dir), "--eval-count", "3"]
    # Each was a ModelError traceback (exit 1); fit-strength and archive-eval only after scoring other models.
    for model in (tmp_path / "missing.onnx", broken):
        for args in (["evaluate", str(model)], ["archive-eval", "--no-filters", f"ok={tiny_rgb_model}", f"m={model}"],
                     ["fit-strength", f"m={model}", "-o", str(tmp_path / "s.json")]):
            assert main([*args, *data]) == 2, args
            err = capsys.readouterr().err
            assert err.startswith("error: ") and model.name in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "s.json").exists()


def test_cli_fit_strength_refuses_a_broken_file_to_merge_into_before_fitting(faces_dir, tiny_rgb_model, tmp_path,
                                                                             capsys, monkeypatch):
    pytest.importorskip("torch")
    from export import fit_strength
    from export.__main__ import main

    monkeypatch.setattr(fit_strength, "fit", lambda *a, **k: pytest.fail("fitted before checking the output"))
    for text in ("{not json", "[1, 2]", '{"curves": [1]}'):
        out = tmp_path / "strength.json"
        out.write_text(text, encoding="utf-8")
        # Was a traceback from the merge, after the whole fit.
        assert main(["fit-strength", f"m={tiny_rgb_model}", "-o", str(out), "--data", str(faces_dir)]) == 2
        err = capsys.readouterr().err
        assert "strength.json is not a strength file" in err and len(err.strip().splitlines()) == 1, err
        assert out.read_text(encoding="utf-8") == text


def test_cli_fit_strength_checks_sides_webp_and_gray_before_fitting(faces_dir, tiny_rgb_model, tmp_path, capsys,
                                                                   monkeypatch):
    pytest.importorskip("torch")
    from export import fit_strength
    from export.__main__ import main

    for name in ("fit", "fit_gray", "split_faces"):
        monkeypatch.setattr(fit_strength, name, lambda *a, **k: pytest.fail("fitted before checking the options"))
    out = tmp_path / "strength.json"
    base = ["fit-strength", f"m={tiny_rgb_model}", "-o", str(out), "--data", str(faces_dir)]
    for extra, message in ((["--sides", "256,big"], "--sides"), (["--sides", "8"], "32 px"),
                           (["--sides", "512", "--webp"], "not to --webp"), (["--upscale", "--webp"], "not to --webp"),
                           (["--webp", "--gray"], "--gray"),
                           (["--webp"], "fit them first")):
        assert main([*base, *extra]) == 2, extra
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, (extra, err)
    assert not out.exists()


def test_cli_fit_strength_checks_the_scores_folder_before_fitting(faces_dir, tiny_rgb_model, tmp_path, capsys,
                                                                 monkeypatch):
    """Was a traceback once the cases were made (minutes into a fit at several sizes)."""
    pytest.importorskip("torch")
    from export import fit_strength
    from export.__main__ import main

    for name in ("fit", "fit_gray", "fit_webp", "split_faces"):
        monkeypatch.setattr(fit_strength, name, lambda *a, **k: pytest.fail("fitted before checking --scores"))
    (tmp_path / "a file").write_text("x", encoding="utf-8")
    out = tmp_path / "strength.json"
    for scores in (tmp_path / "a file", tmp_path / "a file" / "scores"):
        assert main(["fit-strength", f"m={tiny_rgb_model}", "-o", str(out), "--data", str(faces_dir),
                     "--scores", str(scores)]) == 2
        err = capsys.readouterr().err
        assert "--scores" in err and "not a folder" in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists() and (tmp_path / "a file").read_text(encoding="utf-8") == "x"


@pytest.mark.parametrize("extra, called, sides, upscale, saved", [
    ([], "fit", (256,), False, None),
    (["--sides", "256,512", "--upscale"], "fit", (256, 512), True, None),
    (["--gray", "--sides", "512"], "fit_gray", (512,), False, None),
    (["--gray", "--sides", "256,512", "--upscale", "--scores", "kept"], "fit_gray", (256, 512), True, "kept"),
    (["--sides", "512,256,512", "--scores", "kept"], "fit", (512, 256), False, "kept"),
])
def test_cli_fit_strength_passes_sides_upscale_and_scores_to_the_colour_and_gray_fits(
        faces_dir, tiny_rgb_model, tmp_path, monkeypatch, extra, called, sides, upscale, saved):
    pytest.importorskip("torch")
    from export import fit_strength
    from export.__main__ import main

    asked = []

    def fake(name):
        def record(data, models, **kwargs):
            asked.append((name, kwargs["sides"], kwargs["upscale"], kwargs["saved"]))
            return {"gray_curves" if name == "fit_gray" else "curves": {}}
        return record

    for name in ("fit", "fit_gray"):
        monkeypatch.setattr(fit_strength, name, fake(name))
    out = tmp_path / "strength.json"
    assert main(["fit-strength", f"m={tiny_rgb_model}", "-o", str(out), "--data", str(faces_dir), *extra]) == 0
    assert asked == [(called, sides, upscale, saved and Path(saved))]


def test_cli_fit_strength_webp_reports_a_failure_during_the_fit_as_one_not_as_a_usage_error(
        faces_dir, tiny_rgb_model, tmp_path, monkeypatch):
    """Only the checks before the fit are usage errors (exit 2); a ValueError from inside the fit is a bug to
    surface, not a mistake of the user's options."""
    pytest.importorskip("torch")
    from export import fit_strength
    from export.__main__ import main

    out = tmp_path / "strength.json"
    out.write_text(json.dumps({"curves": {"m": {"levels": list(fit_strength.KNOTS),
                                                "strengths": [0.0] * len(fit_strength.KNOTS)}}}), encoding="utf-8")

    def broken_fit(*args, **kwargs):
        raise ValueError("inside the fit")

    monkeypatch.setattr(fit_strength, "fit_webp", broken_fit)
    with pytest.raises(ValueError, match="inside the fit"):
        main(["fit-strength", "--webp", f"m={tiny_rgb_model}", "-o", str(out), "--data", str(faces_dir)])


def test_cli_a_report_path_that_is_a_folder_is_refused_before_scoring(faces_dir, tiny_rgb_model, tmp_path, capsys,
                                                                       monkeypatch):
    pytest.importorskip("torch")
    from export.__main__ import main

    monkeypatch.setattr(ev, "evaluate", lambda *a, **k: pytest.fail("scored before checking the outputs"))
    (tmp_path / "r.json").mkdir()
    # Was an IsADirectoryError traceback once the whole evaluation had run.
    assert main(["evaluate", str(tiny_rgb_model), "--data", str(faces_dir), "--json", str(tmp_path / "r.json")]) == 2
    assert "r.json is a folder" in capsys.readouterr().err
