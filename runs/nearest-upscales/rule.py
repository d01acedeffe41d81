"""The rule of the nearest-upscales fit (runs/README.txt on main), from its saved score tables: for each model, the
shipped curves with the refit's pixelation curve merged in, against the shipped curves, on the fit's cases.
  PYTHONPATH=. python runs/nearest-upscales/rule.py [--gray] FIT.json SHIPPED_STRENGTH.json MODEL...
(--gray: the gray curves, from the gray tables, against the shipped gray curves)
(1) the refit (all its curves, made_worse) and the merged curves make no damage worse at either size; (2) on
pixelate, pixelate:3 and pixelate:4 at each size the merged curves' mean PSNR is at least the shipped one's - 0.02."""
import json
import sys
from pathlib import Path

import numpy as np

from export.fit_strength import KINDS, Table, _psnr_at, broken_promises, fit_cases
from export.saved_scores import case_key

args = sys.argv[1:]
gray = args[0] == "--gray"
if gray:
    args = args[1:]
fit = json.loads(Path(args[0]).read_text())["gray_curves" if gray else "curves"]
shipped = json.loads(Path(args[1]).read_text())["gray_curves" if gray else "curves"]
cases = fit_cases(Path("../shared/data/faces"), sides=(256, 512), gray=gray, upscale=True)
for name in args[2:]:
    # Read-only: the rows as saved, by case key (opening them through SavedScores here would check this process's
    # runtime digest, which covers other modules than the CLI's, and set the table aside).
    table_file = Path(f"runs/nearest-upscales/scores/{name}-{'gray' if gray else 'colour'}.jsonl")
    lines = table_file.read_text().splitlines()[1:]
    saved = {row["key"]: row for row in map(json.loads, lines)}
    rows = [saved[case_key(c.face, c.degradation, c.side, c.hq, c.loaded.pixels)] for c in cases]
    table = Table(cases, np.array([r["psnr"] for r in rows]), np.array([r["input"] for r in rows]),
                  conditioned=name == "darn")
    # Gray curves have no WebP curve: a WebP file decodes to colour, so no gray case is of that kind.
    curves = shipped[name]["strengths"]
    old = np.array([curves.get(k, [0.0] * len(shipped[name]["levels"])) for k in KINDS])
    merged = old.copy()
    merged[KINDS.index("pixelation")] = fit[name]["strengths"]["pixelation"]
    got_old, got_new = _psnr_at(table, old), _psnr_at(table, merged)
    print(f"{name}: refit made_worse {fit[name]['made_worse']}; merged makes worse {broken_promises(table, merged)}; "
          f"shipped makes worse {broken_promises(table, old)}")
    ok2 = True
    for damage in ("pixelate:1.2", "pixelate:1.25", "pixelate:1.33", "pixelate:1.5", "pixelate", "pixelate:3",
                   "pixelate:4"):
        for side in (256, 512):
            idx = [i for i, c in enumerate(table.cases) if c.degradation == damage and c.side == side]
            a, b, inp = got_old[idx].mean(), got_new[idx].mean(), table.input_psnr[idx].mean()
            worse = int(np.sum(got_new[idx] < table.input_psnr[idx] - 1e-9))
            print(f"  {damage:14s} {side}: input {inp:.3f} shipped {a:.3f} merged {b:.3f} ({b - a:+.3f}), "
                  f"{worse} of {len(idx)} worse")
            if damage in ("pixelate", "pixelate:3", "pixelate:4") and b < a - 0.02:
                ok2 = False
    ok1 = not fit[name]["made_worse"] and not broken_promises(table, merged)
    print(f"  (1) {'passed' if ok1 else 'FAILED'}  (2) {'passed' if ok2 else 'FAILED'}")
