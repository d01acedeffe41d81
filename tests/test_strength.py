"""Strength through the runtime: a conditioned model is told it, the report's models blend by it, tiling stays exact."""

from __future__ import annotations

import json

import numpy as np
import pytest

from facerestore.damage import strength as strength_mod
from facerestore.damage.analysis import KINDS
from facerestore.errors import ModelError
from facerestore.restore import restore_pixels
from facerestore.session import open_model


@pytest.fixture(scope="module")
def face(hopper_rgb) -> np.ndarray:
    """A real photo with odd height and width, so the conditioned model's size padding is exercised."""
    return (hopper_rgb[:151, :97].astype(np.float32) / 255.0).copy()


def test_a_conditioned_model_is_told_the_strength(tiny_conditioned_model, face):
    model = open_model(tiny_conditioned_model, device="cpu")
    assert (model.condition, model.size_multiple) == ("level", 2)
    # output = input + level * correction: the change grows in proportion to the strength it is told.
    changes = [np.abs(restore_pixels(model, face, strength=s) - face).mean() for s in (0.0, 0.3, 0.9)]
    assert changes[0] == 0.0
    assert 0 < changes[1] < changes[2]
    assert changes[2] / changes[1] == pytest.approx(3.0, rel=0.1)


@pytest.mark.parametrize("tile", [16, 30, 47, 64])
def test_conditioned_tiling_is_exact_at_odd_sizes(tiny_conditioned_model, face, tile):
    model = open_model(tiny_conditioned_model, device="cpu")
    whole = restore_pixels(model, face, tile=4096, strength=0.7)
    assert whole.shape == face.shape
    np.testing.assert_allclose(restore_pixels(model, face, tile=tile, strength=0.7), whole, atol=1e-6)


def test_a_plain_model_blends_its_output_with_the_input(tiny_rgb_model, face):
    model = open_model(tiny_rgb_model, device="cpu")
    full = restore_pixels(model, face)
    assert np.abs(full - face).max() > 1e-3
    np.testing.assert_array_equal(restore_pixels(model, face, strength=0.0), face)
    half = restore_pixels(model, face, strength=0.5)
    np.testing.assert_allclose(half, np.clip(face + 0.5 * (full - face), 0, 1), atol=1e-6)


def test_strength_outside_0_1_is_refused(tiny_rgb_model, face):
    model = open_model(tiny_rgb_model, device="cpu")
    with pytest.raises(ValueError, match="strength"):
        restore_pixels(model, face, strength=1.5)


@pytest.mark.parametrize("text,value", [("auto", None), ("AUTO", None), ("0", 0.0), ("0.35", 0.35), ("1", 1.0)])
def test_parse_strength(text, value):
    assert strength_mod.parse_strength(text) == value


@pytest.mark.parametrize("text", ["-0.1", "1.01", "nan", "strong", ""])
def test_parse_strength_refuses_with_one_line(text):
    with pytest.raises(ValueError) as info:
        strength_mod.parse_strength(text)
    assert "\n" not in str(info.value) and "[0, 1]" in str(info.value)


def test_decide_leaves_undamaged_photos_alone_and_obeys_an_override():
    curve = strength_mod.Curve((0.0, 0.2, 0.6, 1.0), (0.0, 0.0, 0.8, 1.0), "fitted")
    clean = strength_mod.decide(0.1, curve)
    assert clean.unchanged and clean.strength == 0.0 and "0.10" in clean.reason
    damaged = strength_mod.decide(0.8, curve)
    assert not damaged.unchanged and damaged.strength == pytest.approx(0.9)
    forced = strength_mod.decide(0.1, curve, override=0.4)
    assert not forced.unchanged and forced.strength == 0.4


def test_an_image_too_small_to_restore_safely_is_left_alone_unless_a_strength_is_given():
    curve = strength_mod.Curve((0.0, 1.0), (0.0, 1.0), "fitted")
    for shape in [(1, 50, 3), (50, 1, 3), (strength_mod.MIN_SIDE - 1, 400, 1)]:
        small = strength_mod.decide(0.8, curve, shape=shape)
        assert small.unchanged and small.strength == 0.0 and "too small" in small.reason
        assert f"{shape[1]}x{shape[0]} px" in small.reason
        assert not strength_mod.decide(0.8, curve, override=0.5, shape=shape).unchanged
    side = strength_mod.MIN_SIDE
    assert strength_mod.decide(0.8, curve, shape=(side, side, 3)).strength == pytest.approx(0.8)


