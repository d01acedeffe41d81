"""Would the tolerant reading, used everywhere rather than only where the strict one fails, read the fit's
validation upscales otherwise than the strict reading? Reading only; prints each case read otherwise.
  PYTHONPATH=. python runs/pixelation-refit/always_tolerant.py [--gray]"""
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from facerestore.pixelation_constraint import MARK_SHARE, MIN_SIZE_SHARE, block_starts, marked_pixels

sys.path.insert(0, str(Path(__file__).parent))
from pixelated_cases import pixelated_fit_cases  # noqa: E402


def blocks(pixels, least, tolerance):
    """The rows' and columns' run starts at ``tolerance``, or None where they do not explain the pixelation read."""
    rows, columns = block_starts(pixels, 0, tolerance), block_starts(pixels, 1, tolerance)
    held = pixels.shape[0] / rows.size >= least and pixels.shape[1] / columns.size >= least
    return (rows, columns) if held else None


counts = Counter()
for case in pixelated_fit_cases(gray="--gray" in sys.argv):
    loaded, damage = case.loaded, case.damage
    least = MIN_SIZE_SHARE * damage.pixelation
    strict, tolerant = blocks(loaded.pixels, least, 0.0), blocks(loaded.pixels, least, MARK_SHARE)
    key = f"{case.degradation}@{case.side}"
    if strict is None or tolerant is None:
        counts[key, {(True, True): "neither", (True, False): "tolerant only",
                     (False, True): "strict only"}[strict is None, tolerant is None]] += 1
    elif all(np.array_equal(s, t) for s, t in zip(strict, tolerant)):
        counts[key, "same"] += 1
    else:
        counts[key, "differ"] += 1
        marked = marked_pixels(loaded.pixels, *tolerant)[0].size
        print(key, case.face, "rows", strict[0].size, tolerant[0].size, "cols", strict[1].size, tolerant[1].size,
              "marked", marked, flush=True)
for key, n in sorted(counts.items()):
    print(key, n)
