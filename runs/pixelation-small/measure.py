"""What the analysis reads as pixelation with its threshold lifted (pixels.PIXELATION_MIN_FACTOR = 1.0, every other
gate as shipped): on clean photos and their JPEG and WebP files (false readings) and on nearest-neighbour upscales
by small factors (the readings a lower threshold would catch).
  PYTHONPATH=/work/main python runs/pixelation-small/measure.py SPLIT OUT.json > OUT.jsonl (a row a line)
SPLIT: "train" (development: the training faces and the natural photos) or "val" (the rule's validation faces).
Each face at 256 and 512 px (LANCZOS); each natural photo at 512 px and at its own size up to 1024 px."""
import io
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from facerestore.damage import pixels
from facerestore.damage.analysis import analyze
from facerestore.imageio import read_image

pixels.PIXELATION_MIN_FACTOR = 1.0
SPLIT = Path("/work/main/runs/darn8u-g2/split.json")
CROPS = Path("/work/shared/data/faces/crops")
NATURAL = Path("/work/shared/data/natural")
FACTORS = (1.2, 1.25, 1.33, 1.5, 2.0)
split, out_path = sys.argv[1], Path(sys.argv[2])
tmp = Path(f"/tmp/pixsmall_{split}")
tmp.mkdir(exist_ok=True)


def read(im, fmt, **params):
    path = tmp / f"x.{fmt.lower()}"
    im.save(path, fmt, **params)
    return analyze(read_image(path)).pixelation


def sized(im, side):
    s = side / max(im.size)
    return im.resize((round(im.width * s), round(im.height * s)), Image.LANCZOS)


sources = [(CROPS / Path(n).with_suffix(".png").name, side)
           for n in json.loads(SPLIT.read_text())[split] for side in (256, 512)]
if split == "train":
    sources += [(p, side) for p in sorted(NATURAL.glob("*.*")) if p.suffix != ".md" for side in (512, 1024)]
rows = []
for path, side in sources:
    im = sized(Image.open(path).convert("RGB"), side)
    row = {"image": path.name, "side": side, "clean": read(im, "PNG")}
    for q in (50, 75, 85, 95):
        row[f"jpeg{q}"] = read(im, "JPEG", quality=q)
    for q in (75, 90):
        row[f"webp{q}"] = read(im, "WEBP", quality=q)
    for f in FACTORS:
        small = im.resize((round(im.width / f), round(im.height / f)), Image.LANCZOS)
        up = small.resize(im.size, Image.NEAREST)
        row[f"nearest{f}"] = read(up, "PNG")
        row[f"nearest{f}_jpeg90"] = read(up, "JPEG", quality=90)
    rows.append(row)
    print(json.dumps(row), flush=True)
out_path.write_text(json.dumps(rows, indent=1))
