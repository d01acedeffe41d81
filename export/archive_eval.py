"""The archive table of the model card: gain per JPEG quality, banding, pixelation and clean photos, as users see it.

``python -m export archive-eval NAME=MODEL.onnx ... --json docs/archive_eval.json --markdown docs/archive_eval.md``

Each test face is damaged into a file (``export.archive``), read and analysed by the runtime, and restored by
each model twice: at full strength (what every version before the damage analysis did: the network alone) and
as ``enhance --strength auto`` restores it (the fitted curve, unchanged below ``MIN_STRENGTH``; a JPEG file's
quantisation constraint applied), output rounded to 8 bits as a PNG stores it. Beside them: the input, and the
best classical filter for that damage (each filter's parameter tuned on the validation faces for that very damage:
a generous baseline that knows what it is fixing).
Reported per damage: mean RGB PSNR, mean luminance (BT.601 Y) PSNR, and how many faces came out worse than
their input. A clean photo's "PSNR" is to itself: infinite when it comes back unchanged.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from facerestore.damage.strength import curve_for, decide_damage, model_of
from facerestore.metrics import luminance, psnr
from facerestore.restore import restore_image, restore_pixels
from facerestore.summary import as_float, json_number
from facerestore.session import open_model

from .archive import ARCHIVE_DEGRADATIONS, Case, make_cases, to_uint8
from .data import EVAL_COUNT, EvalPair, split_faces
from .evaluate import FILTER_LABELS, FILTERS, SCORED_ON, tune

log = logging.getLogger(__name__)


def _scores(out: np.ndarray, hq: np.ndarray, lq: np.ndarray) -> dict[str, float]:
    y = lambda a: np.rint(luminance(a.astype(np.float32) / 255.0) * 255.0)  # noqa: E731
    return {"psnr": psnr(out, hq), "luma_psnr": psnr(y(out), y(hq), data_range=255.0),
            "changed": float(not np.array_equal(out, lq))}


def _pairs(cases: list[Case]) -> list[EvalPair]:
    return [EvalPair(c.face, c.degradation, to_uint8(c.loaded.pixels), c.hq) for c in cases]


def evaluate(data: Path, models: dict[str, Path], n_eval: int = EVAL_COUNT,
             degradations: tuple[str, ...] = ARCHIVE_DEGRADATIONS, threads: int | None = None,
             filters: bool = True, scored_on: str = "test") -> dict:
    """The table for ``models`` beside the input; ``filters=False`` leaves out the classical filters (their
    tuning is most of the cost) when the rows are to be added to an earlier report (:func:`merge`).

    ``scored_on="validation"`` scores the validation faces instead, for selection rules; the filters are then
    scored on the faces they were tuned on.
    """
    if scored_on not in SCORED_ON:
        raise ValueError(f"scored_on must be one of {SCORED_ON}, not {scored_on!r}")
    split = split_faces(Path(data), n_val=n_eval, n_test=n_eval)
    val_cases = make_cases(split.val, degradations) if filters or scored_on == "validation" else []
    val = _pairs(val_cases) if filters else []
    test = val_cases if scored_on == "validation" else make_cases(split.test, degradations)

    best_filter: dict[str, tuple[str, object]] = {}
    for deg in degradations:
        if deg == "clean" or not filters:
            continue  # nothing to tune for: the best filter of a clean photo is none
        pairs = [p for p in val if p.degradation == deg]
        tuned = [(filt, *tune(filt, pairs)) for filt in FILTERS]
        filt, param, score = max(tuned, key=lambda t: t[2])
        best_filter[deg] = (filt.name, param)
        log.info("best filter on validation %s: %s %s (%.2f dB)", deg, filt.name, param, score)

    runners = {name: open_model(path, device="cpu", threads=threads) for name, path in models.items()}
    rows: dict[str, dict[str, list[dict[str, float]]]] = {deg: {} for deg in degradations}
    for case in test:
        lq = to_uint8(case.loaded.pixels)
        row = rows[case.degradation]
        row.setdefault("input", []).append(_scores(lq, case.hq, lq))
        if case.degradation in best_filter:
            name, param = best_filter[case.degradation]
            filt = next(f for f in FILTERS if f.name == name)
            row.setdefault("best filter", []).append(_scores(filt.run(lq, param), case.hq, lq))
        for name, model in runners.items():
            conditioned = model.condition is not None
            if not conditioned:  # the report's models as they ran before `auto`: the network alone, full strength
                full = to_uint8(restore_pixels(model, case.loaded.pixels))
                row.setdefault(f"{name} (full)", []).append(_scores(full, case.hq, lq))
            # A row named for a build (darn.int8, as its file is named) follows its model's curve, as enhance does.
            curve = curve_for(model_of(name), conditioned, case.damage.kind, gray=case.loaded.pixels.shape[2] == 1)
            decision = decide_damage(curve, case.damage, case.loaded.pixels.shape)
            out = lq if decision.unchanged else to_uint8(restore_image(model, case.loaded, case.damage,
                                                                        strength=decision.strength))
            row.setdefault(f"{name} (auto)", []).append(_scores(out, case.hq, lq))
        log.info("%s %s done", case.face, case.degradation)

    results = {}
    for deg, methods in rows.items():
        base = [r["psnr"] for r in methods["input"]]
        results[deg] = {}
        for method, scores in methods.items():
            p = [s["psnr"] for s in scores]
            finite = [v for v in p if math.isfinite(v)]
            results[deg][method] = {
                "psnr": float(np.mean(finite)) if len(finite) == len(p) else math.inf,
                "luma_psnr": float(np.mean([s["luma_psnr"] for s in scores])) if len(finite) == len(p) else math.inf,
                "worse": int(sum(a < b - 1e-9 for a, b in zip(p, base))),
                "changed": int(sum(s["changed"] for s in scores)),
                "faces": len(scores),
                "per_face_psnr": p,
            }
    return {"protocol": {"scored_on": scored_on, "test_images": len(split.test), "validation_images": len(split.val),
                         "degradations": list(degradations), "models": {k: str(v) for k, v in models.items()},
                         "best_filter": {d: [n, list(p) if isinstance(p, tuple) else p]
                                         for d, (n, p) in best_filter.items()}},
            "results": results}


def merge(earlier: dict, later: dict) -> dict:
    """``earlier`` with ``later``'s model rows added (or replacing rows of the same name).

    Both must have scored the same faces the same ways: the inputs are compared face by face, so a report made
    on other data or another split is refused rather than silently mixed.
    """
    earlier = _from_json(earlier)
    if earlier["protocol"]["degradations"] != later["protocol"]["degradations"]:
        raise ValueError("the reports scored different damages")
    if earlier["protocol"].get("scored_on", "test") != later["protocol"]["scored_on"]:
        raise ValueError("the reports scored different faces (test vs validation)")
    results = {}
    for deg, rows in earlier["results"].items():
        if rows["input"]["per_face_psnr"] != later["results"][deg]["input"]["per_face_psnr"]:
            raise ValueError(f"the reports' {deg} inputs differ: not the same faces")
        results[deg] = {**rows, **{m: r for m, r in later["results"][deg].items() if m != "input"}}
    protocol = {**earlier["protocol"], "models": {**earlier["protocol"]["models"], **later["protocol"]["models"]}}
    return {"protocol": protocol, "results": results}


def _cell(value: float) -> str:
    return "∞" if math.isinf(value) else f"{value:.2f}"


def markdown_table(report: dict) -> str:
    """One row per damage: each method's mean RGB PSNR (gain over the input) and faces made worse."""
    results = report["results"]
    methods = list(next(iter(results.values())))
    methods = methods + [m for d in results.values() for m in d if m not in methods]
    methods = list(dict.fromkeys(methods))
    head = "| damage | " + " | ".join(methods) + " |"
    lines = [head, "|---|" + "---:|" * len(methods)]
    for deg, row in results.items():
        base = row["input"]["psnr"]
        cells = []
        for m in methods:
            r = row.get(m)
            if r is None:
                cells.append("")
            elif m == "input" or math.isinf(r["psnr"]) or math.isinf(base):
                cells.append(_cell(r["psnr"]) + (f" ({r['changed']}/{r['faces']} changed)" if deg == "clean" else ""))
            else:
                cells.append(f"{r['psnr']:.2f} ({r['psnr'] - base:+.2f}; {r['worse']}/{r['faces']} worse)")
        lines.append(f"| {deg} | " + " | ".join(cells) + " |")
    labels = ", ".join(f"{d}: {FILTER_LABELS[n]} {p}" for d, (n, p) in report["protocol"]["best_filter"].items())
    proto = report["protocol"]
    faces = proto["validation_images"] if proto.get("scored_on") == "validation" else proto["test_images"]
    return ("\n".join(lines) + f"\n\nScored on {faces} {proto.get('scored_on', 'test')} faces. "
            f"Best classical filter per damage (tuned on validation): {labels}.\n")


