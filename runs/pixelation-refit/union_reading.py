"""Would a tolerant reading that joins lines on an axis only where the union of the positions the joined lines
differ in covers at most a third of a line (one mark) read the fit's unmarked validation upscales as the strict one
does? Reading only.  PYTHONPATH=. python runs/pixelation-refit/union_reading.py"""
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from facerestore.pixelation_constraint import MARK_SHARE, _differ, block_starts

sys.path.insert(0, str(Path(__file__).parent))
from pixelated_cases import pixelated_fit_cases  # noqa: E402


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
for case in pixelated_fit_cases():
    px = case.loaded.pixels
    s = (block_starts(px, 0), block_starts(px, 1))
    u = (union_starts(px, 0), union_starts(px, 1))
    same = all(np.array_equal(a, b) for a, b in zip(s, u))
    c[case.degradation, case.side, same] += 1
    if not same:
        print(case.degradation, case.side, case.face, [a.size for a in s], [b.size for b in u], flush=True)
for k, v in sorted(c.items(), key=str):
    print(k, v)
