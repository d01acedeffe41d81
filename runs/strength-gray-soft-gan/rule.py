"""The rule of gray curves for gan and basic on soft photos (runs/README.txt, "Gray curves for gan and basic on
soft photos"): the colour curves a model follows on gray photos, against the gray refit's JPEG and banding curves
with its colour pixelation curve, on its gray table of the nearest-upscales run (rows read as saved, by case key)
less the four upscales main reads otherwise.
  PYTHONPATH=. python runs/strength-gray-soft-gan/rule.py FIT.json SCORES_FOLDER SHIPPED_STRENGTH.json MODEL..."""
import json
import sys
from pathlib import Path

import numpy as np

from export.fit_strength import KINDS, Table, _psnr_at, broken_promises, fit_cases
from export.saved_scores import case_key

fit = json.loads(Path(sys.argv[1]).read_text())["gray_curves"]
scores = Path(sys.argv[2])
shipped = json.loads(Path(sys.argv[3]).read_text())
# main's fit_cases: the 25 damages main reads as the branch does, in gray, at both sizes.
cases = fit_cases(Path("../shared/data/faces"), sides=(256, 512), gray=True, upscale=True)
small = np.array([c.side == 256 for c in cases])
results = {}
for name in sys.argv[4:]:
    assert name not in shipped["gray_curves"], f"{name} has gray curves: this rule is for models that follow colour"
    lines = (scores / f"{name}-gray.jsonl").read_text().splitlines()[1:]
    saved = {row["key"]: row for row in map(json.loads, lines)}
    rows = [saved[case_key(c.face, c.degradation, c.side, c.hq, c.loaded.pixels)] for c in cases]
    table = Table(cases, np.array([r["psnr"] for r in rows]), np.array([r["input"] for r in rows]))
    colour = shipped["curves"][name]["strengths"]
    old = np.array([colour[k] for k in KINDS])
    new = old.copy()
    for kind in ("jpeg", "banding"):
        new[KINDS.index(kind)] = fit[name]["strengths"][kind]
    got_old, got_new = _psnr_at(table, old), _psnr_at(table, new)
    result = {
        "colour_curves_make_worse": broken_promises(table, old),
        "gray_curves_make_worse": broken_promises(table, new),
        "mean_256": {"colour": float(got_old[small].mean()), "gray": float(got_new[small].mean())},
        "mean_both": {"colour": float(got_old.mean()), "gray": float(got_new.mean())},
        "gray_curves": {kind: [float(v) for v in new[KINDS.index(kind)]] for kind in KINDS},
    }
    needed = bool(result["colour_curves_make_worse"])
    ok = (not result["gray_curves_make_worse"]
          and result["mean_256"]["gray"] >= result["mean_256"]["colour"] - 0.05
          and result["mean_both"]["gray"] >= result["mean_both"]["colour"] - 0.05)
    result["rule"] = {"needed": needed, "passed": ok, "ships": needed and ok}
    results[name] = result
    print(name)
    for damage in sorted({c.degradation for c in cases}, key=[c.degradation for c in cases].index):
        for side in (256, 512):
            idx = [i for i, c in enumerate(cases) if c.degradation == damage and c.side == side]
            worse = int(np.sum(got_new[idx] < table.input_psnr[idx] - 1e-9)), \
                int(np.sum(got_old[idx] < table.input_psnr[idx] - 1e-9))
            print(f"  {damage:20s} {side}: input {table.input_psnr[idx].mean():.3f} colour {got_old[idx].mean():.3f} "
                  f"({worse[1]} worse) gray {got_new[idx].mean():.3f} ({worse[0]} worse)")
print(json.dumps(results, indent=1))
