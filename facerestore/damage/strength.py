"""How strongly to restore an image: from its damage level, through a curve fitted per model.

``--strength auto`` maps the damage analysis's level through the model's curve for the kind of damage that dominates
it (``Damage.kind``: JPEG, banding, pixelation or WebP; a model restores each best at its own strength), fitted on
validation faces by ``python -m export fit-strength`` to maximise PSNR over JPEG 5-95, banding, pixelation and clean
photos, and recorded beside the shipped models in ``strength.json``. A conditioned model is then told that strength
as its damage level; the report's models blend their output with the input by it. Below ``MIN_STRENGTH``, or a
damage level below ``MIN_LEVEL``, the image is left as it is (status ``unchanged``), and so is an image under
``MIN_SIDE`` px across, a JPEG or lossy WebP whose restoration would not survive being saved in its own format
again (:func:`resave_loses`), and an image whose kind of damage its model has no curve for (WebP, which no model was
trained on, is restored only by models whose WebP curve was fitted). An explicit ``--strength X`` is used as given
and always runs the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from facerestore.damage.analysis import KINDS, Damage
from facerestore.damage.jpeg_tables import ijg_scale_percent
from facerestore.errors import ModelError
from facerestore.registry import MODELS_DIR, SHIPPED, read_packaged_json

if TYPE_CHECKING:
    from facerestore.session import OnnxModel

STRENGTH_FILE = MODELS_DIR / "strength.json"
# Below this the restoration would change the photo by less than rounding to 8 bits shows for most pixels.
MIN_STRENGTH = 0.05
# Below this damage level (JPEG above quality 96, 48 or more intensities in use per channel) an image is left as
# it is whatever a curve says: the fitted curves already leave faces posterized to 64 levels (0.01) unchanged, and
# between their knots at 0 and 0.1 a curve can rise past MIN_STRENGTH for a clean graphic whose spiky histogram
# reads as faint banding (a screenshot with 61 intensities in use: level 0.017, BigCNN at strength 0.08).
MIN_LEVEL = 0.05
# An image narrower than this in either direction is left as it is: strips of 1-12 px cut from validation faces and
# natural photos, saved as JPEG 50 and 75, came back worse from BigCNN under auto (1-4 px: on average; 8 px: 7 of
# 24, 12 px: 3 of 24 at quality 75), at 16 and 24 px none did (runs/README.txt). The models learnt on patches of
# 96 px and more, and the analysis and the JPEG intervals need whole 8 px blocks.
MIN_SIDE = 16
AUTO = "auto"
# Saving a restored JPEG as a JPEG quantises it again, at the output's steps: restoring pays only where the input's
# steps (IJG scale, % of the base table) exceed RESAVE_SLOPE times the output's plus RESAVE_MARGIN. Measured on the
# validation faces at 1024 px, restored with `auto` and re-saved: at 95, quality 80 came out level with its input
# (85-95 below it by 0.5-1.2 dB, 75 above it by 0.3-0.4); at 85, quality 60 above it (+0.2); at 75, quality 50
# level, 40 above (+0.2). Faces at 256 px, which show more detail per pixel, gain more and cross later.
RESAVE_SLOPE = 1.5
RESAVE_MARGIN = 25
# Pillow's quality 98-100 re-save still cost restored quality 90-95 faces 0.4-0.6 dB: the output's steps count as at
# least those of quality 97.5 (scale 5 %).
MIN_RESAVE_SCALE = 5
# A lossy WebP saved as a lossy WebP again gains less and loses more: on 10 validation faces at 512 px, restored
# with `big` under auto and saved at WebP 95, inputs at WebP 10-20 (level 0.71 and up) gained +0.17 to +0.19 dB with
# none worse, WebP 30-60 gained +0.02 to +0.16 with 1-4 of 10 worse, 75 and up lost; saved at 85, none gained
# more than 0.01 dB. So a WebP kept as a WebP is restored only from this level, and only at WebP quality 95 and up.
WEBP_RESAVE_LEVEL = 0.70
WEBP_RESAVE_MIN_QUALITY = 95


# Text, line art, charts and screenshots (Damage.graphic) are restored only from heavy JPEG damage and only part of
# the way: the models, trained on photos, soften their edges and take a scan's grain for noise. Ten such images
# (a screenshot, a document, a spreadsheet, a chart, a code editor, line art, cel art, handwriting, two as if
# scanned) as JPEG 10-90 and WebP 50/90, restored to PNG under the photo curves: at JPEG 50-90 BigCNN and darn made
# them worse by up to 1.4 dB (darn 2.7), at WebP 50 by up to 4.2 dB, still at strength 0.4, and darn at JPEG 50
# even told 0.07; at JPEG 10-30 strength 0.5 gained on every one (+0.1 to +1.9 dB) where full strength lost up
# to 0.5 dB. So their strength is the JPEG curve's, at most GRAPHIC_MAX_STRENGTH, scaled from 0 at damage level
# GRAPHIC_LEVELS[0] (JPEG 40) to 1 at GRAPHIC_LEVELS[1] (JPEG 25); other kinds of damage in them are left alone.
GRAPHIC_MAX_STRENGTH = 0.5
GRAPHIC_LEVELS = (0.6, 0.7)


@dataclass(frozen=True)
class Curve:
    """Piecewise-linear strength as a function of the damage level (knots in increasing level)."""

    levels: tuple[float, ...]
    strengths: tuple[float, ...]
    source: str  # where the curve comes from: "fitted" or "default"

    def __call__(self, level: float) -> float:
        return float(np.clip(np.interp(level, self.levels, self.strengths), 0.0, 1.0))


# Models without a fitted curve (your own .onnx): a conditioned model is told the level itself; a plain one
# restores fully from clearly damaged (level 0.5, about JPEG 60) and fades out towards clean.
DEFAULT_CONDITIONED = Curve((0.0, 1.0), (0.0, 1.0), "default")
DEFAULT_PLAIN = Curve((0.0, 0.15, 0.5, 1.0), (0.0, 0.0, 1.0, 1.0), "default")
# Kinds of damage a model restores under auto only with a curve fitted for it: the models were trained on JPEG, and
# at the JPEG curves' strengths they make WebP photos worse (`darn` at full strength: -0.2 dB at WebP quality 5 to
# -3.6 at 75 on the validation faces).
FITTED_ONLY = ("webp",)
_KIND_NAMES = {"jpeg": "JPEG", "webp": "WebP"}  # as a reason names them


@dataclass(frozen=True)
class Decision:
    strength: float
    unchanged: bool
    reason: str | None  # why an image is left unchanged


COLOUR, GRAY = "colour", "gray"  # the photos a model's curves are for


@lru_cache(maxsize=1)
def _fitted() -> dict[str, dict[str, dict[str, Curve]]]:
    """Each shipped model's curves per kind of damage, for colour photos (``curves``) and, where fitted, for gray
    ones (``gray_curves``), keyed by ``COLOUR`` and ``GRAY``. A model's ``strengths`` are one list (the same curve
    for every kind) or a list per kind, all at its ``levels``."""
    data = read_packaged_json(STRENGTH_FILE)
    curves = {name: {COLOUR: _per_kind(name, row)} for name, row in data.get("curves", {}).items()}
    for name, row in data.get("gray_curves", {}).items():
        if name in curves:
            curves[name][GRAY] = _per_kind(name, row)
    return curves


def _per_kind(name: str, row: dict) -> dict[str, Curve]:
    """A model's curves by kind: a list per kind (those of FITTED_ONLY may be missing: that damage is left alone),
    or one list for every kind but those."""
    levels, strengths = tuple(map(float, row["levels"])), row["strengths"]
    required = [kind for kind in KINDS if kind not in FITTED_ONLY]
    per_kind = strengths if isinstance(strengths, dict) else dict.fromkeys(required, strengths)
    if not set(required) <= set(per_kind) <= set(KINDS):
        raise ModelError(f"{STRENGTH_FILE}: the curves of {name!r} are not one per kind of damage {KINDS}")
    return {kind: _curve(name, levels, values) for kind, values in per_kind.items()}


def _curve(name: str, levels: tuple[float, ...], values: list[float]) -> Curve:
    strengths = tuple(map(float, values))
    if len(levels) != len(strengths) or len(levels) < 2 or list(levels) != sorted(levels):
        raise ModelError(f"{STRENGTH_FILE}: the curve of {name!r} is malformed")
    return Curve(levels, strengths, "fitted")


def curve_for(model_name: str, conditioned: bool, kind: str, gray: bool = False) -> Curve | None:
    """The fitted curve of a shipped model for a kind of damage (KINDS) in a colour or a ``gray`` photo, else the
    default for its kind of model; None for a kind of FITTED_ONLY without a fitted curve. A gray photo follows its
    model's gray curve where one is fitted for the kind, else the colour one."""
    fitted = _fitted().get(model_name)
    if fitted is not None:
        if gray and kind in fitted.get(GRAY, {}):
            return fitted[GRAY][kind]
        return fitted[COLOUR].get(kind)
    return _default(conditioned, kind)


