"""darn's gray strength curves refitted on the gray validation faces at exactly 256 and 512 px, smaller faces upscaled
(soft photos; rule: runs/README.txt, "Gray curves for soft photos: darn").

    PYTHONPATH=. python runs/strength-gray-soft-darn/fit.py > runs/strength-gray-soft-darn/fit.log 2>&1

The same cases and fit as `python -m export fit-strength --gray --sides 256,512 --upscale darn=...`. Writes
result.json here: the refit (as fit-strength writes a model's entry) and the rule's sub-scores per size, beside what
darn's gray photos follow now, on the same cases; table.npz keeps every case's PSNR at every strength.
"""
import json
import logging
from pathlib import Path

import numpy as np

from export.fit_strength import _at, _broken, _rows, _strength_now, fit_cases, fit_model, score_grid, strengths_of
from facerestore.atomic import write_json

logging.basicConfig(level=logging.INFO)
ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent
SIDES = (256, 512)
cases = fit_cases(ROOT.parent / "shared" / "data" / "faces", sides=SIDES, gray=True, upscale=True)
table = score_grid(ROOT / "facerestore" / "models" / "darn.onnx", cases, threads=2)
np.savez_compressed(HERE / "table.npz", psnr=table.psnr, input_psnr=table.input_psnr, levels=table.levels,
                    kinds=table.kinds, faces=[c.face for c in cases], degradations=[c.degradation for c in cases],
                    sides=[max(c.hq.shape[:2]) for c in cases])
row = fit_model("darn", table, gray=True)
strengths = row["strengths"]
knots = _rows(strengths, strengths["jpeg"]) if isinstance(strengths, dict) else np.array(strengths)
new = _at(table, strengths_of(table, knots))
now = _at(table, np.array([_strength_now("darn", True, c, True) for c in table.cases]))
by_size = {}
for side in SIDES:
    rows = np.array([i for i, c in enumerate(table.cases) if c.side == side])
    sub = table.subset(rows)
    by_size[side] = {"cases": len(rows), "mean_new": round(float(new[rows].mean()), 4),
                     "mean_now": round(float(now[rows].mean()), 4),
                     "made_worse_new": _broken(sub, new[rows]), "made_worse_now": _broken(sub, now[rows])}
write_json(HERE / "result.json", {"darn": row, "by_size": by_size,
                                  "mean_new": round(float(new.mean()), 4), "mean_now": round(float(now.mean()), 4)})
print(json.dumps(by_size, indent=1))
