"""A lead for holding marked upscales whole (runs/README.txt, "A regular grid"): fit a nearest upscale's grid (source
size h, phase phi: PIL's NEAREST takes source line floor((y + phi) * h / H), phi 0.5) to each axis's strict run
starts S; extra = starts the grid does not explain (lines broken by a mark), missing = grid starts S lacks
(identical lines). Reading only.
  PYTHONPATH=. python runs/pixelation-refit/grid_reading.py             (the fit's unmarked validation upscales)
  PYTHONPATH=. python runs/pixelation-refit/grid_reading.py --marked    (the marked validation files)"""
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from facerestore.pixelation_constraint import block_starts

PHASES = (0.5, 0.0, 0.25, 0.75)


def grid(H, h, phi):
    src = np.floor((np.arange(H) + phi) * h / H).astype(np.int64)
    return np.flatnonzero(np.concatenate(([True], src[1:] != src[:-1])))


def fit(S, H, f):
    """The grid (h, phase) that fits the starts S of H lines best: fewest starts unexplained plus grid starts
    missing (a finer grid explains a mark's broken lines but misses many of its own starts), h searched within 15%
    of both the pixelation read f and the strict runs' mean length."""
    best = None
    sizes = {H / f, S.size}
    lowest, highest = int(min(sizes) / 1.15), int(max(sizes) * 1.15) + 1
    for h in range(max(1, lowest), highest + 1):
        for phi in PHASES:
            P = grid(H, h, phi)
            extra = np.setdiff1d(S, P).size
            missing = np.setdiff1d(P, S).size
            key = (extra + missing, extra)
            if best is None or key < best[0]:
                best = (key, h, phi, extra, missing)
    return best


if __name__ == "__main__" and not sys.argv[1:]:
    sys.path.insert(0, str(Path(__file__).parent))
    from pixelated_cases import pixelated_fit_cases
    c = Counter()
    for case in pixelated_fit_cases():
        px, d = case.loaded.pixels, case.damage
        res = []
        for axis in (0, 1):
            S = block_starts(px, axis)
            _, h, phi, extra, missing = fit(S, px.shape[axis], d.pixelation)
            res.append((extra, missing, h, phi))
        c[case.degradation, case.side, "extra0" if all(r[0] == 0 for r in res) else "extra>0"] += 1
        if any(r[0] for r in res):
            print(case.degradation, case.side, case.face, res, flush=True)
    for k, v in sorted(c.items(), key=str):
        print(k, v)


def marked_check():
    import tempfile
    sys.path.insert(0, str(Path(__file__).parent))
    from export.data import split_faces
    from facerestore.damage.analysis import analyze
    from tolerant import MARKED, fresh_marks
    from unconstrained import saved_variants
    c = Counter()
    faces = split_faces(Path("/work/shared/data/faces")).val
    for face, side, f, label, lo, _ in saved_variants(faces, Path(tempfile.mkdtemp()), fresh_marks):
        if label not in MARKED:
            continue
        d = analyze(lo)
        if d.pixelation <= 1.0:
            c[label, f, side, "not read"] += 1
            continue
        ok = True
        extras = []
        for axis in (0, 1):
            S = block_starts(lo.pixels, axis)
            _, h, phi, extra, missing = fit(S, lo.pixels.shape[axis], d.pixelation)
            ok &= h == round(side / f) and phi == 0.5
            extras.append((extra, missing))
        c[label, f, side, "true grid" if ok else "other grid"] += 1
        if not ok:
            print(label, f, side, face.name, extras, flush=True)
    for k, v in sorted(c.items(), key=str):
        print(k, v)


if __name__ == "__main__" and sys.argv[1:] == ["--marked"]:
    marked_check()