def test_faint_damage_is_left_alone_whatever_the_curve_says_between_its_knots():
    # BigCNN's banding curve rises from 0 at level 0 to 0.45 at 0.1: a clean screenshot whose spiky histogram
    # reads as 61 intensities in use (level 0.017) would get strength 0.08 from it.
    curve = strength_mod.curve_for("big", False, "banding")
    assert curve(0.017) >= strength_mod.MIN_STRENGTH
    faint = strength_mod.decide(0.017, curve)
    assert faint.unchanged and faint.strength == 0.0 and "0.02" in faint.reason
    assert not strength_mod.decide(strength_mod.MIN_LEVEL, curve).unchanged
    assert not strength_mod.decide(0.017, curve, override=0.3).unchanged


def test_every_shipped_model_has_a_fitted_curve():
    from facerestore import registry

    fitted = strength_mod._fitted()
    for name in registry.SHIPPED:
        assert name in fitted, f"{name} has no fitted strength curve in {strength_mod.STRENGTH_FILE}"
        assert strength_mod.COLOUR in fitted[name] and set(fitted[name]) <= {strength_mod.COLOUR, strength_mod.GRAY}, \
            f"{name}: no colour curves"
        for photos, curves in fitted[name].items():
            # Every model restores WebP photos in colour (a WebP decodes to colour); gray curves follow the kinds
            # the gray fit covers, and a gray photo of another kind follows the colour curve.
            expected = set(KINDS) if photos == strength_mod.COLOUR else set(KINDS) - set(strength_mod.FITTED_ONLY)
            assert set(curves) == expected, f"{name}: not a curve per kind"
            for kind, curve in curves.items():
                what = f"{name} ({kind}, {photos})"
                assert all(0.0 <= s <= 1.0 for s in curve.strengths)
                assert list(curve.strengths) == sorted(curve.strengths), f"{what}: more damage, less restoration"
                assert curve(0.0) < strength_mod.MIN_STRENGTH, f"{what} would change a photo with no damage found"


@pytest.mark.parametrize("content, error", [
    (None, None),  # absent: every model falls back to the default curve of its kind
    ("{not json", "cannot read"),
    ('{"curves": {"big": {"levels": [0.0, 0.5], "strengths": [0.1]}}}', "malformed"),
    ('{"curves": {"big": {"levels": [0.0, 1.0], "strengths": {"jpeg": [0.0, 1.0]}}}}', "one per kind"),
    ('{"curves": {"big": {"levels": [0.0, 1.0], "strengths": {"jpeg": [0.0, 1.0], "banding": [0.0, 1.0], '
     '"pixelation": [0.0]}}}}', "malformed"),
])
def test_a_missing_or_broken_curve_file(tmp_path, monkeypatch, content, error):
    from facerestore.errors import ModelError

    path = tmp_path / "strength.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    monkeypatch.setattr(strength_mod, "STRENGTH_FILE", path)
    strength_mod._fitted.cache_clear()
    try:
        if error is None:
            assert strength_mod.curve_for("big", False, "jpeg") is strength_mod.DEFAULT_PLAIN
            assert strength_mod.curve_for("darn", True, "banding") is strength_mod.DEFAULT_CONDITIONED
        else:
            with pytest.raises(ModelError, match=error) as info:
                strength_mod.curve_for("big", False, "jpeg")
            assert str(path) in str(info.value)
    finally:
        strength_mod._fitted.cache_clear()


