"""Fit each model's strength curve (``facerestore.damage.strength``) on the validation faces.

``python -m export fit-strength big=facerestore/models/big.onnx ... -o facerestore/models/strength.json``

For every validation face damaged every way of ``archive.FIT_DEGRADATIONS`` (JPEG files at 14 qualities and two
re-saved ones, banding, pixelation, the report's preset, clean photos), the runtime reads and analyses the file,
and the model restores it at each strength of ``GRID`` as ``enhance`` would (``restore.restore_image``, the
file's constraint included: a JPEG's intervals, a banded image's level bins). A curve is piecewise linear over
``KNOTS`` of the analysed damage level; its values are chosen by coordinate descent to maximise the mean PSNR over
all cases, under the promise the runtime makes: for no degradation (at any size the faces were made at) may the
mean PSNR fall below the input's, nor more than ``MAX_WORSE_SHARE`` of its faces come out worse. One curve is
fitted for every kind of damage, then one per kind (``Damage.kind``: JPEG, banding, pixelation) from it; the
curves per kind are kept only where they also win when fitted on half of the faces and scored on the other half,
both ways (``cross_validate``), since three curves from 20 faces could fit the faces rather than the damage. Only
validation faces are read: the test faces stay for the model card.

``--webp`` fits one more curve per model, for lossy WebP files (``WEBP_DEGRADATIONS``), alone and under the same
promise, into the model's curves already in the output file: the models were trained on JPEG only, so the curve is
kept only where it beats leaving WebP photos unchanged on faces it was not fitted on; without it a model leaves them
alone (``facerestore.damage.strength.FITTED_ONLY``).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from facerestore.atomic import write_json
from facerestore.constraints import read_constraint
from facerestore.damage.analysis import KINDS
from facerestore.damage.strength import FITTED_ONLY, MIN_STRENGTH, curve_for
from facerestore.metrics import psnr
from facerestore.restore import restore_pixels
from facerestore.session import OnnxModel, open_model

from .archive import FIT_DEGRADATIONS, Case, make_cases, to_uint8
from .data import EVAL_COUNT, EVAL_SIDE, split_faces
from .saved_scores import SavedScores, case_key, runtime_digest

log = logging.getLogger(__name__)

# Strengths tried per case. The gain can peak sharply in the strength (darn at JPEG 10: +2.11 dB at 0.8, +2.25 at
# 0.9, +1.98 at 1.0 on the validation faces), and a case between grid points is read by linear interpolation.
GRID = tuple(round(0.05 * i, 2) for i in range(21))
KNOTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)  # damage levels the curve is set at
# The promise is at most 10 % of photos made worse; 20 validation faces measure a share only roughly, so the fit
# keeps a margin and allows 1 in 20.
MAX_WORSE_SHARE = 0.05
# Lossy WebP files of the validation faces for the WebP curve (libwebp qualities).
WEBP_DEGRADATIONS = ("webp5", "webp10", "webp20", "webp30", "webp40", "webp50", "webp60", "webp70", "webp75",
                     "webp80", "webp85", "webp90", "webp95")
PSNR_CAP = 60.0  # dB: a clean photo returned unchanged scores this instead of infinity
_PENALTY = 100.0  # dB per broken promise: no trade of mean PSNR buys one


@dataclass
class Table:
    """PSNR (capped) of every case at every strength of GRID, and of its input."""

    cases: list[Case]
    psnr: np.ndarray  # (cases, len(GRID))
    input_psnr: np.ndarray  # (cases,)
    conditioned: bool = False  # the model is told the damage level (its default curve differs)
    levels: np.ndarray = field(init=False)  # each case's analysed damage level
    kinds: np.ndarray = field(init=False)  # each case's kind of damage, as an index into KINDS

    def __post_init__(self) -> None:
        self.levels = np.array([c.damage.level for c in self.cases], dtype=float)
        self.kinds = np.array([KINDS.index(c.damage.kind) for c in self.cases], dtype=int)

    def subset(self, rows: np.ndarray) -> Table:
        return Table([self.cases[i] for i in rows], self.psnr[rows], self.input_psnr[rows], self.conditioned)


def _psnr(out: np.ndarray, hq: np.ndarray) -> float:
    return min(psnr(out, hq), PSNR_CAP)


def score_grid(model_path: Path, cases: list[Case], threads: int | None = None,
               saved: Path | None = None) -> Table:
    """Every case's PSNR at every strength of GRID; with ``saved`` (a file), each case's row is kept there as it is
    made and rows already there are reused (``saved_scores``), so a stopped fit resumes."""
    model = open_model(model_path, device="cpu", threads=threads)
    store = SavedScores(saved, model_path, GRID, RUNTIME) if saved is not None else None
    rows, inputs = [], []
    for case in cases:
        key = case_key(case.face, case.degradation, case.side, case.hq, case.loaded.pixels) if store else ""
        row = store.get(key) if store else None
        if row is None:
            row = _score_case(model, case)
            if store:
                store.add(key, *row)
        inputs.append(row[0])
        rows.append(row[1])
    return Table(cases, np.array(rows), np.array(inputs), conditioned=model.condition is not None)


def _score_case(model: OnnxModel, case: Case) -> tuple[float, list[float]]:
    """The input's PSNR, and what restore_image returns at each strength of GRID (the file's constraint found
    once)."""
    pixels = case.loaded.pixels
    constraint = read_constraint(case.loaded, case.damage)
    finish = constraint.enforce if constraint is not None else (lambda out: out)
    if model.condition is None:
        # Blends of one full run: the same arithmetic restore_pixels applies for a strength below 1.
        full = restore_pixels(model, pixels)
        outs = (np.clip(pixels + s * (full - pixels), 0, 1) for s in GRID)
    else:
        outs = (restore_pixels(model, pixels, strength=s) for s in GRID)
    return _psnr(to_uint8(pixels), case.hq), [_psnr(to_uint8(finish(out)), case.hq) for out in outs]


def _at(table: Table, strengths: np.ndarray) -> np.ndarray:
    """Each case's PSNR at its own strength: the input's below MIN_STRENGTH (left unchanged), else interpolated."""
    grid = np.array(GRID)
    idx = np.clip(np.searchsorted(grid, strengths, side="right") - 1, 0, len(grid) - 2)
    t = (strengths - grid[idx]) / (grid[idx + 1] - grid[idx])
    rows = np.arange(len(strengths))
    value = (1 - t) * table.psnr[rows, idx] + t * table.psnr[rows, idx + 1]
    return np.where(strengths < MIN_STRENGTH, table.input_psnr, value)


def strengths_of(table: Table, knot_values: np.ndarray, knots: tuple[float, ...] = KNOTS) -> np.ndarray:
    """Each case's strength from its kind's curve: ``knot_values`` is one row per kind (KINDS), or one row for
    every kind."""
    per_kind = np.broadcast_to(knot_values, (len(KINDS), len(knots)))
    out = np.empty(len(table.cases))
    for k, row in enumerate(per_kind):
        mask = table.kinds == k
        out[mask] = np.interp(table.levels[mask], knots, row)
    return out


def _psnr_at(table: Table, knot_values: np.ndarray) -> np.ndarray:
    return _at(table, strengths_of(table, knot_values))


def _broken(table: Table, got: np.ndarray) -> list[str]:
    """The damages (each at each size the faces were made at, where there are several) ``got`` makes worse."""
    sides = {case.side for case in table.cases}
    groups: dict[str, list[int]] = defaultdict(list)
    for i, case in enumerate(table.cases):
        # A curve that holds the promise on average over sizes can still break it on the photos of one size.
        groups[case.degradation if len(sides) == 1 else f"{case.degradation} at {case.side} px"].append(i)
    broken = []
    for degradation, rows in groups.items():
        gain = got[rows] - table.input_psnr[rows]
        if gain.mean() < 0 or np.mean(gain < -1e-9) > MAX_WORSE_SHARE:
            broken.append(degradation)
    return broken


def broken_promises(table: Table, knot_values: np.ndarray) -> list[str]:
    """The damages curves make worse: losing PSNR on average, or on more than MAX_WORSE_SHARE of their faces."""
    return _broken(table, _psnr_at(table, knot_values))


def mean_psnr(table: Table, knot_values: np.ndarray) -> float:
    return float(np.mean(_psnr_at(table, knot_values)))


def objective(table: Table, knot_values: np.ndarray) -> float:
    """Mean PSNR over the cases, less a penalty for each damage whose promise is broken."""
    got = _psnr_at(table, knot_values)  # once: the fit calls this for every trial curve
    return float(np.mean(got)) - _PENALTY * len(_broken(table, got))


def _sweep(score: Callable[[np.ndarray], float], values: np.ndarray, best: float,
           tune: Iterable[int]) -> tuple[np.ndarray, float, bool]:
    """One pass of coordinate descent over the knots ``tune`` of one curve, each tried at every strength of GRID.

    The curve is kept non-decreasing (more damage never gets less restoration): setting one knot pulls the knots
    below it down to it, and those above it up to it."""
    changed = False
    for k in tune:
        for s in GRID:
            trial = values.copy()
            trial[:k] = np.minimum(trial[:k], s)
            trial[k] = s
            trial[k + 1:] = np.maximum(trial[k + 1:], s)
            value = score(trial)
            if value > best + 1e-9:
                best, values, changed = value, trial, True
    return values, best, changed


def fit_curve(table: Table, sweeps: int = 4) -> tuple[list[float], float]:
    """One curve for every kind of damage: knot values (strengths at KNOTS) from full strength everywhere."""
    values = np.ones(len(KNOTS))
    best = objective(table, values)
    for _ in range(sweeps):
        values, best, changed = _sweep(lambda v: objective(table, v), values, best, range(len(KNOTS)))
        if not changed:
            break
    return [float(v) for v in values], best


def fit_curves(table: Table, sweeps: int = 4,
               one: list[float] | None = None) -> tuple[dict[str, list[float]], float]:
    """A curve per kind of damage (KINDS), each set in turn from the one-curve fit (``one``, fitted here if not
    given).

    A kind's curve moves only at the knots its cases inform (a case's level lies between the knot's neighbours),
    never at level 0, where the clean photos set the one curve: a kind with no case keeps the one curve, and
    pixelation, which reads 0.56 at its faintest, keeps it below that."""
    if one is None:
        one, _ = fit_curve(table, sweeps)
    values = np.tile(one, (len(KINDS), 1))
    best = objective(table, values)
    for _ in range(sweeps):
        changed = False
        for k in range(len(KINDS)):
            levels = table.levels[table.kinds == k]
            informed = [i for i in range(1, len(KNOTS))
                        if np.any((levels > KNOTS[i - 1]) & (levels < KNOTS[min(i + 1, len(KNOTS) - 1)] + 1e-9))]

            def score(row: np.ndarray, k: int = k) -> float:
                trial = values.copy()
                trial[k] = row
                return objective(table, trial)

            values[k], best, moved = _sweep(score, values[k], best, informed)
            changed |= moved
        if not changed:
            break
    seen = set(table.kinds.tolist())
    return {kind: [float(v) for v in row] for k, (kind, row) in enumerate(zip(KINDS, values))
            if kind not in FITTED_ONLY or k in seen}, best


def _folds(table: Table, folds: int = 2) -> Iterator[tuple[Table, Table, np.ndarray]]:
    """(cases to fit, cases to score, their rows) per fold: faces dealt to folds in name order, every case of a
    face in one fold."""
    faces = sorted({c.face for c in table.cases})
    fold_of = {face: i % folds for i, face in enumerate(faces)}
    of_case = np.array([fold_of[c.face] for c in table.cases])
    for fold in range(folds):
        test = np.flatnonzero(of_case == fold)
        yield table.subset(np.flatnonzero(of_case != fold)), table.subset(test), test


def cross_validate(table: Table, folds: int = 2) -> dict[str, float]:
    """Mean PSNR of the one curve and of the curves per kind, each fitted on the other folds' faces and scored on
    a fold's (:func:`_folds`)."""
    held_out = {"one_curve": np.empty(len(table.cases)), "per_kind": np.empty(len(table.cases))}
    for fitted, test_table, test in _folds(table, folds):
        one, _ = fit_curve(fitted)
        per_kind, _ = fit_curves(fitted, one=one)
        held_out["one_curve"][test] = _psnr_at(test_table, np.array(one))
        held_out["per_kind"][test] = _psnr_at(test_table, _rows(per_kind, one))
    return {name: round(float(np.mean(got)), 4) for name, got in held_out.items()}


