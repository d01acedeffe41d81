"""Fit each model's strength curve (``facerestore.damage.strength``) on the validation faces.

``python -m export fit-strength big=facerestore/models/big.onnx ... -o facerestore/models/strength.json``

For every validation face damaged every way of ``archive.FIT_DEGRADATIONS`` (JPEG files at 14 qualities and two
re-saved ones, banding, pixelation, the report's preset, clean photos), the runtime reads and analyses the file,
and the model restores it at each strength of ``GRID`` as ``enhance`` would (``restore.restore_image``, the
file's constraint included: a JPEG's intervals, a banded image's level bins). The curve is piecewise linear over
``KNOTS`` of the analysed damage level; its values are chosen by coordinate descent to maximise the mean PSNR over
all cases, under the promise the runtime makes: for no degradation may the mean PSNR fall below the input's, nor
more than ``MAX_WORSE_SHARE`` of its faces come out worse. Only validation faces are read: the test faces stay
for the model card.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facerestore.atomic import write_json
from facerestore.constraints import read_constraint
from facerestore.damage.strength import MIN_STRENGTH, curve_for
from facerestore.metrics import psnr
from facerestore.restore import restore_pixels
from facerestore.session import open_model

from .archive import FIT_DEGRADATIONS, Case, make_cases, to_uint8
from .data import EVAL_COUNT, split_faces

log = logging.getLogger(__name__)

# Strengths tried per case. The gain can peak sharply in the strength (darn at JPEG 10: +2.11 dB at 0.8, +2.25 at
# 0.9, +1.98 at 1.0 on the validation faces), and a case between grid points is read by linear interpolation.
GRID = tuple(round(0.05 * i, 2) for i in range(21))
KNOTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)  # damage levels the curve is set at
# The promise is at most 10 % of photos made worse; 20 validation faces measure a share only roughly, so the fit
# keeps a margin and allows 1 in 20.
MAX_WORSE_SHARE = 0.05
PSNR_CAP = 60.0  # dB: a clean photo returned unchanged scores this instead of infinity
_PENALTY = 100.0  # dB per broken promise: no trade of mean PSNR buys one


@dataclass
class Table:
    """PSNR (capped) of every case at every strength of GRID, and of its input."""

    cases: list[Case]
    psnr: np.ndarray  # (cases, len(GRID))
    input_psnr: np.ndarray  # (cases,)
    conditioned: bool = False  # the model is told the damage level (its default curve differs)


def _psnr(out: np.ndarray, hq: np.ndarray) -> float:
    return min(psnr(out, hq), PSNR_CAP)


def score_grid(model_path: Path, cases: list[Case], threads: int | None = None) -> Table:
    model = open_model(model_path, device="cpu", threads=threads)
    rows, inputs = [], []
    for case in cases:
        pixels = case.loaded.pixels
        inputs.append(_psnr(to_uint8(pixels), case.hq))
        # What restore_image returns at each strength, the file's constraint found once per case.
        constraint = read_constraint(case.loaded, case.damage)
        finish = constraint.enforce if constraint is not None else (lambda out: out)
        if model.condition is None:
            # Blends of one full run: the same arithmetic restore_pixels applies for a strength below 1.
            full = restore_pixels(model, pixels)
            outs = (np.clip(pixels + s * (full - pixels), 0, 1) for s in GRID)
        else:
            outs = (restore_pixels(model, pixels, strength=s) for s in GRID)
        rows.append([_psnr(to_uint8(finish(out)), case.hq) for out in outs])
    return Table(cases, np.array(rows), np.array(inputs), conditioned=model.condition is not None)


def _at(table: Table, strengths: np.ndarray) -> np.ndarray:
    """Each case's PSNR at its own strength: the input's below MIN_STRENGTH (left unchanged), else interpolated."""
    grid = np.array(GRID)
    idx = np.clip(np.searchsorted(grid, strengths, side="right") - 1, 0, len(grid) - 2)
    t = (strengths - grid[idx]) / (grid[idx + 1] - grid[idx])
    rows = np.arange(len(strengths))
    value = (1 - t) * table.psnr[rows, idx] + t * table.psnr[rows, idx + 1]
    return np.where(strengths < MIN_STRENGTH, table.input_psnr, value)


def _psnr_at(table: Table, levels: np.ndarray, knot_values: np.ndarray,
             knots: tuple[float, ...] = KNOTS) -> np.ndarray:
    return _at(table, np.interp(levels, knots, knot_values))


def _broken(table: Table, got: np.ndarray) -> list[str]:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, case in enumerate(table.cases):
        groups[case.degradation].append(i)
    broken = []
    for degradation, rows in groups.items():
        gain = got[rows] - table.input_psnr[rows]
        if gain.mean() < 0 or np.mean(gain < -1e-9) > MAX_WORSE_SHARE:
            broken.append(degradation)
    return broken


def broken_promises(table: Table, levels: np.ndarray, knot_values: np.ndarray) -> list[str]:
    """The damages a curve makes worse: losing PSNR on average, or on more than MAX_WORSE_SHARE of their faces."""
    return _broken(table, _psnr_at(table, levels, knot_values))


def mean_psnr(table: Table, levels: np.ndarray, knot_values: np.ndarray) -> float:
    return float(np.mean(_psnr_at(table, levels, knot_values)))


def objective(table: Table, levels: np.ndarray, knot_values: np.ndarray) -> float:
    """Mean PSNR over the cases, less a penalty for each damage whose promise is broken."""
    got = _psnr_at(table, levels, knot_values)  # once: the fit calls this for every trial curve
    return float(np.mean(got)) - _PENALTY * len(_broken(table, got))


def fit_curve(table: Table, sweeps: int = 4) -> tuple[list[float], float]:
    """Knot values (strengths at KNOTS) by coordinate descent over GRID, from full strength everywhere.

    The curve is kept non-decreasing (more damage never gets less restoration): setting one knot pulls the knots
    below it down to it, and those above it up to it."""
    levels = np.array([c.damage.level for c in table.cases])
    values = np.ones(len(KNOTS))
    best = objective(table, levels, values)
    for _ in range(sweeps):
        changed = False
        for k in range(len(KNOTS)):
            for s in GRID:
                trial = values.copy()
                trial[:k] = np.minimum(trial[:k], s)
                trial[k] = s
                trial[k + 1:] = np.maximum(trial[k + 1:], s)
                score = objective(table, levels, trial)
                if score > best + 1e-9:
                    best, values, changed = score, trial, True
        if not changed:
            break
    return [float(v) for v in values], best


def fit(data: Path, models: dict[str, Path], n_eval: int = EVAL_COUNT, threads: int | None = None) -> dict:
    split = split_faces(data, n_val=n_eval, n_test=n_eval)
    cases = make_cases(split.val, FIT_DEGRADATIONS)
    log.info("%d validation cases (%d faces x %d damages)", len(cases), len(split.val), len(FIT_DEGRADATIONS))
    curves = {}
    for name, path in models.items():
        table = score_grid(path, cases, threads)
        values, _ = fit_curve(table)
        levels = np.array([c.damage.level for c in cases])
        full = np.ones(len(KNOTS))
        score, unfitted = mean_psnr(table, levels, np.array(values)), mean_psnr(table, levels, full)
        # The curve this name follows now (shipped, else its kind's default), scored on the same table: what a
        # refit gains, measured like for like.
        now = curve_for(name, table.conditioned)
        current = float(np.mean(_psnr_at(table, levels, np.array(now.strengths), now.levels)))
        log.info("%s: strengths %s at levels %s; mean PSNR %.3f (its curve now: %.3f; full strength everywhere: "
                 "%.3f)", name, values, list(KNOTS), score, current, unfitted)
        curves[name] = {"levels": list(KNOTS), "strengths": values, "validation_mean_psnr": round(score, 4),
                        "validation_mean_psnr_current_curve": round(current, 4),
                        "validation_mean_psnr_full_strength": round(unfitted, 4),
                        "made_worse": broken_promises(table, levels, np.array(values)),
                        "made_worse_at_full_strength": broken_promises(table, levels, full)}
    return {"curves": curves,
            "fitted_on": (f"{len(split.val)} validation faces (export.data.split_faces, at most 256 px) damaged "
                          f"{len(FIT_DEGRADATIONS)} ways: {', '.join(FIT_DEGRADATIONS)}; read, analysed and restored "
                          "as enhance does (JPEG files within their quantisation intervals); PSNR capped at 60 dB; "
                          "no degradation may lose PSNR on average or on more than "
                          f"{MAX_WORSE_SHARE:.0%} of faces"),
            "grid": list(GRID), "min_strength": MIN_STRENGTH}


def write(result: dict, output: Path, merge: bool = True) -> None:
    """Write the curves; with ``merge``, keep the curves of models not refitted this time."""
    if merge and output.is_file():
        old = json.loads(output.read_text(encoding="utf-8"))
        result = {**result, "curves": {**old.get("curves", {}), **result["curves"]}}
    write_json(output, result)
