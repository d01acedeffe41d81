"""Seed a model's refit table with the nearest-upscales fit's rows for the cases the pixelation constraint leaves
alone: the refit's runtime differs from that fit's by the constraint, so those rows are the same, and only the
cases it holds are scored anew (fit-strength --scores resumes from the seeded table).
  PYTHONPATH=<worktree at the refit's runtime> python .../seed.py [--gray] [--check] MODEL=ONNX
--check: write nothing; compare what would be seeded with the refit table already there (darn's, scored whole):
every seeded row must equal its scored one."""
import gzip
import hashlib
import json
import sys
from pathlib import Path

from export.fit_strength import GRID, RUNTIME, fit_cases
from export.saved_scores import case_key, libraries
from facerestore.constraints import read_constraint
from facerestore.pixelation_constraint import PixelationConstraint

args = sys.argv[1:]
gray, check = "--gray" in args, "--check" in args
name, model = next(a for a in args if "=" in a).split("=", 1)
which = "gray" if gray else "colour"
old_lines = gzip.decompress(Path(f"/work/main/runs/nearest-upscales/scores/{name}-{which}.jsonl.gz")
                            .read_bytes()).decode().splitlines()
old = {row["key"]: row for row in map(json.loads, old_lines[1:])}
header = {"model_sha256": hashlib.sha256(Path(model).read_bytes()).hexdigest(), "grid": list(GRID),
          "runtime": RUNTIME, "libraries": libraries()}
assert json.loads(old_lines[0])["model_sha256"] == header["model_sha256"], "another model file"
seeded, held = [], []
for case in fit_cases(Path("../shared/data/faces"), sides=(256, 512), gray=gray, upscale=True):
    key = case_key(case.face, case.degradation, case.side, case.hq, case.loaded.pixels)
    if isinstance(read_constraint(case.loaded, case.damage), PixelationConstraint):
        held.append((key, case.degradation))
    else:
        seeded.append(old[key])
print(f"{name} {which}: {len(seeded)} rows seeded, {len(held)} cases the constraint holds "
      f"({', '.join(sorted({d for _, d in held}))})")
table = Path(f"runs/pixelation-refit/scores/{name}-{which}.jsonl")
if check:
    scored = {row["key"]: row for row in map(json.loads, table.read_text().splitlines()[1:])}
    assert json.loads(table.read_text().splitlines()[0]) == header, "the scored table's header differs"
    same = sum(scored[r["key"]]["psnr"] == r["psnr"] and scored[r["key"]]["input"] == r["input"] for r in seeded)
    moved = sum(scored[k]["psnr"] != old[k]["psnr"] for k, _ in held)
    print(f"seeded rows equal to the scored ones: {same} of {len(seeded)}; held cases scored otherwise than before: "
          f"{moved} of {len(held)}")
else:
    assert not table.exists(), f"{table} exists"
    table.parent.mkdir(parents=True, exist_ok=True)
    table.write_text("".join(json.dumps(r) + "\n" for r in [header] + [
        {"key": r["key"], "input": r["input"], "psnr": r["psnr"]} for r in seeded]))
