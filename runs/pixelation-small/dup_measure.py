"""Development measure of whole duplicated lines: per position along the sampled lines (the analysis's every 4th
row and column), whether every line textured there (pixels.FLAT_WINDOW, PIXELATION_MIN_STEP) holds equal
neighbours. A nearest upscale by f repeats a share 1 - 1/f of its rows and columns in full; a photo, its JPEG or its
WebP should repeat none.
  PYTHONPATH=/work/main python runs/pixelation-small/dup_measure.py SPLIT > OUT.jsonl"""
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from facerestore.damage import pixels as px
from facerestore.damage.analysis import sampled_lines
from facerestore.imageio import read_image

SPLIT = Path("/work/main/runs/darn8u-g2/split.json")
CROPS = Path("/work/shared/data/faces/crops")
NATURAL = Path("/work/shared/data/natural")
FACTORS = (1.2, 1.25, 1.33, 1.5, 2.0)
split = sys.argv[1]
tmp = Path(f"/tmp/dupsmall_{split}")
tmp.mkdir(exist_ok=True)


def position_rates(lines):
    """Per position along the lines: how many lines are textured there, and how many of those repeat."""
    found = px.equal_neighbours(lines)
    if found is None:
        return np.zeros(0, int), np.zeros(0, int)
    return found.textured, found.equal


def measure(path):
    p = read_image(path).pixels
    out = {}
    for axis, lines in zip(("rows", "cols"), sampled_lines(p)):
        n, equal = position_rates(lines)
        for need in (4, 8):
            ok = n >= need
            full = ok & (equal == n)
            out[f"{axis}_dup{need}"] = float(full.sum() / max(ok.sum(), 1))
            out[f"{axis}_npos{need}"] = int(ok.sum())
    return out


def sized(im, side):
    s = side / max(im.size)
    return im.resize((round(im.width * s), round(im.height * s)), Image.LANCZOS)


def case(im, fmt, **params):
    path = tmp / f"x.{fmt.lower()}"
    im.save(path, fmt, **params)
    return measure(path)


sources = [(CROPS / Path(n).with_suffix(".png").name, side)
           for n in json.loads(SPLIT.read_text())[split] for side in (256, 512)]
if split == "train":
    sources += [(p, side) for p in sorted(NATURAL.glob("*.*")) if p.suffix != ".md" for side in (512, 1024)]
for path, side in sources:
    im = sized(Image.open(path).convert("RGB"), side)
    row = {"image": path.name, "side": side, "clean": case(im, "PNG")}
    for q in (40, 50, 75, 85, 95):
        row[f"jpeg{q}"] = case(im, "JPEG", quality=q)
    for q in (50, 75, 90):
        row[f"webp{q}"] = case(im, "WEBP", quality=q)
    for f in FACTORS:
        small = im.resize((round(im.width / f), round(im.height / f)), Image.LANCZOS)
        row[f"nearest{f}"] = case(small.resize(im.size, Image.NEAREST), "PNG")
    print(json.dumps(row), flush=True)
