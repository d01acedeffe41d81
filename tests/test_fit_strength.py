"""The strength fit: it finds the strength each damage level wants, keeps the runtime's promises, reads only
validation faces, and the archive cases it scores are real files read back by the runtime."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from export import archive, fit_strength
from export.fit_strength import (GRID, KNOTS, Table, broken_promises, cross_validate, fit_curve, fit_curves,
                                 mean_psnr, objective)
from facerestore.damage import strength as strength_mod
from facerestore.damage.strength import MIN_STRENGTH


class _Damage:
    def __init__(self, level: float, kind: str):
        self.level, self.kind = level, kind


class _Case:
    def __init__(self, degradation: str, level: float, kind: str = "jpeg", face: str = "face", side: int = 256):
        self.degradation, self.damage, self.face, self.side = degradation, _Damage(level, kind), face, side


def _table(cases: list[_Case], best: dict[str, float], input_psnr: float = 30.0, gain: float = 2.0) -> Table:
    """Each case's PSNR is a parabola in the strength, peaking at ``best[degradation]`` with ``gain`` dB; at
    strength 0 it equals the input's."""
    rows = []
    for c in cases:
        b = best[c.degradation]
        if b == 0.0:  # any restoration hurts
            rows.append([input_psnr - 3.0 * s for s in GRID])
        else:
            rows.append([input_psnr + gain * (1 - ((s - b) / b) ** 2) for s in GRID])
    return Table(cases, np.array(rows), np.full(len(cases), input_psnr))


def test_the_fit_finds_each_levels_strength_and_leaves_clean_photos_alone():
    cases = [_Case("clean", 0.0)] * 5 + [_Case("light", 0.3)] * 5 + [_Case("heavy", 0.9)] * 5
    table = _table(cases, {"clean": 0.0, "light": 0.4, "heavy": 1.0})
    values, score = fit_curve(table)
    curve = lambda level: float(np.interp(level, KNOTS, values))  # noqa: E731
    assert curve(0.0) < MIN_STRENGTH  # a clean photo comes back unchanged
    assert curve(0.3) == pytest.approx(0.4, abs=0.05)
    assert curve(0.9) == pytest.approx(1.0, abs=0.05)
    assert all(a <= b for a, b in zip(values, values[1:]))  # more damage never gets less restoration


def test_a_damage_made_worse_breaks_the_promise_and_is_left_alone():
    # "risky" gains on average at strength 1 only because two faces gain a lot; the other eight lose: more
    # than MAX_WORSE_SHARE of faces made worse, so the fit must not restore it at all.
    cases = [_Case("risky", 0.5)] * 10
    table = _table(cases, {"risky": 1.0})
    table.psnr[2:] = table.input_psnr[2:, None] - np.array(GRID) * 0.2
    table.psnr[:2] = table.input_psnr[:2, None] + np.array(GRID) * 5.0
    assert objective(table, np.ones(len(KNOTS))) < objective(table, np.zeros(len(KNOTS)))
    values, _ = fit_curve(table)
    assert float(np.interp(0.5, KNOTS, values)) < MIN_STRENGTH
    # What the model card records beside the curve: the damages full strength makes worse, none for the fit.
    assert broken_promises(table, np.ones(len(KNOTS))) == ["risky"]
    assert broken_promises(table, np.array(values)) == []
    assert mean_psnr(table, np.array(values)) == pytest.approx(30.0)  # unchanged: the input's PSNR


def test_encode_writes_real_files_as_an_archive_holds_them(hopper_rgb):
    from io import BytesIO

    from PIL import Image

    face = hopper_rgb[:96, :80]
    data, suffix = archive.encode(face, "jpeg30", seed=0)
    assert suffix == ".jpg"
    with Image.open(BytesIO(data)) as im:
        assert im.format == "JPEG"
    data, suffix = archive.encode(face, "clean", seed=0)
    with Image.open(BytesIO(data)) as im:
        assert suffix == ".png" and np.array_equal(np.asarray(im), face)