def luma_table(report: dict, degradations: tuple[str, ...] = ("jpeg10", "jpeg20")) -> str:
    results = report["results"]
    degradations = tuple(d for d in degradations if d in results)
    if not degradations:
        return ""
    methods = list(results[degradations[0]])
    lines = ["| damage | " + " | ".join(methods) + " |", "|---|" + "---:|" * len(methods)]
    for deg in degradations:
        base = results[deg]["input"]["luma_psnr"]
        lines.append(f"| {deg} | " + " | ".join(
            f"{results[deg][m]['luma_psnr']:.2f} ({results[deg][m]['luma_psnr'] - base:+.2f})" for m in methods) + " |")
    return "\n".join(lines) + "\n"


def _from_json(value):
    """A report read back from its JSON: the ``"inf"`` strings :func:`_json_safe` wrote are numbers again."""
    if isinstance(value, dict):
        return {k: _from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return as_float(value) if value in ("inf", "-inf") else value


def _json_safe(value):
    """The report with its infinities (a clean photo returned unchanged) written the way summaries write them."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return json_number(value) if isinstance(value, float) else value


def write_report(report: dict, json_path: Path | None, markdown_path: Path | None) -> str:
    from facerestore.atomic import write_atomic, write_json

    text = markdown_table(report) + "\nLuminance PSNR (BT.601 Y):\n\n" + luma_table(report)
    if json_path:
        write_json(json_path, _json_safe(report))
    if markdown_path:
        write_atomic(markdown_path, text)
    return text
