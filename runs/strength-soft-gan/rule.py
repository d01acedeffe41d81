"""The rule of gan's colour refit for soft photos (runs/README.txt, "gan's colour curves for soft photos"): the
shipped curves with the refit's JPEG and banding curves merged in, against the shipped curves, on the nearest-upscales
fit's table of gan (its rows read as saved, by case key) less the four upscales main reads otherwise.
  PYTHONPATH=. python runs/strength-soft-gan/rule.py FIT.json SCORES.jsonl SHIPPED_STRENGTH.json [OUT.json]"""
import json
import sys
from pathlib import Path

import numpy as np

from export.fit_strength import KINDS, Table, _psnr_at, broken_promises, fit_cases
from export.saved_scores import case_key

fit = json.loads(Path(sys.argv[1]).read_text())["curves"]["gan"]
lines = Path(sys.argv[2]).read_text().splitlines()[1:]
shipped = json.loads(Path(sys.argv[3]).read_text())["curves"]["gan"]
saved = {row["key"]: row for row in map(json.loads, lines)}
# main's fit_cases: the 25 damages main reads as the branch does, at both sizes.
cases = fit_cases(Path("../shared/data/faces"), sides=(256, 512), upscale=True)
rows = [saved[case_key(c.face, c.degradation, c.side, c.hq, c.loaded.pixels)] for c in cases]
table = Table(cases, np.array([r["psnr"] for r in rows]), np.array([r["input"] for r in rows]))
old = np.array([shipped["strengths"][k] for k in KINDS])
merged = old.copy()
for kind in ("jpeg", "banding"):
    merged[KINDS.index(kind)] = fit["strengths"][kind]
got_old, got_new = _psnr_at(table, old), _psnr_at(table, merged)
small = np.array([c.side == 256 for c in cases])
result = {
    "cases": len(cases),
    "shipped_makes_worse": broken_promises(table, old),
    "merged_makes_worse": broken_promises(table, merged),
    "mean_256": {"shipped": float(got_old[small].mean()), "merged": float(got_new[small].mean())},
    "mean_both": {"shipped": float(got_old.mean()), "merged": float(got_new.mean())},
    "curves": {kind: {"shipped": shipped["strengths"][kind], "merged": list(merged[KINDS.index(kind)])}
               for kind in ("jpeg", "banding")},
}
ok_a = not result["merged_makes_worse"]
ok_b = result["mean_256"]["merged"] >= result["mean_256"]["shipped"] - 0.05
ok_c = result["mean_both"]["merged"] >= result["mean_both"]["shipped"] - 0.05
result["rule"] = {"a": ok_a, "b": ok_b, "c": ok_c, "passed": ok_a and ok_b and ok_c}
for damage in sorted({c.degradation for c in cases}, key=[c.degradation for c in cases].index):
    for side in (256, 512):
        idx = [i for i, c in enumerate(cases) if c.degradation == damage and c.side == side]
        worse = int(np.sum(got_new[idx] < table.input_psnr[idx] - 1e-9))
        print(f"{damage:20s} {side}: input {table.input_psnr[idx].mean():.3f} shipped {got_old[idx].mean():.3f} "
              f"merged {got_new[idx].mean():.3f} ({got_new[idx].mean() - got_old[idx].mean():+.3f}), {worse} worse")
print(json.dumps(result, indent=1))
if len(sys.argv) > 4:
    Path(sys.argv[4]).write_text(json.dumps(result, indent=1) + "\n")
