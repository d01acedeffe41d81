"""Flat stretches judged (runs/README.txt, "Flat stretches"): every variant of gray_tolerant.py, in colour and in
gray, restored with the shipped curves under the shipped constraint ("new": runs of identical lines longer than the
blocks kept as the file has them) and under the same constraint without that ("old"), where it has such runs.
--one-value ("Lines of one value"): "old" keeps flat stretches by their length alone, "new" lines of one value too.
  PYTHONPATH=. python runs/pixelation-refit/flat_stretches.py {val,train2,train3,test} OUT.json [--one-value]"""
import copy
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

import facerestore
from export.archive import to_uint8
from export.data import split_faces
from facerestore.constraints import read_constraint
from facerestore.damage.analysis import analyze
from facerestore.metrics import psnr
from facerestore.pixelation_constraint import PixelationConstraint, block_length
from facerestore.session import open_model

sys.path.insert(0, str(Path(__file__).parent))
from gray_tolerant import newer_marks  # noqa: E402
from tolerant import MODELS  # noqa: E402
from unconstrained import saved_variants, scored_old_new  # noqa: E402


def without_flats(constraint: PixelationConstraint, one_value: bool = False) -> PixelationConstraint:
    """``constraint`` without its flat stretches, or (``one_value``) with those its runs' length makes alone."""
    old = copy.copy(constraint)
    if one_value:
        heights, widths = constraint._heights, constraint._widths
        old._flat_rows = np.repeat(heights > 2 * block_length(heights), heights)
        old._flat_columns = np.repeat(widths > 2 * block_length(widths), widths)
    else:
        old._flat_rows = old._flat_rows & False
        old._flat_columns = old._flat_columns & False
    return old


def differ(a: PixelationConstraint, b: PixelationConstraint) -> bool:
    return not (np.array_equal(a._flat_rows, b._flat_rows) and np.array_equal(a._flat_columns, b._flat_columns))


def main():
    which, out_path = sys.argv[1], Path(sys.argv[2])
    one_value = "--one-value" in sys.argv[3:]
    split = split_faces(Path("/work/shared/data/faces"))
    faces = {"val": split.val, "train2": split.train[2::5], "train3": split.train[3::5], "test": split.test}[which]
    models = {name: open_model(Path(facerestore.__file__).parent / "models" / f"{name}.onnx", device="cpu",
                               threads=2) for name in MODELS}
    rows = []
    for gray in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            for face, side, f, label, loaded, ref in saved_variants(faces, Path(tmp), newer_marks, gray):
                damage = analyze(loaded)
                constraint = read_constraint(loaded, damage)
                flats = isinstance(constraint, PixelationConstraint) and differ(
                    constraint, without_flats(constraint, one_value))
                row = {"face": face.name, "side": side, "f": f, "variant": label, "gray": gray, "kind": damage.kind,
                       "constraint": type(constraint).__name__ if constraint is not None else None,
                       "flat_rows": int(constraint._flat_rows.sum()) if flats else 0,
                       "flat_columns": int(constraint._flat_columns.sum()) if flats else 0,
                       "input": psnr(to_uint8(loaded.pixels), ref)}
                if flats and damage.kind == "pixelation":
                    row.update(scored_old_new(models, loaded, damage, gray, without_flats(constraint, one_value),
                                              constraint, ref, row["input"]))
                rows.append(row)
                print(json.dumps(row), flush=True)
    out_path.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
