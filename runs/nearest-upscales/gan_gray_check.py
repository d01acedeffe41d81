"""gan has no gray curves: on gray photos it follows its colour curves. With the reading and its merged colour
pixelation curve (STRENGTH.json, the ship branch's), which damages of its gray table (read as saved) do they make
worse?  PYTHONPATH=. python runs/nearest-upscales/gan_gray_check.py STRENGTH.json"""
import json
import sys
from pathlib import Path

import numpy as np

from export.fit_strength import KINDS, Table, _psnr_at, broken_promises, fit_cases
from export.saved_scores import case_key

curves = json.loads(Path(sys.argv[1]).read_text())["curves"]["gan"]["strengths"]
cases = fit_cases(Path("../shared/data/faces"), sides=(256, 512), gray=True, upscale=True)
lines = Path("runs/nearest-upscales/scores/gan-gray.jsonl").read_text().splitlines()[1:]
saved = {row["key"]: row for row in map(json.loads, lines)}
rows = [saved[case_key(c.face, c.degradation, c.side, c.hq, c.loaded.pixels)] for c in cases]
table = Table(cases, np.array([r["psnr"] for r in rows]), np.array([r["input"] for r in rows]))
knots = np.array([curves[k] for k in KINDS])
got = _psnr_at(table, knots)
print("made worse:", broken_promises(table, knots))
for damage in ("pixelate:1.2", "pixelate:1.25", "pixelate:1.33", "pixelate:1.5"):
    for side in (256, 512):
        idx = [i for i, c in enumerate(cases) if c.degradation == damage and c.side == side]
        gain = got[idx] - table.input_psnr[idx]
        print(f"  {damage:14s} {side}: {gain.mean():+.3f} dB, {int(np.sum(gain < -1e-9))} of {len(idx)} worse")