def fit_model(name: str, table: Table, gray: bool = False) -> dict:
    """A model's curves on its table: one for every kind of damage, then one per kind from it, kept only where
    they generalise to faces they were not fitted on; scored beside what its ``gray`` or colour photos follow now
    (its shipped curves, else its kind's default), measured like for like."""
    one, one_score = fit_curve(table)
    per_kind, _ = fit_curves(table, one=one)
    held_out = cross_validate(table)
    by_kind = held_out["per_kind"] > held_out["one_curve"]
    chosen = _rows(per_kind, one) if by_kind else np.array(one)
    full = np.ones(len(KNOTS))
    score, unfitted = mean_psnr(table, chosen), mean_psnr(table, full)
    now = _at(table, np.array([_strength_now(name, table.conditioned, c, gray) for c in table.cases]))
    current = float(np.mean(now))
    log.info("%s%s: strengths %s at levels %s; mean PSNR %.4f (one curve for every kind: %.4f; its curves now: "
             "%.4f; full strength everywhere: %.4f); held out: %s", name, " (gray)" if gray else "",
             per_kind if by_kind else one, list(KNOTS), score, one_score, current, unfitted, held_out)
    row = {"levels": list(KNOTS), "strengths": per_kind if by_kind else one,
           "validation_mean_psnr": round(score, 4),
           "validation_mean_psnr_one_curve": round(one_score, 4),
           "validation_mean_psnr_held_out": held_out,
           "validation_mean_psnr_current_curve": round(current, 4),
           "validation_mean_psnr_full_strength": round(unfitted, 4),
           "made_worse": broken_promises(table, chosen),
           "made_worse_by_current_curve": _broken(table, now),
           "made_worse_at_full_strength": broken_promises(table, full)}
    sides = sorted({case.side for case in table.cases})
    if len(sides) > 1:  # what the curves cost or gain the photos of each size (made_worse names the size already)
        got = _psnr_at(table, chosen)
        of_side = np.array([case.side for case in table.cases])
        row["by_size"] = {str(side): {"validation_mean_psnr": round(float(got[of_side == side].mean()), 4),
                                      "validation_mean_psnr_current_curve":
                                          round(float(now[of_side == side].mean()), 4)} for side in sides}
    return row


