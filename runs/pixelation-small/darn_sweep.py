"""The second rule's sweep (runs/README.txt, "Whole duplicated lines"): darn's pixelation strengths at levels 0.4,
0.5 and 0.6 set to S in 0.4, 0.3, 0.2, 0.1, 0 on the upscales rule_measure.py read (their analysis after the change).
  PYTHONPATH=/work/main python runs/pixelation-small/darn_sweep.py SPLIT RULE.json OUT.json"""
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

import facerestore
from facerestore.damage.analysis import analyze
from facerestore.damage.strength import MIN_STRENGTH
from facerestore.imageio import read_image
from facerestore.metrics import psnr
from facerestore.restore import restore_image
from facerestore.session import open_model

SPLIT = Path("/work/main/runs/darn8u-g2/split.json")
CROPS = Path("/work/shared/data/faces/crops")
SWEEP = (0.4, 0.3, 0.2, 0.1, 0.0)
split, rule_path, out_path = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
models_dir = Path(facerestore.__file__).parent / "models"
model = open_model(models_dir / "darn.onnx", device="cpu", threads=2)
curve = json.loads((models_dir / "strength.json").read_text())["curves"]["darn"]
levels, shipped = curve["levels"], curve["strengths"]["pixelation"]
rows = {(r["face"], r["side"], r["f"]): r for r in json.loads(rule_path.read_text())["upscales"]}
tmp = Path(f"/tmp/darnsweep_{split}")
tmp.mkdir(exist_ok=True)
u8 = lambda a: np.clip(np.rint(a * 255), 0, 255).astype(np.uint8)
out = []
for (name, side, f), row in rows.items():
    src = Image.open(CROPS / Path(name).with_suffix(".png").name).convert("RGB")
    s = side / max(src.size)
    im = src.resize((round(src.width * s), round(src.height * s)), Image.LANCZOS)
    ref = np.asarray(im)
    im.resize((round(im.width / f), round(im.height / f)), Image.LANCZOS).resize(im.size, Image.NEAREST) \
        .save(tmp / "x.png")
    loaded = read_image(tmp / "x.png")
    damage = analyze(loaded)
    assert abs(round(float(np.interp(damage.level, levels, shipped)), 3) - row["darn"]["strength"]) < 1e-9
    result = {"face": name, "side": side, "f": f, "level": damage.level, "input": row["input"],
              "shipped": row["darn"]["psnr"], "sweep": {}}
    for value in SWEEP:
        knots = list(shipped)
        for i, level in enumerate(levels):
            if level in (0.4, 0.5, 0.6):
                knots[i] = value
        strength = round(float(np.interp(damage.level, levels, knots)), 3)
        restored = loaded.pixels if strength < MIN_STRENGTH else restore_image(model, loaded, damage, strength=strength)
        result["sweep"][str(value)] = {"strength": strength, "psnr": psnr(u8(restored), ref)}
    out.append(result)
    print(json.dumps(result), flush=True)
out_path.write_text(json.dumps(out, indent=1))
