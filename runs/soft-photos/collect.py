"""Collect per-case PSNR-vs-strength of big (blend) + features, for soft-content investigation."""
import json, sys, tempfile
from pathlib import Path
import numpy as np
from PIL import Image
sys.path.insert(0, '/work/main')
sys.path.insert(0, str(Path(__file__).parent))
from sources import sources  # noqa: E402  (the cases every script here reads)
from facerestore.imageio import read_image
from facerestore.damage.analysis import analyze
from facerestore.damage.strength import decide_image
from facerestore.constraints import read_constraint
from facerestore.restore import restore_pixels
from facerestore.session import open_model
from facerestore.metrics import psnr
from facerestore.damage.block_dct import block_coefficients
from facerestore.damage.jpeg_pixels import luma255
from export.archive import to_uint8

which = sys.argv[1]; out = Path(sys.argv[2]); model_name = sys.argv[3] if len(sys.argv) > 3 else 'big'
model = open_model(Path(f'/work/main/facerestore/models/{model_name}.onnx'), device='cpu', threads=2)
GRID = [round(0.1*i, 1) for i in range(11)]
QUALS = [50, 60, 70, 75, 80, 85, 90, 95]

def features(loaded, table):
    y = luma255(loaded.pixels)
    r, c = y.shape[0]//8, y.shape[1]//8
    co = block_coefficients(y, r, c)
    q = np.asarray(table, dtype=np.float32).reshape(64)
    k = np.rint(co / q)
    ac = k[:, 1:]
    nz = float(np.mean(ac != 0))
    # energy of AC coefficients relative to step
    return dict(nz=nz, nz15=float(np.mean(k[:, 1:15] != 0)), mean_abs_k=float(np.mean(np.abs(ac))))

rows = []
with tempfile.TemporaryDirectory() as tmp:
    for name, hq in sources(which):
        for qual in QUALS:
            f = Path(tmp) / 'c.jpg'
            Image.fromarray(hq).save(f, quality=qual)
            loaded = read_image(f); dmg = analyze(loaded)
            pix = loaded.pixels
            cons = read_constraint(loaded, dmg)
            fin = cons.enforce if cons is not None else (lambda o: o)
            full = restore_pixels(model, pix)
            ps = [psnr(to_uint8(fin(np.clip(pix + s*(full-pix), 0, 1))), hq) for s in GRID]
            dec = decide_image(model, dmg, pix.shape)
            yf = luma255(fin(full)) - luma255(pix)
            feat = features(loaded, loaded.jpeg.luma_table)
            rows.append(dict(name=name, q=qual, level=dmg.level, auto=dec.strength, input=psnr(to_uint8(pix), hq),
                             grid=ps, corr_rms=float(np.sqrt(np.mean(yf**2))), **feat))
            print(name, qual, round(rows[-1]['input'], 2), dec.strength, [round(p - rows[-1]['input'], 2) for p in ps[::2]], feat, flush=True)
        json.dump(rows, open(out, 'w'))
