"""The capped monotone pixelation curves that shipped (runs/README.txt, "Pixelation curves refitted, capped
monotone"), looked at once on the test faces after the choice: the fit's pixelation damages at exactly 256 and 512 px,
each file read and held as the runtime holds it, restored by each changed model with its curve before
(strength_before.json) and after (monotone_colour.json / monotone_gray.json).
  PYTHONPATH=. python runs/pixelation-refit/monotone_test.py OUT.json"""
import json
import sys
from pathlib import Path

import facerestore
from export.archive import FIT_DEGRADATIONS, make_cases, to_uint8
from export.data import split_faces
from facerestore.constraints import read_constraint
from facerestore.damage.strength import Curve, decide_damage
from facerestore.metrics import psnr
from facerestore.restore import restore_image
from facerestore.session import open_model

HERE = Path(__file__).parent
PIXELATION = tuple(d for d in FIT_DEGRADATIONS if d.startswith("pixelate"))
CHANGED = {False: ("basic",), True: ("basic", "big")}  # colour, gray: the curves that passed the rule


def pixelation_curve(path: Path, key: str, name: str) -> Curve:
    row = json.loads(path.read_text())[key][name]
    return Curve(tuple(row["levels"]), tuple(row["strengths"]["pixelation"]), "fitted")


def main():
    faces = split_faces(Path("/work/shared/data/faces")).test
    rows = []
    for gray in (False, True):
        key = "gray_curves" if gray else "curves"
        models = {name: open_model(Path(facerestore.__file__).parent / "models" / f"{name}.onnx", device="cpu",
                                   threads=2) for name in CHANGED[gray]}
        curves = {name: (pixelation_curve(HERE / "strength_before.json", key, name),
                         pixelation_curve(HERE / f"monotone_{'gray' if gray else 'colour'}.json", key, name))
                  for name in models}
        for side in (256, 512):
            for case in make_cases(faces, PIXELATION, max_side=side, gray=gray, upscale=True):
                constraint = read_constraint(case.loaded, case.damage)
                row = {"face": case.face, "damage": case.degradation, "side": side, "gray": gray,
                       "constraint": type(constraint).__name__ if constraint is not None else None,
                       "input": psnr(to_uint8(case.loaded.pixels), case.hq)}
                for name, model in models.items():
                    row[name] = {}
                    for label, curve in zip(("old", "new"), curves[name]):
                        d = decide_damage(curve, case.damage, case.loaded.pixels.shape)
                        score = row["input"] if d.unchanged else psnr(to_uint8(restore_image(
                            model, case.loaded, case.damage, strength=d.strength, constraint=constraint)), case.hq)
                        row[name][label] = [0.0 if d.unchanged else d.strength, score]
                rows.append(row)
                print(json.dumps(row), flush=True)
    Path(sys.argv[1]).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
