"""The rule's measurement for the pixelation constraint (runs/README.txt, "Pixelation constraint"): every model at
its curve, restored with the file's constraint as the runtime reads it and with none, on the fit's pixelation
damages at exactly 256 and 512 px; and which of the fit's other damages at 256 px get the constraint.
  PYTHONPATH=. python runs/pixelation-constraint/validate.py {val,test} OUT.json [--gray]
(--gray: the faces in grayscale, as grayscale files)"""
import json
import sys
from pathlib import Path

import facerestore
from export.archive import FIT_DEGRADATIONS, make_cases, to_uint8
from export.data import split_faces
from facerestore.constraints import read_constraint
from facerestore.damage.strength import decide_image
from facerestore.metrics import psnr
from facerestore.pixelation_constraint import PixelationConstraint
from facerestore.restore import restore_image
from facerestore.session import open_model

PIXELATION = tuple(d for d in FIT_DEGRADATIONS if d.startswith("pixelate"))
MODELS = ("basic", "big", "gan", "darn")
which, out_path = sys.argv[1], Path(sys.argv[2])
gray = "--gray" in sys.argv[3:]
split = split_faces(Path("/work/shared/data/faces"))
faces = split.val if which == "val" else split.test
models = {name: open_model(Path(facerestore.__file__).parent / "models" / f"{name}.onnx", device="cpu", threads=2)
          for name in MODELS}
out = {"other_damages_constrained": [], "pixelation": []}
for case in make_cases(faces, tuple(d for d in FIT_DEGRADATIONS if d not in PIXELATION), max_side=256,
                       gray=gray):
    if isinstance(read_constraint(case.loaded, case.damage), PixelationConstraint):
        out["other_damages_constrained"].append([case.face, case.degradation])
print("other damages constrained:", out["other_damages_constrained"], flush=True)
for side in (256, 512):
    for case in make_cases(faces, PIXELATION, max_side=side, gray=gray, upscale=True):
        constraint = read_constraint(case.loaded, case.damage)
        row = {"face": case.face, "damage": case.degradation, "side": side, "read": case.damage.pixelation,
               "constrained": isinstance(constraint, PixelationConstraint),
               "input": psnr(to_uint8(case.loaded.pixels), case.hq)}
        for name, model in models.items():
            decision = decide_image(model, case.damage, case.loaded.pixels.shape)
            if decision.unchanged:
                row[name] = {"strength": 0.0, "without": row["input"], "with": row["input"]}
                continue
            scores = {}
            for label, held in (("without", None), ("with", constraint)):
                restored = restore_image(model, case.loaded, case.damage, strength=decision.strength,
                                         constraint=held)
                scores[label] = psnr(to_uint8(restored), case.hq)
            row[name] = {"strength": decision.strength, **scores}
        out["pixelation"].append(row)
        print(json.dumps(row), flush=True)
out_path.write_text(json.dumps(out, indent=1))
