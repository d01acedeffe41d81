"""basic's gray curves into strength.json, as the rule in runs/README.txt ships them ("Gray curves for gan and
basic on soft photos"): the gray refit's JPEG and banding curves with its colour pixelation curve, and the rule's
table figures (the 25 damages main reads as the branch does, in gray, at both sizes).
  PYTHONPATH=. python runs/strength-gray-soft-gan/merge.py SCORES_FOLDER RULE.log MODEL"""
import json
import sys
from pathlib import Path

import numpy as np

from export.fit_strength import KINDS, Table, _at, _broken, _psnr_at, fit_cases
from export.saved_scores import case_key

scores, log, name = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
text = log.read_text()
result = json.loads(text[text.index("\n{") + 1:])[name]
assert result["rule"]["ships"], f"the rule does not ship gray curves for {name}"
path = Path("facerestore/models/strength.json")
doc = json.loads(path.read_text())
lines = (scores / f"{name}-gray.jsonl").read_text().splitlines()[1:]
saved = {row["key"]: row for row in map(json.loads, lines)}
cases = fit_cases(Path("../shared/data/faces"), sides=(256, 512), gray=True, upscale=True)
rows = [saved[case_key(c.face, c.degradation, c.side, c.hq, c.loaded.pixels)] for c in cases]
table = Table(cases, np.array([r["psnr"] for r in rows]), np.array([r["input"] for r in rows]))
colour = doc["curves"][name]
old = np.array([colour["strengths"][k] for k in KINDS])
new = np.array([result["gray_curves"][k] for k in KINDS])
full = _at(table, np.ones(len(cases)))
doc["gray_curves"][name] = {
    "levels": colour["levels"],
    "strengths": {k: result["gray_curves"][k] for k in ("jpeg", "banding", "pixelation")},
    "validation_mean_psnr": round(float(_psnr_at(table, new).mean()), 4),
    "validation_mean_psnr_current_curve": round(float(_psnr_at(table, old).mean()), 4),
    "validation_mean_psnr_full_strength": round(float(full.mean()), 4),
    "made_worse": _broken(table, _psnr_at(table, new)),
    "made_worse_by_current_curve": _broken(table, _psnr_at(table, old)),
    "made_worse_at_full_strength": _broken(table, full),
    "sizes": "exactly 256 and 512 px, smaller faces upscaled (LANCZOS); its pixelation curve is its colour one",
}
path.write_text(json.dumps(doc, indent=1) + "\n")
print({k: v for k, v in doc["gray_curves"][name].items() if k not in ("levels", "strengths")})
