"""The rule of the nearest-upscales fit (runs/README.txt on main), from its saved score tables: for each model, the
shipped curves with the refit's pixelation curve merged in, against the shipped curves, on the fit's cases.
  PYTHONPATH=. python runs/nearest-upscales/rule.py [--gray] [--scores DIR] [--gain DB] FIT.json SHIPPED.json MODEL...
(--gray: the gray curves, from the gray tables, against the shipped gray curves; --scores: the fit's tables, by
default runs/nearest-upscales/scores)
(1) the refit (all its curves, made_worse) and the merged curves make no damage worse at either size; (2) on
pixelate, pixelate:3 and pixelate:4 at each size the merged curves' mean PSNR is at least the shipped one's - 0.02;
with --gain (the rule of the refit with the pixelation constraint, runs/README.txt), instead: at each size the
merged curves' mean PSNR over the 7 pixelation damages is at least the shipped one's + DB."""
import gzip
import json
import sys
from pathlib import Path

import numpy as np

from export.archive import FIT_DEGRADATIONS
from export.fit_strength import KINDS, Table, _psnr_at, broken_promises, fit_cases
from export.saved_scores import case_key

args = sys.argv[1:]
gray = args[0] == "--gray"
if gray:
    args = args[1:]
scores, gain = Path("runs/nearest-upscales/scores"), None
while args[0] in ("--scores", "--gain"):
    if args[0] == "--scores":
        scores = Path(args[1])
    else:
        gain = float(args[1])
    args = args[2:]
PIXELATION = tuple(d for d in FIT_DEGRADATIONS if d.startswith("pixelate"))  # 1.2 px up to 4 px blocks
fit = json.loads(Path(args[0]).read_text())["gray_curves" if gray else "curves"]
shipped = json.loads(Path(args[1]).read_text())["gray_curves" if gray else "curves"]
cases = fit_cases(Path("../shared/data/faces"), sides=(256, 512), gray=gray, upscale=True)
for name in args[2:]:
    # Read-only: the rows as saved, by case key (opening them through SavedScores here would check this process's
    # runtime digest, which covers other modules than the CLI's, and set the table aside).
    table_file = scores / f"{name}-{'gray' if gray else 'colour'}.jsonl"
    if not table_file.exists():  # kept gzipped once the fit was done
        table_file = table_file.with_name(table_file.name + ".gz")
        lines = gzip.decompress(table_file.read_bytes()).decode().splitlines()[1:]
    else:
        lines = table_file.read_text().splitlines()[1:]
    saved = {row["key"]: row for row in map(json.loads, lines)}
    rows = [saved[case_key(c.face, c.degradation, c.side, c.hq, c.loaded.pixels)] for c in cases]
    table = Table(cases, np.array([r["psnr"] for r in rows]), np.array([r["input"] for r in rows]),
                  conditioned=name == "darn")
    # Gray curves have no WebP curve: a WebP file decodes to colour, so no gray case is of that kind.
    if name not in shipped:  # a model without gray curves follows its colour ones in gray
        print(f"{name}: no gray curves shipped; against its colour curves, which it follows in gray")
        shipped[name] = json.loads(Path(args[1]).read_text())["curves"][name]
    curves = shipped[name]["strengths"]
    old = np.array([curves.get(k, [0.0] * len(shipped[name]["levels"])) for k in KINDS])
    merged = old.copy()
    merged[KINDS.index("pixelation")] = fit[name]["strengths"]["pixelation"]
    got_old, got_new = _psnr_at(table, old), _psnr_at(table, merged)
    print(f"{name}: refit made_worse {fit[name]['made_worse']}; merged makes worse {broken_promises(table, merged)}; "
          f"shipped makes worse {broken_promises(table, old)}")
    ok2 = True
    for damage in PIXELATION:
        for side in (256, 512):
            idx = [i for i, c in enumerate(table.cases) if c.degradation == damage and c.side == side]
            a, b, inp = got_old[idx].mean(), got_new[idx].mean(), table.input_psnr[idx].mean()
            worse = int(np.sum(got_new[idx] < table.input_psnr[idx] - 1e-9))
            print(f"  {damage:14s} {side}: input {inp:.3f} shipped {a:.3f} merged {b:.3f} ({b - a:+.3f}), "
                  f"{worse} of {len(idx)} worse")
            if gain is None and damage in ("pixelate", "pixelate:3", "pixelate:4") and b < a - 0.02:
                ok2 = False
    if gain is not None:
        for side in (256, 512):
            idx = [i for i, c in enumerate(table.cases) if c.degradation in PIXELATION and c.side == side]
            a, b = got_old[idx].mean(), got_new[idx].mean()
            print(f"  {len(PIXELATION)} pixelation damages at {side}: shipped {a:.3f} merged {b:.3f} ({b - a:+.3f}, "
                  f"needs {gain:+.2f})")
            ok2 = ok2 and b >= a + gain
    ok1 = not fit[name]["made_worse"] and not broken_promises(table, merged)
    print(f"  (1) {'passed' if ok1 else 'FAILED'}  (2) {'passed' if ok2 else 'FAILED'}")
