"""The rule's (a): every case of the fit's damages, colour and gray, at most 256 px and at exactly 256 and 512 px
(upscaled), analysed with the repeated-lines check (as the case was made) and without it (DUP_MIN_FACTOR 0);
prints the cases whose pixelation or level differs.
  PYTHONPATH=. python runs/pixelation-text/validate.py [test]   (test: the test faces, the rule's veto)"""
import sys
from pathlib import Path

from export.archive import FIT_DEGRADATIONS, make_cases
from export.data import EVAL_COUNT, split_faces
from facerestore.damage import pixels
from facerestore.damage.analysis import analyze


def without_check(loaded):
    kept = pixels.DUP_MIN_FACTOR
    pixels.DUP_MIN_FACTOR = 0.0
    try:
        return analyze(loaded)
    finally:
        pixels.DUP_MIN_FACTOR = kept


split = split_faces(Path("../shared/data/faces"), n_val=EVAL_COUNT, n_test=EVAL_COUNT)
faces = split.test if sys.argv[1:] == ["test"] else split.val
total = differ = 0
for gray in (False, True):
    for sides, upscale in (((256,), False), ((256, 512), True)):
        for side in sides:
            cases = make_cases(faces, FIT_DEGRADATIONS, max_side=side, gray=gray, upscale=upscale)
            for case in cases:
                before, after = without_check(case.loaded), case.damage
                total += 1
                if (before.pixelation, before.level) != (after.pixelation, after.level):
                    differ += 1
                    print("differs:", case.face, case.degradation, side, "gray" if gray else "colour",
                          before.pixelation, after.pixelation, before.level, after.level)
            print(f"{'gray' if gray else 'colour'} {side} px {'upscaled' if upscale else 'at most'}: {len(cases)} "
                  f"cases, {differ} differ so far", flush=True)
print(f"{total} cases, {differ} read a different pixelation")
