"""Score one `facerestore enhance --json` run over the archive audit against its references.

    mkdir -p /tmp/audit/in   # every case of /tmp/neverworse/manifest.csv and manifest2.csv copied as CASE.ext
    cd /tmp/audit && facerestore enhance in -o out --json > run.jsonl   (or --format png -o outpng ...)
    python runs/graphics/audit_score_run.py /tmp/audit/refs.json /tmp/audit/run.jsonl

refs.json maps each copied file's name to its reference (audit_build.py's refs/, audit_followup.py's refs2/).
Prints the statuses, the mean PSNR gain of the outputs (L for gray references) and every file more than 0.05 dB
worse than its input.
"""
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def pixels(path, mode):
    with Image.open(path) as im:
        return np.asarray(im.convert(mode), dtype=np.float64)


def psnr(a, b):
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse)


def main(refs_path, run_path):
    refs = json.loads(Path(refs_path).read_text())
    here = Path(run_path).resolve().parent  # records name relative paths from where enhance ran: run it there
    statuses, gains, worse = {}, [], []
    for line in Path(run_path).read_text().splitlines():
        record = json.loads(line)
        statuses[record["status"]] = statuses.get(record["status"], 0) + 1
        if not record.get("output"):
            continue
        ref = refs[Path(record["input"]).name]
        with Image.open(ref) as im:
            mode = "L" if im.mode == "L" else "RGB"
        truth = pixels(ref, mode)
        given, out = pixels(here / record["input"], mode), pixels(here / record["output"], mode)
        if out.shape != truth.shape:
            continue
        gain = psnr(out, truth) - psnr(given, truth)
        if np.isfinite(gain):
            gains.append(gain)
        if gain < -0.05:
            worse.append((Path(record["input"]).name, gain))
    print(f"statuses {statuses}; {len(gains)} scored, mean gain {np.mean(gains):+.3f} dB, {len(worse)} worse")
    for name, gain in sorted(worse, key=lambda w: w[1]):
        print(f"  {name}\t{gain:+.2f}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
