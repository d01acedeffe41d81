"""Flat stretches on the fit's unmarked validation upscales (runs/README.txt, "Flat stretches": reported beside the
judged variants): how many read flat lines, and where they do, each model's restoration with the shipped curves
under the shipped constraint ("new") and without its flat stretches ("old"; --one-value: with those their length
makes alone).
  PYTHONPATH=. python runs/pixelation-refit/flat_upscales.py OUT.json [--one-value]"""
import json
import sys
from pathlib import Path

import facerestore
from export.archive import to_uint8
from facerestore.constraints import read_constraint
from facerestore.metrics import psnr
from facerestore.pixelation_constraint import PixelationConstraint
from facerestore.session import open_model

sys.path.insert(0, str(Path(__file__).parent))
from flat_stretches import differ, without_flats  # noqa: E402
from pixelated_cases import pixelated_fit_cases  # noqa: E402
from tolerant import MODELS  # noqa: E402
from unconstrained import scored_old_new  # noqa: E402


def main():
    out_path = Path(sys.argv[1])
    one_value = "--one-value" in sys.argv[2:]
    models = {name: open_model(Path(facerestore.__file__).parent / "models" / f"{name}.onnx", device="cpu",
                               threads=2) for name in MODELS}
    rows = []
    for gray in (False, True):
        for case in pixelated_fit_cases(gray):
            constraint = read_constraint(case.loaded, case.damage)
            flats = isinstance(constraint, PixelationConstraint) and differ(
                constraint, without_flats(constraint, one_value))
            ref = case.hq
            row = {"face": case.face, "side": case.side, "degradation": case.degradation, "gray": gray,
                   "constraint": type(constraint).__name__ if constraint is not None else None,
                   "flat_rows": int(constraint._flat_rows.sum()) if flats else 0,
                   "flat_columns": int(constraint._flat_columns.sum()) if flats else 0,
                   "input": psnr(to_uint8(case.loaded.pixels), ref)}
            if flats and case.damage.kind == "pixelation":
                row.update(scored_old_new(models, case.loaded, case.damage, gray,
                                          without_flats(constraint, one_value), constraint, ref, row["input"]))
            rows.append(row)
            print(json.dumps(row), flush=True)
    out_path.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
