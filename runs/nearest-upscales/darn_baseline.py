"""darn's colour pixelation curves on the nearest-upscales table, read as saved: shipped, refitted, and the third rule's
knots (0.2 at levels 0.3-0.6; runs/README.txt on main, "Whole duplicated lines")."""
import json
from pathlib import Path
import numpy as np
from export.fit_strength import KINDS, Table, _psnr_at, fit_cases, _broken
from export.saved_scores import case_key
cases = fit_cases(Path("../shared/data/faces"), sides=(256, 512), upscale=True)
lines = Path("runs/nearest-upscales/scores/darn-colour.jsonl").read_text().splitlines()[1:]
saved = {row["key"]: row for row in map(json.loads, lines)}
rows = [saved[case_key(c.face, c.degradation, c.side, c.hq, c.loaded.pixels)] for c in cases]
table = Table(cases, np.array([r["psnr"] for r in rows]), np.array([r["input"] for r in rows]), conditioned=True)
shipped = json.load(open('/work/main/facerestore/models/strength.json'))['curves']['darn']
fit = json.load(open('runs/nearest-upscales/strength_fit.json'))['curves']['darn']
old = np.array([shipped['strengths'][k] for k in KINDS])
pk = KINDS.index('pixelation')
def variant(p):
    v = old.copy(); v[pk] = p; return v
base = list(shipped['strengths']['pixelation']); base[3:7] = [0.2]*4
cands = {'shipped': old, 'fit': variant(fit['strengths']['pixelation']), 'baseline 0.2@0.3-0.6': variant(base)}
pix = [i for i,c in enumerate(cases) if table.kinds[i]==pk]
for n, v in cands.items():
    got = _psnr_at(table, v)
    print(n, [float(x) for x in v[pk]], 'mean all %.4f  pixelation-kind %.4f' % (got.mean(), got[pix].mean()), 'worse:', _broken(table, got))
