"""The archive audit's quality-75 JPEGs (held out) as `enhance` writes them by default, kept JPEGs re-saved at 95:
the level from the quality alone (the tree before the content cost) against the level from the content cost.

    mkdir -p /tmp/keep/in   # each case of /tmp/neverworse/manifest.csv whose variant names 75, copied as CASE.jpg
    facerestore enhance /tmp/keep/in -o /tmp/keep/new_big; facerestore enhance ... --model darn -o /tmp/keep/new_darn
    (the same from a worktree of 566ad76 into old_big / old_darn)
    python runs/content-cost/keep_compare.py /tmp/keep > runs/content-cost/keep.txt

refs.json in that folder maps each copied file to its reference (runs/graphics/audit_build.py's refs/).
"""
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def pixels(path, mode):
    return np.asarray(Image.open(path).convert(mode), dtype=np.float64)


def psnr(a, b):
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse)


def main(root):
    refs = json.loads((root / "refs.json").read_text())
    runs = ("old_big", "new_big", "old_darn", "new_darn")
    gains = {}
    for name, ref in sorted(refs.items()):
        mode = "L" if Image.open(ref).mode == "L" else "RGB"
        truth, given = pixels(ref, mode), pixels(root / "in" / name, mode)
        gains[name] = {run: psnr(pixels(root / run / name, mode), truth) - psnr(given, truth) for run in runs}
    for model in ("big", "darn"):
        old = np.array([g[f"old_{model}"] for g in gains.values()])
        new = np.array([g[f"new_{model}"] for g in gains.values()])
        print(f"{model}: {len(old)} files, mean gain {old.mean():+.3f} -> {new.mean():+.3f} dB, worse (by more than "
              f"0.05 dB) {(old < -0.05).sum()} -> {(new < -0.05).sum()}, worst {old.min():+.2f} -> {new.min():+.2f}")
    print("\nfile\t" + "\t".join(runs))
    for name, g in gains.items():
        print(name + "\t" + "\t".join(f"{g[run]:+.2f}" for run in runs))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
