"""Flat stretches judged (runs/README.txt, "Flat stretches"): every variant of gray_tolerant.py, in colour and in
gray, restored with the shipped curves under the shipped constraint ("new": runs of identical lines longer than the
blocks kept as the file has them) and under the same constraint without that ("old"), where it has such runs.
  PYTHONPATH=. python runs/pixelation-refit/flat_stretches.py {val,train2,test} OUT.json"""
import copy
import json
import sys
import tempfile
from pathlib import Path

import facerestore
from export.archive import to_uint8
from export.data import split_faces
from facerestore.constraints import read_constraint
from facerestore.damage.analysis import analyze
from facerestore.damage.strength import model_curve
from facerestore.metrics import psnr
from facerestore.pixelation_constraint import PixelationConstraint
from facerestore.session import open_model

sys.path.insert(0, str(Path(__file__).parent))
from gray_tolerant import newer_marks  # noqa: E402
from tolerant import MODELS  # noqa: E402
from unconstrained import saved_variants, scored  # noqa: E402


def without_flats(constraint: PixelationConstraint) -> PixelationConstraint:
    old = copy.copy(constraint)
    old._flat_rows = old._flat_rows & False
    old._flat_columns = old._flat_columns & False
    return old


def main():
    which, out_path = sys.argv[1], Path(sys.argv[2])
    split = split_faces(Path("/work/shared/data/faces"))
    faces = {"val": split.val, "train2": split.train[2::5], "test": split.test}[which]
    models = {name: open_model(Path(facerestore.__file__).parent / "models" / f"{name}.onnx", device="cpu",
                               threads=2) for name in MODELS}
    rows = []
    for gray in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            for face, side, f, label, loaded, ref in saved_variants(faces, Path(tmp), newer_marks, gray):
                damage = analyze(loaded)
                constraint = read_constraint(loaded, damage)
                flats = isinstance(constraint, PixelationConstraint) and bool(
                    constraint._flat_rows.any() or constraint._flat_columns.any())
                row = {"face": face.name, "side": side, "f": f, "variant": label, "gray": gray, "kind": damage.kind,
                       "constraint": type(constraint).__name__ if constraint is not None else None,
                       "flat_rows": int(constraint._flat_rows.sum()) if flats else 0,
                       "flat_columns": int(constraint._flat_columns.sum()) if flats else 0,
                       "input": psnr(to_uint8(loaded.pixels), ref)}
                if flats and damage.kind == "pixelation":
                    old = without_flats(constraint)
                    for name, model in models.items():
                        curve = model_curve(model, "pixelation", gray)
                        row[name] = {"old": scored(model, loaded, damage, curve, old, ref, row["input"]),
                                     "new": scored(model, loaded, damage, curve, constraint, ref, row["input"])}
                rows.append(row)
                print(json.dumps(row), flush=True)
    out_path.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