def _default(conditioned: bool, kind: str) -> Curve | None:
    if kind in FITTED_ONLY:
        return None
    return DEFAULT_CONDITIONED if conditioned else DEFAULT_PLAIN


def model_of(name: str) -> str:
    """The model a file or report row named for one of its builds belongs to: ``big`` for big.fp16.onnx, ``darn``
    for darn.int8."""
    return name.split(".", 1)[0]


def curve_key(model: OnnxModel) -> str | None:
    """The shipped model a file is (``big`` for big.onnx and for its builds such as big.fp16.onnx), whose fitted
    curve it follows; None for a user's own file."""
    path = Path(model.path).resolve()
    name = model_of(path.name)
    return name if path.parent == MODELS_DIR and name in SHIPPED else None


def model_curve(model: OnnxModel, kind: str, gray: bool = False) -> Curve | None:
    """The curve ``auto`` follows for an open model, a kind of damage and a colour or ``gray`` photo: its shipped
    model's, else the default for its kind of model; None where it has none for that kind (FITTED_ONLY)."""
    conditioned = model.condition is not None
    key = curve_key(model)
    if key is None:
        return _default(conditioned, kind)
    return curve_for(key, conditioned, kind, gray)


def check_curves(model: OnnxModel) -> None:
    """Read every curve ``auto`` may follow for ``model`` now, so that a broken strength.json ends a run before
    its first image (``ModelError``) instead of failing each image."""
    for kind in KINDS:
        for gray in (False, True):
            model_curve(model, kind, gray)


