"""The second rule of "Text read as pixelation" (runs/README.txt): with the check, the gray jpeg30>90 cases at
512 px (upscaled) of the validation faces, restored by each model's shipped curves as read from its saved gray table
of the nearest-upscales run: face 082 (the case the check reads differently) no worse than its input, and the row
keeping the promise.  PYTHONPATH=. python runs/pixelation-text/second_rule.py SCORES_FOLDER"""
import json
import sys
from pathlib import Path

import numpy as np

from export.archive import make_cases
from export.data import EVAL_COUNT, split_faces
from export.fit_strength import KINDS, Table, _broken, _psnr_at
from export.saved_scores import case_key

DAMAGE, FACE = "jpeg30>90", "082.png"
scores = Path(sys.argv[1])
shipped = json.loads(Path("facerestore/models/strength.json").read_text())
split = split_faces(Path("../shared/data/faces"), n_val=EVAL_COUNT, n_test=EVAL_COUNT)
cases = make_cases(split.val, (DAMAGE,), max_side=512, gray=True, upscale=True)
for case in cases:
    if case.face == FACE:
        print(f"{FACE}: pixelation {case.damage.pixelation}, level {case.damage.level:.3f}, kind {case.damage.kind}")
passed = True
for name in ("big", "basic", "gan", "darn"):
    lines = (scores / f"{name}-gray.jsonl").read_text().splitlines()[1:]
    saved = {row["key"]: row for row in map(json.loads, lines)}
    rows = [saved.get(case_key(c.face, c.degradation, c.side, c.hq, c.loaded.pixels)) for c in cases]
    scored = [c for c, row in zip(cases, rows) if row is not None]
    if not any(c.face == FACE for c in scored):
        print(f"{name}: {FACE} not scored yet")
        passed = False
        continue
    if len(scored) < len(cases):
        # The others read the same with the check as without it (validate.log): their share of the row is not the
        # check's doing; 082's gain is what decides.
        print(f"{name}: {len(cases) - len(scored)} of {len(cases)} cases not scored yet; the row is judged on the rest")
    rows = [row for row in rows if row is not None]
    table = Table(scored, np.array([r["psnr"] for r in rows]), np.array([r["input"] for r in rows]),
                  conditioned=name == "darn")
    curves = shipped["gray_curves"].get(name, shipped["curves"][name])
    knots = np.array([curves["strengths"].get(k, [0.0] * len(curves["levels"])) for k in KINDS])
    got = _psnr_at(table, knots)
    gain = got - table.input_psnr
    at = [i for i, c in enumerate(scored) if c.face == FACE][0]
    broken = _broken(table, got)
    ok = gain[at] >= -1e-9 and not broken
    passed &= ok
    print(f"{name}: {FACE} {gain[at]:+.3f} dB; row mean {gain.mean():+.3f}, {int(np.sum(gain < -1e-9))} of "
          f"{len(scored)} worse; {'passes' if ok else 'FAILS'}")
print("second rule:", "passed" if passed else "not passed (yet)")