def _rows(per_kind: dict[str, list[float]], one: list[float]) -> np.ndarray:
    """Knot values per kind (KINDS) of curves per kind, a kind without one (of FITTED_ONLY) following ``one``."""
    return np.array([per_kind.get(kind, one) for kind in KINDS])


def _strength_now(name: str, conditioned: bool, case: Case, gray: bool) -> float:
    """The strength the shipped curves give a case now: 0 where there is none for its kind (left unchanged)."""
    curve = curve_for(name, conditioned, case.damage.kind, gray=gray)
    return curve(case.damage.level) if curve is not None else 0.0


def fit_webp_model(name: str, table: Table) -> tuple[list[float] | None, dict]:
    """A model's WebP curve on a table of WebP cases, None where it does not beat leaving them unchanged held out
    (each half of the faces scored with the curve fitted on the other half) or breaks the promise; and the
    fit's scores."""
    row, score = fit_curve(table)
    row[0] = 0.0  # the clean end stays unchanged, as in every curve; no WebP case lies below the first knot
    held_out = np.empty(len(table.cases))
    for fitted, test_table, test in _folds(table):
        fold_row, _ = fit_curve(fitted)
        held_out[test] = _psnr_at(test_table, np.array(fold_row))
    unchanged = float(np.mean(table.input_psnr))
    broken = broken_promises(table, np.array(row))
    keep = float(np.mean(held_out)) > unchanged and not broken
    log.info("%s (webp): strengths %s at levels %s; mean PSNR %.4f, held out %.4f, unchanged %.4f; %s", name, row,
             list(KNOTS), mean_psnr(table, np.array(row)), float(np.mean(held_out)), unchanged,
             "kept" if keep else "not kept: WebP photos are left unchanged")
    return (row if keep else None), {
        "fitted_strengths": row, "validation_mean_psnr": round(mean_psnr(table, np.array(row)), 4),
        "validation_mean_psnr_held_out": round(float(np.mean(held_out)), 4),
        "validation_mean_psnr_unchanged": round(unchanged, 4), "made_worse": broken}


