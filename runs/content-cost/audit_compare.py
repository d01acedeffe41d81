"""The archive audit, held out (/tmp/neverworse, built by runs/graphics/audit_build.py then audit_followup.py): every
case whose damage level the content cost changes, restored by `big` and `darn` under auto as a PNG with the level
from the quality alone ("old") and from the content cost ("new"); PSNR gain over the input against the case's
reference (L for gray ones).

    PYTHONPATH=. python runs/content-cost/audit_compare.py   # -> /tmp/audit_compare.csv (kept as audit.csv)
"""
import csv
from pathlib import Path
import numpy as np
from PIL import Image
from facerestore.imageio import read_image
from facerestore.damage import analysis, levels
from facerestore.damage.strength import decide_image
from facerestore.restore import restore_image
from facerestore.session import open_model
from facerestore.registry import MODELS_DIR

ROOT = Path("/tmp/neverworse")
models = {n: open_model(MODELS_DIR / f"{n}.onnx", device="cpu") for n in ("big", "darn")}
real = levels.cost_quality
def psnr(a, b):
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse)
rows, seen, n_all = [], 0, 0
for man in ("manifest.csv", "manifest2.csv"):
    for m in csv.DictReader(open(ROOT / man)):
        n_all += 1
        try:
            L = read_image(Path(m["file"]))
        except Exception:  # the audit holds files the runtime refuses by design
            continue
        new = analysis.analyze(L)
        levels.cost_quality = lambda q, p: q
        old = analysis.analyze(L)
        levels.cost_quality = real
        if abs(new.level - old.level) < 1e-9:
            continue
        ref_im = Image.open(m["ref"]); mode = "L" if ref_im.mode == "L" else "RGB"
        ref = np.asarray(ref_im.convert(mode), dtype=np.float64)
        if ref.ndim == 2: ref = ref[..., None]
        pix = np.round(L.pixels.astype(np.float64) * 255)
        if mode == "L" and pix.shape[2] == 3: pix = np.round(pix @ [0.299, 0.587, 0.114])[..., None]
        if pix.shape != ref.shape:
            continue
        row = dict(case=m["case"], q=new.jpeg_quality, cq=new.cost_quality, old_level=round(old.level, 3),
                   new_level=round(new.level, 3), inp=psnr(pix, ref))
        for name, mod in models.items():
            for tag, d in (("old", old), ("new", new)):
                dec = decide_image(mod, d, L.pixels.shape)
                if dec.unchanged:
                    row[f"{name}_{tag}"] = 0.0; continue
                o = np.round(restore_image(mod, L, d, strength=dec.strength) * 255).astype(np.float64)
                if mode == "L" and o.shape[2] == 3: o = np.round(o @ [0.299, 0.587, 0.114])[..., None]
                row[f"{name}_{tag}"] = psnr(o, ref) - row["inp"]
        rows.append(row)
        print(row["case"], row["q"], row["cq"], " ".join(f"{k}={row[k]:+.2f}" for k in ("big_old", "big_new", "darn_old", "darn_new")), flush=True)
print("cases", n_all, "changed", len(rows))
with open("/tmp/audit_compare.csv", "w", newline="") as fh:
    w = csv.DictWriter(fh, fieldnames=list(rows[0])); w.writeheader(); w.writerows(rows)
