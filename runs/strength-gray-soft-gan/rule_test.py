"""Checked after, not selected on: a model's colour curves and its gray curves from strength.json on the 20 test
faces in gray at exactly 256 and 512 px (smaller ones upscaled), the fit's 25 damages: mean gain and faces made
worse per damage and size, each set of curves.
  PYTHONPATH=. python runs/strength-gray-soft-gan/rule_test.py MODEL [STRENGTH.json]"""
import json
import sys
from pathlib import Path

import numpy as np

from export.archive import FIT_DEGRADATIONS, make_cases
from export.data import split_faces
from export.fit_strength import EVAL_COUNT, KINDS, _psnr_at, score_grid

name = sys.argv[1]
doc = json.loads(Path(sys.argv[2] if len(sys.argv) > 2 else "facerestore/models/strength.json").read_text())
split = split_faces(Path("../shared/data/faces"), n_val=EVAL_COUNT, n_test=EVAL_COUNT)
cases = [c for side in (256, 512) for c in make_cases(split.test, FIT_DEGRADATIONS, max_side=side, gray=True,
                                                       upscale=True)]
table = score_grid(Path(f"facerestore/models/{name}.onnx"), cases, threads=1)
curves = {"colour": doc["curves"][name]["strengths"], "gray": doc["gray_curves"][name]["strengths"]}
got = {which: _psnr_at(table, np.array([c.get(k, [0.0] * 11) for k in KINDS])) for which, c in curves.items()}
print(f"{name} on {len({c.face for c in cases})} gray test faces, {len(cases)} cases: gain over the input (faces "
      "worse)")
for damage in FIT_DEGRADATIONS:
    for side in (256, 512):
        idx = [i for i, c in enumerate(cases) if c.degradation == damage and c.side == side]
        cells = []
        for which in ("colour", "gray"):
            gain = got[which][idx] - table.input_psnr[idx]
            cells.append(f"{which} {gain.mean():+.3f} ({int(np.sum(gain < -1e-9))})")
        print(f"  {damage:20s} {side}: " + "  ".join(cells))
for which in ("colour", "gray"):
    print(f"mean {which}: {got[which].mean():.4f}")