def check_webp_base(models: dict[str, Path], base: dict) -> None:
    """ValueError for a model ``base`` has no curves for, or has them at other levels than KNOTS: the WebP curve
    is added to its model's and shares their levels."""
    missing = [name for name in models if name not in base.get("curves", {})]
    if missing:
        raise ValueError(f"no curves to add a WebP curve to for {', '.join(missing)}: fit them first")
    for name in models:
        levels = [float(level) for level in base["curves"][name].get("levels", ())]
        if levels != list(KNOTS):
            raise ValueError(f"{name}: its curves are set at other levels than the WebP curve's knots "
                             f"({levels} against {list(KNOTS)}): refit them first")


def fit_webp(data: Path, models: dict[str, Path], base: dict, n_eval: int = EVAL_COUNT,
             threads: int | None = None, saved: Path | None = None) -> dict:
    """Each model's curves in ``base`` (a strength file's contents) with its WebP curve fitted on the validation
    faces saved as lossy WebP, or without one where it does not pay; ValueError, before fitting, where
    :func:`check_webp_base` refuses ``base``."""
    check_webp_base(models, base)
    split = split_faces(data, n_val=n_eval, n_test=n_eval)
    cases = make_cases(split.val, WEBP_DEGRADATIONS)
    log.info("%d WebP validation cases (%d faces x %d qualities)", len(cases), len(split.val),
             len(WEBP_DEGRADATIONS))
    curves = {}
    for name, path in models.items():
        webp_row, scores = fit_webp_model(name, score_grid(path, cases, threads, _saved(saved, name, "webp")))
        row = dict(base["curves"][name])
        strengths = row["strengths"]
        strengths = dict(strengths) if isinstance(strengths, dict) else \
            {kind: list(strengths) for kind in KINDS if kind not in FITTED_ONLY}
        strengths.pop("webp", None)
        if webp_row is not None:
            strengths["webp"] = webp_row
        row["strengths"], row["webp"] = strengths, scores
        curves[name] = row
    return {"curves": curves, "webp_fitted_on": (
        f"the {len(split.val)} validation faces (at most {EVAL_SIDE} px) saved as lossy WebP at libwebp qualities "
        f"{', '.join(d[4:] for d in WEBP_DEGRADATIONS)}; kept where it beats leaving them unchanged held out")}


