"""The rule's measurement for reading nearest upscales by whole duplicated lines (runs/README.txt, "Whole duplicated
lines"), before and after in one process: "before" is the tree with the duplicated-line reading switched off
(pixels.DUP_MIN_FACTOR = inf, exactly the reading shipped before it).
  PYTHONPATH=/work/main python runs/pixelation-small/rule_measure.py SPLIT OUT.json
SPLIT: "val" (the rule) or "test" (checked after, not selected on)."""
import json
import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image

import facerestore
from facerestore.damage import pixels
from facerestore.damage.analysis import analyze
from facerestore.damage.strength import decide_image
from facerestore.imageio import read_image
from facerestore.metrics import psnr
from facerestore.restore import restore_image
from facerestore.session import open_model

SPLIT = Path("/work/main/runs/darn8u-g2/split.json")
CROPS = Path("/work/shared/data/faces/crops")
FACTORS = (1.2, 1.25, 1.33, 1.5)
MODELS = ("basic", "big", "gan", "darn")
split, out_path = sys.argv[1], Path(sys.argv[2])
tmp = Path(f"/tmp/duprule_{split}")
tmp.mkdir(exist_ok=True)
models = {name: open_model(Path(facerestore.__file__).parent / "models" / f"{name}.onnx", device="cpu", threads=2)
          for name in MODELS}
DUP_MIN_FACTOR = pixels.DUP_MIN_FACTOR
u8 = lambda a: np.clip(np.rint(a * 255), 0, 255).astype(np.uint8)


def analysed(loaded, before):
    pixels.DUP_MIN_FACTOR = math.inf if before else DUP_MIN_FACTOR
    try:
        return analyze(loaded)
    finally:
        pixels.DUP_MIN_FACTOR = DUP_MIN_FACTOR


def saved(im, fmt, **params):
    path = tmp / f"x.{fmt.lower()}"
    im.save(path, fmt, **params)
    return read_image(path)


out = {"unchanged_analysis": [], "upscales": []}
for name in json.loads(SPLIT.read_text())[split]:
    for side in (256, 512):
        src = Image.open(CROPS / Path(name).with_suffix(".png").name).convert("RGB")
        s = side / max(src.size)
        im = src.resize((round(src.width * s), round(src.height * s)), Image.LANCZOS)
        ref = np.asarray(im)
        cases = [("clean", "PNG", {})] + [(f"jpeg{q}", "JPEG", {"quality": q}) for q in (40, 50, 75, 85, 95)] \
            + [(f"webp{q}", "WEBP", {"quality": q}) for q in (50, 75, 90)]
        for label, fmt, params in cases:
            loaded = saved(im, fmt, **params)
            same = analysed(loaded, True).to_json() == analysed(loaded, False).to_json()
            out["unchanged_analysis"].append({"face": name, "side": side, "case": label, "same": same})
        for f in FACTORS:
            small = im.resize((round(im.width / f), round(im.height / f)), Image.LANCZOS)
            loaded = saved(small.resize(im.size, Image.NEAREST), "PNG")
            before, after = analysed(loaded, True), analysed(loaded, False)
            row = {"face": name, "side": side, "f": f, "before": before.pixelation, "after": after.pixelation,
                   "level": after.level, "input": psnr(u8(loaded.pixels), ref)}
            for model_name, model in models.items():
                decision = decide_image(model, after, loaded.pixels.shape)
                if decision.unchanged:
                    row[model_name] = {"strength": 0.0, "psnr": row["input"]}
                else:
                    restored = restore_image(model, loaded, after, strength=decision.strength)
                    row[model_name] = {"strength": decision.strength, "psnr": psnr(u8(restored), ref)}
            out["upscales"].append(row)
            print(json.dumps(row), flush=True)
out_path.write_text(json.dumps(out, indent=1))
