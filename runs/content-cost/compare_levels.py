"""The damage level from the quality alone ("old") against the level from what the quality cost the content ("new",
facerestore.damage.levels.cost_quality at the COST_MARGIN / COST_MAX_QUALITY in the tree): each case saved as a
JPEG, read and analysed by the runtime, restored by `big` and `darn` under auto (the strength curve, the JPEG
constraint), output rounded to 8 bits as a PNG stores it; PSNR gain over the input per case.

    PYTHONPATH=. python runs/content-cost/compare_levels.py {val256|soft|natural} OUT.csv
    python runs/content-cost/summarize.py OUT.csv

val256: the 20 validation faces at 256 px, colour and gray, JPEG 10-95 (the faces the curves were fitted on).
soft: every 8th training face from the 5th, at 256 px, blurred (Gaussian 1 and 2 px), colour and gray, JPEG 10-95.
natural: the natural photos of the training mixture, halved (LANCZOS) and cut to at most 512 px, JPEG 30-95.
"""
import csv, sys
from pathlib import Path
import numpy as np
from PIL import Image, ImageFilter
from export.data import split_faces
from facerestore.imageio import read_image
from facerestore.damage import analysis, levels
from facerestore.damage.strength import decide_image
from facerestore.restore import restore_pixels
from facerestore.constraints import read_constraint
from facerestore.session import open_model
from facerestore.registry import MODELS_DIR

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def cases(kind):
    s = split_faces(SHARED / "faces")
    if kind == "val256":
        for p in s.val:
            im = Image.open(p).convert("RGB").resize((256, 256), Image.LANCZOS)
            for mode in ("RGB", "L"):
                for q in (10, 20, 30, 50, 75, 85, 95):
                    yield f"{p.stem}_{mode}_q{q}", im.convert(mode), q
    elif kind == "soft":
        for p in s.train[4::8]:
            base = Image.open(p).convert("RGB").resize((256, 256), Image.LANCZOS)
            for sigma in (1, 2):
                for mode in ("RGB", "L"):
                    for q in (10, 30, 50, 75, 85, 95):
                        yield f"{p.stem}_s{sigma}_{mode}_q{q}", base.filter(ImageFilter.GaussianBlur(sigma)).convert(mode), q
    elif kind == "natural":
        for p in sorted((SHARED / "natural").glob("*")):
            if p.suffix not in (".jpg", ".png"):
                continue
            im = Image.open(p).convert("RGB")
            im = im.resize((im.size[0] // 2, im.size[1] // 2), Image.LANCZOS)
            W, H = im.size; w, h = min(W, 512), min(H, 512)
            im = im.crop(((W - w) // 2, (H - h) // 2, (W - w) // 2 + w, (H - h) // 2 + h))
            for q in (30, 75, 85, 95):
                yield f"{p.stem}_q{q}", im, q

def psnr(a, b):
    return 10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2))

kind, out = sys.argv[1], sys.argv[2]
models = {n: open_model(MODELS_DIR / f"{n}.onnx", device="cpu") for n in ("big", "darn")}
tmp = Path(f"/tmp/compare_levels_{kind}.jpg")
real_cost = levels.cost_quality
rows = []
for name, im, q in cases(kind):
    im.save(tmp, "JPEG", quality=q)
    L = read_image(tmp)
    ref = np.asarray(im, dtype=np.float64) / 255
    ref = ref[..., None] if ref.ndim == 2 else ref
    inp = psnr(L.pixels, ref)
    new = analysis.analyze(L)
    levels.cost_quality = lambda quality, psnr_: quality
    old = analysis.analyze(L)
    levels.cost_quality = real_cost
    row = dict(case=name, q=q, Q=new.jpeg_quality, CQ=new.cost_quality, old_level=old.level, new_level=new.level, inp=inp)
    for mname, m in models.items():
        raw = None
        for tag, d in (("old", old), ("new", new)):
            dec = decide_image(m, d, L.pixels.shape)
            st = 0.0 if dec.unchanged else dec.strength
            row[f"{mname}_{tag}_s"] = st
            if st == 0:
                row[f"{mname}_{tag}"] = 0.0
                continue
            if tag == "new" and st == row[f"{mname}_old_s"]:
                row[f"{mname}_{tag}"] = row[f"{mname}_old"]
                continue
            con = read_constraint(L, d)
            if m.condition is None:
                if raw is None:
                    raw = restore_pixels(m, L.pixels, strength=1.0)
                o = L.pixels + np.float32(st) * (raw - L.pixels)
            else:
                o = restore_pixels(m, L.pixels, strength=st)
            o = con.enforce(o) if con is not None else o
            row[f"{mname}_{tag}"] = psnr(np.round(np.clip(o, 0, 1) * 255) / 255, ref) - inp
    rows.append(row)
    print(name, q, row["CQ"], f"big {row['big_old']:+.2f} -> {row['big_new']:+.2f}  darn {row['darn_old']:+.2f} -> {row['darn_new']:+.2f}", flush=True)
with open(out, "w", newline="") as fh:
    w = csv.DictWriter(fh, fieldnames=list(rows[0])); w.writeheader(); w.writerows(rows)