def _saved(folder: Path | None, name: str, curves: str) -> Path | None:
    """Where a model's scores for one set of curves are kept in ``--scores`` ``folder``."""
    return folder / f"{name}-{curves}.jsonl" if folder is not None else None


def fit_cases(data: Path, n_eval: int = EVAL_COUNT, sides: tuple[int, ...] = (EVAL_SIDE,),
              gray: bool = False, upscale: bool = False) -> list[Case]:
    """The validation faces damaged every way of FIT_DEGRADATIONS, at each of ``sides`` (at most that many px a
    side, or with ``upscale`` exactly: smaller faces upscaled, as soft photos; ``gray``: in grayscale, as grayscale
    files): a face keeps its name at every size, so the folds of ``cross_validate`` hold all its sizes."""
    split = split_faces(data, n_val=n_eval, n_test=n_eval)
    cases = [case for side in sides
             for case in make_cases(split.val, FIT_DEGRADATIONS, max_side=side, gray=gray, upscale=upscale)]
    log.info("%d %svalidation cases (%d faces x %d damages x %d sizes)", len(cases), "grayscale " if gray else "",
             len(split.val), len(FIT_DEGRADATIONS), len(sides))
    return cases


def _sized(rows: dict[str, dict], sides: tuple[int, ...], upscale: bool) -> dict[str, dict]:
    """Each model's curves with the sizes its faces were brought to: models refitted at other times keep theirs."""
    sizes = f"{'exactly' if upscale else 'at most'} {' and '.join(map(str, sides))} px" + \
        (", smaller faces upscaled (LANCZOS)" if upscale else "")
    return {name: {**row, "sizes": sizes} for name, row in rows.items()}


