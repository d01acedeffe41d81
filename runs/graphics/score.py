import json, shutil, subprocess, sys
from pathlib import Path
import numpy as np
from PIL import Image
def psnr(a, b): return 10 * np.log10(255 ** 2 / np.mean((a.astype(float) - b) ** 2))
tag = sys.argv[1]
for model in ("big", "darn"):
    for fmt in (["--format", "png"], []):
        out = Path(f"out_{tag}_{model}_{len(fmt)}"); shutil.rmtree(out, ignore_errors=True)
        r = subprocess.run(["facerestore", "enhance", "cases", "-o", str(out), "--json", "-q", "--model", model, *fmt], capture_output=True, text=True)
        worse, gains = [], []
        for line in r.stdout.splitlines():
            rec = json.loads(line); name = Path(rec["input"]).stem; n = name.rsplit("_", 1)[0]
            ref = np.asarray(Image.open(f"refs/{n}.png").convert("RGB"))
            inp = np.asarray(Image.open(rec["input"]).convert("RGB")); o = np.asarray(Image.open(rec["output"] or rec["input"]).convert("RGB"))
            g = psnr(o, ref) - psnr(inp, ref); gains.append(g)
            if g < -0.05 or "-v" in sys.argv: worse.append((name, round(g, 2), rec["status"], rec["damage"]["strength"], rec["damage"].get("graphic"), round(rec["damage"]["level"], 2)))
        print(tag, model, "png" if fmt else "keep", "n", len(gains), "mean %+.2f" % np.mean(gains), "worse", len([w for w in worse if w[1] < -0.05]))
        for w in worse: print("   ", w)