def decide(level: float, curve: Curve | None, override: float | None = None,
           shape: tuple[int, ...] | None = None, kind: str | None = None) -> Decision:
    """The strength for an image of damage ``level`` (and of ``shape``, height and width first, where known):
    ``override`` when given, else the curve's; unchanged where there is no ``curve`` for its ``kind`` of
    damage."""
    if override is not None:
        return Decision(override, False, None)
    if shape is not None and min(shape[:2]) < MIN_SIDE:
        return Decision(0.0, True, f"too small to restore safely ({shape[1]}x{shape[0]} px; auto restores images of "
                                   f"{MIN_SIDE} px and more across)")
    if curve is None:
        if level < MIN_LEVEL:
            return Decision(0.0, True, f"no damage worth restoring found (damage level {level:.2f})")
        name = _KIND_NAMES.get(kind or "", kind or "this")
        return Decision(0.0, True, f"this model has no strength fitted for {name} damage (level {level:.2f}); "
                                   f"--strength restores it anyway")
    strength = curve(level) if level >= MIN_LEVEL else 0.0
    if strength < MIN_STRENGTH:
        return Decision(0.0, True, f"no damage worth restoring found (damage level {level:.2f})")
    return Decision(round(strength, 3), False, None)


def decide_image(model: OnnxModel, damage: Damage, shape: tuple[int, ...], override: float | None = None) -> Decision:
    """:func:`decide_damage` for an image of ``shape`` (height, width, channels) and ``damage`` restored by an open
    ``model``: the curve it follows for that kind of damage, gray or colour, as every command decides."""
    return decide_damage(model_curve(model, damage.kind, gray=shape[2] == 1), damage, shape, override)


def decide_damage(curve: Curve | None, damage: Damage, shape: tuple[int, ...],
                  override: float | None = None) -> Decision:
    """:func:`decide` for an image of ``shape`` and ``damage`` under ``curve``; for text, line art and screenshots
    only part of the way (:func:`graphic_strength`)."""
    decision = decide(damage.level, curve, override, shape, damage.kind)
    if override is not None or decision.unchanged or not damage.graphic:
        return decision
    strength = graphic_strength(decision.strength, damage.level) if damage.kind == "jpeg" else 0.0
    if strength < MIN_STRENGTH:
        return Decision(0.0, True, f"text, line art, a chart or a screenshot, whose damage (level {damage.level:.2f}, "
                                   f"{_KIND_NAMES.get(damage.kind, damage.kind)}) the models would make worse; "
                                   "--strength restores it anyway")
    return Decision(round(strength, 3), False, None)


def graphic_strength(strength: float, level: float) -> float:
    """A curve's ``strength`` at damage ``level`` as text, line art and screenshots take it (GRAPHIC_LEVELS)."""
    low, high = GRAPHIC_LEVELS
    return min(strength, GRAPHIC_MAX_STRENGTH) * float(np.clip((level - low) / (high - low), 0.0, 1.0))


def resave_loses(damage: Damage, output_format: str, output_quality: int) -> str | None:
    """Why restoring a JPEG (or a lossy WebP) that is saved in its own format again, at ``output_quality``, would
    lose what it gains, or None when the restoration pays. Only the format's own damage counts: banding or
    pixelation under it still gains more than a re-save costs."""
    if output_format == "WEBP":
        return _webp_resave_loses(damage, output_quality)
    quality = damage.jpeg_quality
    if output_format != "JPEG" or quality is None or damage.kind != "jpeg":
        return None
    output_scale = max(ijg_scale_percent(output_quality), MIN_RESAVE_SCALE)
    if ijg_scale_percent(quality) > RESAVE_SLOPE * output_scale + RESAVE_MARGIN:
        return None
    return (f"a JPEG of quality {quality} saved again as a JPEG at quality {output_quality} would lose what restoring "
            f"gains (--format png keeps the restoration)")


def _webp_resave_loses(damage: Damage, output_quality: int) -> str | None:
    if damage.webp_index is None or damage.kind != "webp":
        return None
    if output_quality >= WEBP_RESAVE_MIN_QUALITY and damage.level >= WEBP_RESAVE_LEVEL:
        return None
    return (f"a WebP of quantiser index {damage.webp_index:.0f} saved again as a WebP at quality {output_quality} "
            f"would lose what restoring gains (--format png keeps the restoration)")


def parse_strength(text: str) -> float | None:
    """``auto`` -> None, else a number in [0, 1] (ValueError with a one-line reason otherwise)."""
    if text.strip().lower() == AUTO:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"strength must be 'auto' or a number in [0, 1], not {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"strength must be 'auto' or a number in [0, 1], not {text!r}")
    return value