def fit(data: Path, models: dict[str, Path], n_eval: int = EVAL_COUNT, threads: int | None = None,
        sides: tuple[int, ...] = (EVAL_SIDE,), upscale: bool = False, saved: Path | None = None) -> dict:
    cases = fit_cases(data, n_eval, sides, upscale=upscale)
    faces = len({c.face for c in cases})
    curves = {name: fit_model(name, score_grid(path, cases, threads, _saved(saved, name, "colour")))
              for name, path in models.items()}
    return {"curves": _sized(curves, sides, upscale),
            "fitted_on": (f"{faces} validation faces (export.data.split_faces, at each model's sizes) damaged "
                          f"{len(FIT_DEGRADATIONS)} ways: {', '.join(FIT_DEGRADATIONS)}; read, analysed and restored "
                          "as enhance does (JPEG files within their quantisation intervals); PSNR capped at 60 dB; "
                          "no degradation may lose PSNR on average or on more than "
                          f"{MAX_WORSE_SHARE:.0%} of faces (at each size)"),
            "grid": list(GRID), "min_strength": MIN_STRENGTH}


def fit_gray(data: Path, models: dict[str, Path], n_eval: int = EVAL_COUNT, threads: int | None = None,
             sides: tuple[int, ...] = (EVAL_SIDE,), upscale: bool = False, saved: Path | None = None) -> dict:
    """Curves for grayscale photos, fitted as :func:`fit` fits the colour ones, on the validation faces in
    grayscale kept as grayscale files: the colour curves over-smooth them at light damage (a gray file has no
    chroma to clean up, and a gray PNG no quantisation intervals to hold the restoration in)."""
    cases = fit_cases(data, n_eval, sides, gray=True, upscale=upscale)
    faces = len({c.face for c in cases})
    curves = {name: fit_model(name, score_grid(path, cases, threads, _saved(saved, name, "gray")), gray=True)
              for name, path in models.items()}
    return {"gray_curves": _sized(curves, sides, upscale),
            "gray_fitted_on": (f"the {faces} validation faces in grayscale (ITU-R 601 luma), at each model's sizes, "
                               f"kept as grayscale files, damaged the {len(FIT_DEGRADATIONS)} ways of fitted_on")}


def merge_base(output: Path) -> dict:
    """What a fit written to ``output`` merges into: the curves file there, {} where there is none; ValueError
    (naming it) where it is not one, which the command reports before fitting."""
    if not output.is_file():
        return {}
    try:
        data = json.loads(output.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{output} is not a strength file to merge into: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k, {}), dict) for k in ("curves", "gray_curves")):
        raise ValueError(f"{output} is not a strength file to merge into")
    return data


def write(result: dict, output: Path, merge: bool = True) -> None:
    """Write the curves; with ``merge``, keep what is not refitted this time (other models' curves, gray curves
    or colour ones)."""
    old = merge_base(output) if merge else {}
    if old:
        merged = {**old, **result}
        for key in ("curves", "gray_curves"):
            if key in old or key in result:
                merged[key] = {**old.get(key, {}), **{name: _keep_fitted_only(row, old.get(key, {}).get(name))
                                                       for name, row in result.get(key, {}).items()}}
        result = merged
    write_json(output, result)


def _keep_fitted_only(row: dict, old: dict | None) -> dict:
    """A refitted model's curves, with the curves of FITTED_ONLY kinds it had (fitted on their own cases, as
    ``--webp`` does) carried over where the refit has none."""
    if not old or not isinstance(old.get("strengths"), dict):
        return row
    carried = {kind: old["strengths"][kind] for kind in FITTED_ONLY
               if kind in old["strengths"] and not (isinstance(row["strengths"], dict) and kind in row["strengths"])}
    if not carried or list(old["levels"]) != list(row["levels"]):
        return row
    strengths = row["strengths"] if isinstance(row["strengths"], dict) else \
        {kind: list(row["strengths"]) for kind in KINDS if kind not in FITTED_ONLY}
    kept = {**row, "strengths": {**strengths, **carried}}
    for kind in carried:
        if kind in old:
            kept[kind] = old[kind]  # its fit's scores
    return kept


# The source this process scores with, read as its modules are imported (every one the scoring path uses is by
# now): a commit during a fit changes the files, not the code already loaded.
RUNTIME = runtime_digest()