def test_a_curve_per_kind_or_one_for_every_kind(tmp_path, monkeypatch):
    """strength.json gives a model one list of strengths (every kind of damage but those of FITTED_ONLY follows
    it) or a list per kind; a kind of FITTED_ONLY without its own list gets no curve (left unchanged)."""
    path = tmp_path / "strength.json"
    path.write_text(json.dumps({"curves": {
        "big": {"levels": [0.0, 1.0], "strengths": [0.0, 0.6]},
        "darn": {"levels": [0.0, 0.5, 1.0], "strengths": {"jpeg": [0.0, 0.5, 0.9], "banding": [0.0, 1.0, 1.0],
                                                           "pixelation": [0.0, 0.2, 0.4]}}}}), encoding="utf-8")
    monkeypatch.setattr(strength_mod, "STRENGTH_FILE", path)
    strength_mod._fitted.cache_clear()
    try:
        fitted = [kind for kind in KINDS if kind not in strength_mod.FITTED_ONLY]
        assert [strength_mod.curve_for("big", False, kind)(0.5) for kind in fitted] == pytest.approx([0.3] * 3)
        at_half = {kind: strength_mod.curve_for("darn", True, kind)(0.5) for kind in fitted}
        assert at_half == {"jpeg": 0.5, "banding": 1.0, "pixelation": 0.2}
        assert strength_mod.curve_for("big", False, "webp") is None
        assert strength_mod.curve_for("darn", True, "webp") is None
    finally:
        strength_mod._fitted.cache_clear()


def test_a_broken_curve_file_ends_an_auto_run_before_its_first_image(tmp_path, monkeypatch, hopper_path):
    from click.testing import CliRunner

    from facerestore.cli import cli

    broken = tmp_path / "strength.json"
    broken.write_text("{not json", encoding="utf-8")
    monkeypatch.setattr(strength_mod, "STRENGTH_FILE", broken)
    strength_mod._fitted.cache_clear()
    photos = tmp_path / "in"
    photos.mkdir()
    for name in ("a.jpg", "b.jpg"):
        (photos / name).write_bytes(hopper_path.read_bytes())
    try:
        result = CliRunner().invoke(cli, ["enhance", str(photos), "-o", str(tmp_path / "out"), "--json", "-q"])
    finally:
        strength_mod._fitted.cache_clear()
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("error") == 1 and "strength.json" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_gray_photo_follows_its_models_gray_curve_where_one_is_fitted(tmp_path, monkeypatch):
    path = tmp_path / "strength.json"
    path.write_text(json.dumps({
        "curves": {"big": {"levels": [0.0, 1.0], "strengths": [0.0, 1.0]},
                   "darn": {"levels": [0.0, 1.0], "strengths": [0.0, 0.8]}},
        "gray_curves": {"big": {"levels": [0.0, 0.5, 1.0], "strengths": [0.0, 0.1, 0.6]}},
    }), encoding="utf-8")
    monkeypatch.setattr(strength_mod, "STRENGTH_FILE", path)
    strength_mod._fitted.cache_clear()
    try:
        for kind in (k for k in KINDS if k not in strength_mod.FITTED_ONLY):
            assert strength_mod.curve_for("big", False, kind, gray=True)(0.5) == pytest.approx(0.1)
            assert strength_mod.curve_for("big", False, kind)(0.5) == pytest.approx(0.5)  # colour: as before
            assert strength_mod.curve_for("darn", True, kind, gray=True)(0.5) == pytest.approx(0.4)  # none: colour
        # A list per kind, as the colour curves may have.
        per_kind = {"jpeg": [0.0, 0.2], "banding": [0.0, 0.4], "pixelation": [0.0, 0.6]}
        path.write_text(json.dumps({"curves": {"big": {"levels": [0.0, 1.0], "strengths": [0.0, 1.0]}},
                                    "gray_curves": {"big": {"levels": [0.0, 1.0], "strengths": per_kind}}}),
                        encoding="utf-8")
        strength_mod._fitted.cache_clear()
        for kind, values in per_kind.items():
            assert strength_mod.curve_for("big", False, kind, gray=True)(1.0) == pytest.approx(values[1])
            assert strength_mod.curve_for("big", False, kind)(1.0) == pytest.approx(1.0)
        # A gray photo of a kind its gray curves lack follows the colour curve of that kind, here none.
        assert strength_mod.curve_for("big", False, "webp", gray=True) is None
        path.write_text(json.dumps({"curves": {"big": {"levels": [0.0, 1.0], "strengths": [0.0, 1.0]}},
                                    "gray_curves": {"big": {"levels": [0.0, 1.0], "strengths": [0.5]}}}),
                        encoding="utf-8")
        strength_mod._fitted.cache_clear()
        with pytest.raises(ModelError, match="malformed"):
            strength_mod.curve_for("big", False, "jpeg", gray=True)
    finally:
        strength_mod._fitted.cache_clear()