def test_cases_carry_the_runtimes_analysis(hopper_path, tmp_path):
    cases = archive.make_cases((hopper_path,), ("jpeg10", "jpeg90", "clean"), max_side=128)
    by = {c.degradation: c for c in cases}
    assert by["jpeg10"].damage.jpeg_quality == 10 and by["jpeg10"].damage.jpeg_quality_source == "tables"
    assert by["jpeg10"].damage.level > by["jpeg90"].damage.level > by["clean"].damage.level


def test_upscaled_cases_bring_a_smaller_face_up_to_the_side_as_a_soft_photo(hopper_path):
    """--upscale: a face smaller than the side is brought up to it (a soft photo), a larger one down as always."""
    from PIL import Image

    with Image.open(hopper_path) as im:
        native = max(im.size)
    side = native * 3 // 2
    kept, = archive.make_cases((hopper_path,), ("clean",), max_side=side)
    soft, = archive.make_cases((hopper_path,), ("clean",), max_side=side, upscale=True)
    down, = archive.make_cases((hopper_path,), ("clean",), max_side=native // 2, upscale=True)
    assert max(kept.hq.shape[:2]) == native and max(soft.hq.shape[:2]) == side
    assert max(down.hq.shape[:2]) == native // 2
    # Softer per pixel: the mean step between neighbours shrinks about as the scale grows.
    steps = [np.abs(np.diff(c.hq.astype(float), axis=1)).mean() for c in (kept, soft)]
    assert steps[1] < 0.8 * steps[0]
    assert np.array_equal(archive.to_uint8(soft.loaded.pixels), soft.hq)


def test_gray_cases_are_grayscale_files_of_grayscale_faces(hopper_path):
    cases = archive.make_cases((hopper_path,), ("jpeg20", "jpeg10>95", "paper", "clean"), max_side=128, gray=True)
    by = {c.degradation: c for c in cases}
    for case in cases:
        assert case.loaded.pixels.shape[2] == 1, case.degradation  # what enhance reads from a gray file
        assert (case.hq[..., 0] == case.hq[..., 1]).all() and (case.hq[..., 1] == case.hq[..., 2]).all()
    assert by["jpeg20"].loaded.jpeg.chroma_slot is None and by["jpeg20"].damage.jpeg_quality == 20
    assert by["jpeg10>95"].damage.double_compression is True
    assert np.array_equal(archive.to_uint8(by["clean"].loaded.pixels), by["clean"].hq)


def test_the_gray_fit_scores_gray_cases_against_what_gray_photos_follow_now(monkeypatch, tmp_path):
    from facerestore.damage.analysis import KINDS
    from facerestore.damage.strength import curve_for

    cases = [_Case(f"d{i}", level, kind, face=f"f{j}") for kind in KINDS
             for i, level in enumerate((0.0, 0.3, 0.6, 0.9)) for j in range(3)]
    rng = np.random.default_rng(1)
    table = Table(cases, 30 + rng.random((len(cases), len(GRID))), np.full(len(cases), 30.5), conditioned=True)
    asked = []
    monkeypatch.setattr(fit_strength, "split_faces", lambda *a, **k: type("S", (), {"val": (), "test": ()})())
    monkeypatch.setattr(fit_strength, "make_cases",
                        lambda paths, degs, max_side, gray=False, upscale=False: asked.append(gray) or cases)
    monkeypatch.setattr(fit_strength, "score_grid", lambda *a, **k: table)
    result = fit_strength.fit_gray(tmp_path, {"darn": tmp_path / "darn.onnx"})
    row = result["gray_curves"]["darn"]
    assert asked == [True] and row["levels"] == list(KNOTS) and row["sizes"] == "at most 256 px"
    # One curve, or one per kind where those win held out, as for colour photos.
    per_kind = row["strengths"] if isinstance(row["strengths"], dict) else dict.fromkeys(KINDS, row["strengths"])
    assert set(per_kind) == set(KINDS) and all(len(values) == len(KNOTS) for values in per_kind.values())
    assert isinstance(row["strengths"], dict) == (row["validation_mean_psnr_held_out"]["per_kind"]
                                                  > row["validation_mean_psnr_held_out"]["one_curve"])
    now = fit_strength._at(table, np.array([curve_for("darn", True, c.damage.kind, gray=True)(c.damage.level)
                                            for c in cases]))
    assert row["validation_mean_psnr_current_curve"] == pytest.approx(float(np.mean(now)), abs=1e-4)
    assert row["made_worse_by_current_curve"] == fit_strength._broken(table, now)
    # Written beside the colour curves, which stay as they were.
    out = tmp_path / "strength.json"
    out.write_text('{"curves": {"darn": {"levels": [0.0, 1.0], "strengths": [0.0, 1.0]}}}', encoding="utf-8")
    fit_strength.write(result, out)
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written["curves"]["darn"]["strengths"] == [0.0, 1.0] and "darn" in written["gray_curves"]


def test_the_fit_reads_only_validation_faces(monkeypatch, shared_faces):
    from export.data import split_faces

    split = split_faces(shared_faces)
    seen: list[Path] = []
    monkeypatch.setattr(fit_strength, "make_cases", lambda paths, degs, **k: seen.extend(paths) or [])
    scored = _table([_Case("jpeg50", 0.5, face=f"f{i}") for i in range(4)], {"jpeg50": 0.8})
    monkeypatch.setattr(fit_strength, "score_grid", lambda *a, **k: scored)
    monkeypatch.setattr(fit_strength, "fit_curve", lambda table, sweeps=4: ([0.0] * len(KNOTS), 0.0))
    monkeypatch.setattr(fit_strength, "cross_validate", lambda table: {"one_curve": 0.0, "per_kind": 0.0})
    fit_strength.fit(shared_faces, {"m": Path("m.onnx")})
    assert set(seen) == set(split.val) and not set(seen) & set(split.test)


def test_the_fit_scores_the_curve_a_model_follows_now_as_the_runtime_applies_it(monkeypatch, tmp_path):
    """A refit is judged against the shipped curve on the same table: that score must be what enhance's decision
    for each case's level earns, read off the table."""
    from facerestore.damage.analysis import KINDS
    from facerestore.damage.strength import curve_for, decide

    shipped = {kind: curve_for("darn", True, kind) for kind in KINDS}
    assert {c.source for c in shipped.values()} == {"fitted"}
    cases = [_Case(f"d{i}", level, kind, face=f"f{j}") for kind in KINDS
             for i, level in enumerate(shipped[kind].levels) for j in range(3)]
    rng = np.random.default_rng(0)
    table = Table(cases, 30 + rng.random((len(cases), len(GRID))), np.full(len(cases), 30.5), conditioned=True)
    monkeypatch.setattr(fit_strength, "split_faces", lambda *a, **k: type("S", (), {"val": (), "test": ()})())
    monkeypatch.setattr(fit_strength, "make_cases", lambda paths, degs, **k: cases)
    monkeypatch.setattr(fit_strength, "score_grid", lambda *a, **k: table)

    expected = []
    for i, case in enumerate(cases):
        decision = decide(case.damage.level, shipped[case.damage.kind])
        expected.append(table.input_psnr[i] if decision.unchanged else
                        table.psnr[i, GRID.index(round(decision.strength, 2))])  # shipped strengths lie on the grid
    result = fit_strength.fit(tmp_path, {"darn": tmp_path / "darn.onnx"})["curves"]["darn"]
    assert result["validation_mean_psnr_current_curve"] == pytest.approx(np.mean(expected), abs=1e-4)
    assert result["validation_mean_psnr"] >= result["validation_mean_psnr_full_strength"]


def test_one_face_in_twenty_made_worse_is_the_margin():
    """Of 20 validation faces one may come out slightly worse where the rest gain; two may not."""
    for worse, restored in ((1, True), (2, False)):
        table = _table([_Case("mild", 0.5)] * 20, {"mild": 1.0})
        table.psnr[:] = table.input_psnr[:, None] + np.array(GRID) * 0.5
        table.psnr[:worse] = table.input_psnr[:worse, None] - np.array(GRID) * 0.1
        values, _ = fit_curve(table)
        assert (float(np.interp(0.5, KNOTS, values)) >= MIN_STRENGTH) is restored



def test_the_promise_is_kept_at_each_size_the_faces_were_made_at():
    """Two faces of 20 made worse at 512 px, none at 256: 2 of 40 on the whole table is within the margin, but the
    photos of one size are an archive's too, so the damage is left alone; at one size the labels are as before."""
    cases = [_Case("mild", 0.5, face=f"f{i}", side=side) for side in (256, 512) for i in range(20)]
    table = _table(cases, {"mild": 1.0})
    table.psnr[:] = table.input_psnr[:, None] + np.array(GRID) * 0.5
    table.psnr[20:22] = table.input_psnr[20:22, None] - np.array(GRID) * 0.1
    assert broken_promises(table, np.ones(len(KNOTS))) == ["mild at 512 px"]
    values, _ = fit_curve(table)
    assert float(np.interp(0.5, KNOTS, values)) < MIN_STRENGTH
    at_256 = table.subset(np.arange(20))
    assert broken_promises(at_256, np.ones(len(KNOTS))) == []
    one_size = table.subset(np.arange(20, 40))
    assert broken_promises(one_size, np.ones(len(KNOTS))) == ["mild"]
    # The fit's record says what its curves give the photos of each size, beside the shipped curves.
    row = fit_strength.fit_model("big", table)
    strengths = fit_strength.strengths_of(table, np.array(row["strengths"]) if isinstance(row["strengths"], list)
                                          else fit_strength._rows(row["strengths"], row["strengths"]["jpeg"]))
    got = fit_strength._at(table, strengths)
    assert set(row["by_size"]) == {"256", "512"}
    assert row["by_size"]["256"]["validation_mean_psnr"] == pytest.approx(float(got[:20].mean()), abs=1e-4)
    assert row["by_size"]["512"]["validation_mean_psnr"] == pytest.approx(float(got[20:].mean()), abs=1e-4)
    # big's shipped curves restore "mild" (level 0.5), which the two faces at 512 px lose by.
    now = row["by_size"]["512"]["validation_mean_psnr_current_curve"], \
        row["by_size"]["256"]["validation_mean_psnr_current_curve"]
    assert now[0] < now[1] and row["by_size"]["512"]["validation_mean_psnr"] == pytest.approx(30.0)
    assert "by_size" not in fit_strength.fit_model("big", at_256)


def _two_kinds(faces: int = 10) -> Table:
    """JPEG and banded photos read at the same damage level: the JPEG ones gain most at strength 0.5, the banded
    ones at full strength."""
    cases = [_Case(name, 0.6, kind, face=f"f{i:02d}") for i in range(faces)
             for name, kind in (("jpeg", "jpeg"), ("banded", "banding"))]
    return _table(cases, {"jpeg": 0.5, "banded": 1.0})


def _one_strength_for_all() -> Table:
    """JPEG and banded photos read at the same level that both gain most at strength 0.7."""
    return _table([_Case("a", 0.6, kind, face=f"f{i}") for i in range(6) for kind in ("jpeg", "banding")],
                  {"a": 0.7})


def test_a_curve_per_kind_gives_each_kind_its_strength_at_the_same_level():
    table = _two_kinds()
    one, one_score = fit_curve(table)
    per_kind, score = fit_curves(table)
    at = lambda values: float(np.interp(0.6, KNOTS, values))  # noqa: E731
    assert 0.5 < at(one) < 1.0  # one curve can only split the difference
    assert at(per_kind["jpeg"]) == pytest.approx(0.5) and at(per_kind["banding"]) == pytest.approx(1.0)
    assert score > one_score + 0.1
    assert per_kind["pixelation"] == one  # no pixelated case: that kind keeps the one curve


def test_curves_per_kind_are_kept_only_where_they_win_on_faces_they_were_not_fitted_on():
    held_out = cross_validate(_two_kinds())
    assert held_out["per_kind"] > held_out["one_curve"] + 0.1
    # Where every kind wants the same strength the curves per kind have nothing to add.
    held_out = cross_validate(_one_strength_for_all())
    assert held_out["per_kind"] == pytest.approx(held_out["one_curve"])


def test_fit_writes_a_list_per_kind_only_when_it_generalises(monkeypatch, tmp_path):
    for table, per_kind in ((_two_kinds(), True), (_one_strength_for_all(), False)):
        monkeypatch.setattr(fit_strength, "split_faces", lambda *a, **k: type("S", (), {"val": (), "test": ()})())
        monkeypatch.setattr(fit_strength, "make_cases", lambda paths, degs, t=table, **k: t.cases)
        monkeypatch.setattr(fit_strength, "score_grid", lambda *a, t=table, **k: t)
        row = fit_strength.fit(tmp_path, {"m": tmp_path / "m.onnx"})["curves"]["m"]
        assert isinstance(row["strengths"], dict) is per_kind
        assert row["validation_mean_psnr"] >= row["validation_mean_psnr_one_curve"] - 1e-9


def test_the_fit_can_score_every_validation_face_at_several_sizes(monkeypatch, shared_faces):
    """--sides 256,512: each validation face at each size, under one name so a fold holds all its sizes."""
    from export.data import split_faces

    split = split_faces(shared_faces)
    asked: list[tuple[tuple[Path, ...], int, bool, bool]] = []
    monkeypatch.setattr(fit_strength, "make_cases", lambda paths, degs, max_side, gray, upscale:
                        asked.append((tuple(paths), max_side, gray, upscale)) or [])
    fit_strength.fit_cases(shared_faces, sides=(256, 512))
    assert asked == [(tuple(split.val), 256, False, False), (tuple(split.val), 512, False, False)]
    asked.clear()
    fit_strength.fit_cases(shared_faces, sides=(256, 512), gray=True, upscale=True)
    assert asked == [(tuple(split.val), 256, True, True), (tuple(split.val), 512, True, True)]


def _webp_cases(n_faces: int = 20) -> list[_Case]:
    return [_Case(f"webp{q}", level, kind="webp", face=f"f{i}")
            for i in range(n_faces) for q, level in ((20, 0.7), (50, 0.57), (90, 0.25))]


def test_a_webp_curve_is_kept_only_where_it_beats_leaving_webp_photos_alone():
    cases = _webp_cases()
    helps = _table(cases, {"webp20": 0.8, "webp50": 0.6, "webp90": 0.2}, gain=0.5)
    row, scores = fit_strength.fit_webp_model("m", helps)
    assert row is not None and row[0] == 0.0 and scores["made_worse"] == []
    assert scores["validation_mean_psnr_held_out"] > scores["validation_mean_psnr_unchanged"]
    assert np.interp(0.7, KNOTS, row) == pytest.approx(0.8, abs=0.1)
    hurts = _table(cases, {"webp20": 0.0, "webp50": 0.0, "webp90": 0.0})
    row, scores = fit_strength.fit_webp_model("m", hurts)
    assert row is None and scores["validation_mean_psnr_held_out"] <= scores["validation_mean_psnr_unchanged"]


def test_fit_webp_adds_the_curve_to_the_models_curves_and_refuses_a_model_without_any(monkeypatch, tmp_path):
    table = _table(_webp_cases(), {"webp20": 0.8, "webp50": 0.6, "webp90": 0.2}, gain=0.5)
    monkeypatch.setattr(fit_strength, "split_faces", lambda *a, **k: type("S", (), {"val": (), "test": ()})())
    monkeypatch.setattr(fit_strength, "make_cases", lambda paths, degs, **k: table.cases)
    monkeypatch.setattr(fit_strength, "score_grid", lambda *a, **k: table)
    one = [min(1.0, 2 * level) for level in KNOTS]
    base = {"curves": {"m": {"levels": list(KNOTS), "strengths": one, "validation_mean_psnr": 1.0}}}
    row = fit_strength.fit_webp(tmp_path, {"m": tmp_path / "m.onnx"}, base)["curves"]["m"]
    assert row["strengths"]["jpeg"] == row["strengths"]["banding"] == row["strengths"]["pixelation"] == one
    assert "webp" in row["strengths"] and row["validation_mean_psnr"] == 1.0 and "webp" in row
    assert strength_mod._per_kind("m", row)["webp"](0.7) == pytest.approx(np.interp(0.7, KNOTS, row["strengths"]["webp"]))
    with pytest.raises(ValueError, match="other"):
        fit_strength.fit_webp(tmp_path, {"other": tmp_path / "o.onnx"}, base)


def test_fit_webp_refuses_curves_at_other_levels_than_its_knots(monkeypatch, tmp_path):
    """The WebP curve is fitted at KNOTS and shares its model's ``levels``: added to curves set at other levels
    (a file fitted with other knots), it made a strength file every run of that model refused as malformed."""
    fitted = []
    monkeypatch.setattr(fit_strength, "split_faces", lambda *a, **k: fitted.append(1))
    base = {"curves": {"m": {"levels": [0.0, 0.5, 1.0], "strengths": [0.0, 0.5, 1.0]}}}
    with pytest.raises(ValueError, match="m: its curves are set at other levels"):
        fit_strength.fit_webp(tmp_path, {"m": tmp_path / "m.onnx"}, base)
    assert not fitted  # said before the fit, not after it


def test_a_refit_keeps_the_webp_curve_fitted_on_its_own(tmp_path):
    """fit-strength refits a model's JPEG, banding and pixelation curves; its WebP curve, fitted on WebP cases
    alone (--webp), is carried into the written file, not dropped."""
    levels = [0.0, 0.5, 1.0]
    old = {"curves": {"m": {"levels": levels, "webp": {"validation_mean_psnr": 35.8},
                            "strengths": {"jpeg": [0, 0.5, 1], "banding": [0, 1, 1], "pixelation": [0, 0, 1],
                                          "webp": [0, 0.4, 0.9]}},
                      "other": {"levels": levels, "strengths": [0, 1, 1]}}}
    path = tmp_path / "strength.json"
    path.write_text(json.dumps(old), encoding="utf-8")
    for refit in ([0, 0.6, 1], {"jpeg": [0, 0.6, 1], "banding": [0, 1, 1], "pixelation": [0, 0.1, 1]}):
        fit_strength.write({"curves": {"m": {"levels": levels, "strengths": refit}}}, path)
        written = json.loads(path.read_text(encoding="utf-8"))["curves"]
        assert written["m"]["strengths"]["webp"] == [0, 0.4, 0.9] and written["m"]["webp"]["validation_mean_psnr"] == 35.8
        assert written["m"]["strengths"]["jpeg"] == [0, 0.6, 1] and written["other"] == old["curves"]["other"]
        path.write_text(json.dumps(old), encoding="utf-8")


def test_each_models_curves_say_the_sizes_their_faces_were_brought_to(tmp_path):
    """A refit says the sizes of its own faces on its own rows ("sizes"), so another model's, fitted at other sizes
    at another time, keeps saying its own in the merged file."""
    levels = [0.0, 0.5, 1.0]
    rows = {"big": {"levels": levels, "strengths": [0, 0.5, 1]}}
    assert fit_strength._sized(rows, (256,), upscale=False)["big"]["sizes"] == "at most 256 px"
    soft = fit_strength._sized(rows, (256, 512), upscale=True)
    assert soft["big"]["sizes"] == "exactly 256 and 512 px, smaller faces upscaled (LANCZOS)"
    path = tmp_path / "strength.json"
    path.write_text(json.dumps({"curves": {"darn": {"levels": levels, "strengths": [0, 1, 1],
                                                    "sizes": "at most 256 px"}}}), encoding="utf-8")
    fit_strength.write({"curves": soft}, path)
    written = json.loads(path.read_text(encoding="utf-8"))["curves"]
    assert written["darn"]["sizes"] == "at most 256 px" and written["big"]["sizes"] == soft["big"]["sizes"]
