"""big's colour strength curves refitted on the validation faces at 256 and 512 px (rule: runs/README.txt).

    PYTHONPATH=. python runs/strength-sizes/fit.py > runs/strength-sizes/fit.log

Writes result.json here: the refit (as fit-strength writes a model's entry) and the rule's sub-scores per size,
beside big's shipped curves, on the same cases.
"""
import json
import logging
from pathlib import Path

import numpy as np

from export.fit_strength import (_at, _broken, _strength_now, fit_cases, fit_model, score_grid, strengths_of)
from facerestore.atomic import write_json

logging.basicConfig(level=logging.INFO)
ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent
cases = fit_cases(ROOT.parent / "shared" / "data" / "faces", sides=(256, 512))
table = score_grid(ROOT / "facerestore" / "models" / "big.onnx", cases, threads=2)
np.savez_compressed(HERE / "table.npz", psnr=table.psnr, input_psnr=table.input_psnr)
row = fit_model("big", table)
strengths = row["strengths"]
knots = np.array([strengths[k] for k in ("jpeg", "banding", "pixelation", "webp")] if isinstance(strengths, dict)
                 and "webp" in strengths else
                 [strengths[k] for k in ("jpeg", "banding", "pixelation")] + [strengths["jpeg"]]
                 if isinstance(strengths, dict) else strengths)
new = _at(table, strengths_of(table, knots))
now = _at(table, np.array([_strength_now("big", False, c, False) for c in table.cases]))
by_size = {}
for side in (256, 512):
    rows = np.array([i for i, c in enumerate(table.cases) if max(c.hq.shape[:2]) == side])
    sub = table.subset(rows)
    by_size[side] = {"cases": len(rows), "mean_new": round(float(new[rows].mean()), 4),
                     "mean_now": round(float(now[rows].mean()), 4),
                     "made_worse_new": _broken(sub, new[rows]), "made_worse_now": _broken(sub, now[rows])}
write_json(HERE / "result.json", {"big": row, "by_size": by_size,
                                  "mean_new": round(float(new.mean()), 4), "mean_now": round(float(now.mean()), 4)})
print(json.dumps(by_size, indent=1))
