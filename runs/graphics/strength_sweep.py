import io, json, shutil, subprocess, sys
from pathlib import Path
import numpy as np
from PIL import Image
refs = {n: np.asarray(Image.open(f"/tmp/neverworse/refs/{n}/clean.png").convert("RGB")) for n in ("screenshot", "lineart", "text_scan", "lineart_scan")}
cases = Path("cases"); shutil.rmtree(cases, ignore_errors=True); cases.mkdir()
for n, a in refs.items():
    for q in (10, 20, 30, 50, 75, 90):
        Image.fromarray(a).save(cases / f"{n}_q{q}.jpg", quality=q)
def psnr(a, b): return 10 * np.log10(255 ** 2 / np.mean((a.astype(float) - b) ** 2))
model = sys.argv[1]
res = {}
for s in ("auto", "0.25", "0.5", "1"):
    out = Path(f"out_{model}_{s}"); shutil.rmtree(out, ignore_errors=True)
    r = subprocess.run(["facerestore", "enhance", str(cases), "-o", str(out), "--format", "png", "--json", "-q", "--model", model, "--strength", s], capture_output=True, text=True)
    for line in r.stdout.splitlines():
        rec = json.loads(line); name = Path(rec["input"]).stem
        n = name.rsplit("_q", 1)[0]
        inp = np.asarray(Image.open(rec["input"]).convert("RGB"))
        o = np.asarray(Image.open(rec["output"] or rec["input"]).convert("RGB"))
        res.setdefault(name, {})[s] = round(psnr(o, refs[n]) - psnr(inp, refs[n]), 2)
        if s == "auto": res[name]["lvl"] = round(rec["damage"]["level"], 2); res[name]["st"] = rec["damage"]["strength"]
for k, v in res.items(): print(model, k, v)
