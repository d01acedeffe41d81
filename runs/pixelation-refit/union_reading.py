"""Would a tolerant reading that joins lines on an axis only where the union of the positions the joined lines
differ in covers at most a third of a line (one mark) read the fit's unmarked validation upscales as the strict one
does? Reading only.  PYTHONPATH=. python runs/pixelation-refit/union_reading.py"""
from collections import Counter
from pathlib import Path

import numpy as np

from export.fit_strength import fit_cases
from facerestore.pixelation_constraint import MARK_SHARE, _differ, block_starts


def union_starts(pixels, axis):
    strict = block_starts(pixels, axis)
    tol = block_starts(pixels, axis, MARK_SHARE)
    if tol.size == strict.size:
        return strict
    lines = np.moveaxis(pixels, axis, 0)
    differ = _differ(lines[1:], lines[:-1])
    joined = np.setdiff1d(strict, tol)  # starts removed
    union = differ[joined - 1].any(axis=0).mean()
    return tol if union <= MARK_SHARE else strict


c = Counter()
for case in fit_cases(Path("../shared/data/faces"), sides=(256, 512), gray=False, upscale=True):
    lo, d = case.loaded, case.damage
    if lo.jpeg is not None or d.pixelation <= 1.0:
        continue
    px = lo.pixels
    s = (block_starts(px, 0), block_starts(px, 1))
    u = (union_starts(px, 0), union_starts(px, 1))
    same = all(np.array_equal(a, b) for a, b in zip(s, u))
    c[case.degradation, case.side, same] += 1
    if not same:
        print(case.degradation, case.side, case.face, [a.size for a in s], [b.size for b in u], flush=True)
for k, v in sorted(c.items(), key=str):
    print(k, v)
