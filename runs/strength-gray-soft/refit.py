"""big's gray curves refitted from fit.py's scores (table.npz) with the promise kept at each size (rule:
runs/README.txt, "Gray curves for soft photos", second rule).

    PYTHONPATH=. python runs/strength-gray-soft/refit.py > runs/strength-gray-soft/refit.log 2>&1

The cases are rebuilt (same faces, sizes and seeds: the same files and analyses) and checked against the table's
record; writes refit.json here, as fit.py writes result.json.
"""
import json
import logging
from pathlib import Path

import numpy as np

from export.fit_strength import (Table, _at, _broken, _rows, _strength_now, fit_cases, fit_model, strengths_of)
from facerestore.atomic import write_json

logging.basicConfig(level=logging.INFO)
ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent
SIDES = (256, 512)
cases = fit_cases(ROOT.parent / "shared" / "data" / "faces", sides=SIDES, gray=True, upscale=True)
saved = np.load(HERE / "table.npz")
assert [c.face for c in cases] == list(saved["faces"]) and [c.degradation for c in cases] == list(saved["degradations"])
assert np.allclose([c.damage.level for c in cases], saved["levels"])
table = Table(cases, saved["psnr"], saved["input_psnr"])
row = fit_model("big", table, gray=True)
strengths = row["strengths"]
knots = _rows(strengths, strengths["jpeg"]) if isinstance(strengths, dict) else np.array(strengths)
new = _at(table, strengths_of(table, knots))
now = _at(table, np.array([_strength_now("big", False, c, True) for c in table.cases]))
by_size = {}
for side in SIDES:
    rows = np.array([i for i, c in enumerate(table.cases) if c.side == side])
    sub = table.subset(rows)
    by_size[side] = {"cases": len(rows), "mean_new": round(float(new[rows].mean()), 4),
                     "mean_now": round(float(now[rows].mean()), 4),
                     "made_worse_new": _broken(sub, new[rows]), "made_worse_now": _broken(sub, now[rows])}
write_json(HERE / "refit.json", {"big": row, "by_size": by_size,
                                 "mean_new": round(float(new.mean()), 4), "mean_now": round(float(now.mean()), 4)})
print(json.dumps(by_size, indent=1))
