"""Seed models' refit tables with the nearest-upscales fit's rows for the cases the pixelation constraint leaves
alone: the refit's runtime differs from that fit's by the constraint, so those rows are the same, and only the
cases it holds are scored anew (fit-strength --scores resumes from the seeded table).
  PYTHONPATH=<worktree at the refit's runtime> python .../seed.py [--gray] [--check] MODEL=ONNX...
--check: write nothing; compare what would be seeded with the refit table already there (darn's, scored whole):
every seeded row must equal its scored one."""
import gzip
import hashlib
import json
import sys
from collections import Counter
from pathlib import Path

from export.fit_strength import GRID, RUNTIME, fit_cases
from export.saved_scores import case_key, libraries
from facerestore.constraints import read_constraint
from facerestore.pixelation_constraint import PixelationConstraint

args = sys.argv[1:]
gray, check = "--gray" in args, "--check" in args
which = "gray" if gray else "colour"
held_keys, held = set(), Counter()
for case in fit_cases(Path("../shared/data/faces"), sides=(256, 512), gray=gray, upscale=True):
    if isinstance(read_constraint(case.loaded, case.damage), PixelationConstraint):
        held_keys.add(case_key(case.face, case.degradation, case.side, case.hq, case.loaded.pixels))
        held[f"{case.degradation} at {case.side}"] += 1
print(f"cases the constraint holds: {dict(sorted(held.items()))}")
for name, model in (a.split("=", 1) for a in args if "=" in a):
    old_lines = gzip.decompress(Path(f"/work/main/runs/nearest-upscales/scores/{name}-{which}.jsonl.gz")
                                .read_bytes()).decode().splitlines()
    old = {row["key"]: row for row in map(json.loads, old_lines[1:])}
    header = {"model_sha256": hashlib.sha256(Path(model).read_bytes()).hexdigest(), "grid": list(GRID),
              "runtime": RUNTIME, "libraries": libraries()}
    assert json.loads(old_lines[0])["model_sha256"] == header["model_sha256"], "another model file"
    assert held_keys <= old.keys(), "the old table holds other cases"
    seeded = [row for key, row in old.items() if key not in held_keys]
    print(f"{name} {which}: {len(seeded)} rows seeded, {len(held_keys)} cases the constraint holds")
    table = Path(f"runs/pixelation-refit/scores/{name}-{which}.jsonl")
    if check:
        lines = table.read_text().splitlines()
        assert json.loads(lines[0]) == header, "the scored table's header differs"
        scored = {row["key"]: row for row in map(json.loads, lines[1:])}
        same = sum(scored[r["key"]]["psnr"] == r["psnr"] and scored[r["key"]]["input"] == r["input"] for r in seeded)
        moved = sum(scored[k]["psnr"] != old[k]["psnr"] for k in held_keys)
        print(f"seeded rows equal to the scored ones: {same} of {len(seeded)}; held cases scored otherwise than "
              f"before: {moved} of {len(held_keys)}")
    else:
        assert not table.exists(), f"{table} exists"
        table.parent.mkdir(parents=True, exist_ok=True)
        table.write_text("".join(json.dumps(r) + "\n" for r in [header] + [
            {"key": r["key"], "input": r["input"], "psnr": r["psnr"]} for r in seeded]))
