"""Does re-compressing a decoded JPEG on a grid moved off its own, at the file's own tables, tell what the file lost?

Every 10th training face at 256 px, blurred 0/1/2 px, colour and gray, JPEG 30-95: the luma PSNR of the file
against its original (which the runtime never has) beside the luma PSNR of its decoded pixels compressed again at
its tables on grids moved by 3 and 5 px (the runtime uses 4: facerestore.damage.jpeg_cost).

    PYTHONPATH=. python runs/content-cost/correlation.py > runs/content-cost/correlation.txt
"""
import io
from pathlib import Path
import numpy as np
from PIL import Image, ImageFilter
from export.data import split_faces

def luma(a):
    a = np.asarray(a, dtype=np.float64)
    return a if a.ndim == 2 else a @ [0.299, 0.587, 0.114]

def mse(a, b):
    return float(np.mean((luma(a) - luma(b)) ** 2))

def shifted_error(dec, jpeg_im, off=4):
    W, H = dec.size
    crop = dec.crop((off, off, W - 8 + off, H - 8 + off))
    b = io.BytesIO()
    kw = dict(qtables=jpeg_im.quantization)
    if dec.mode == "RGB":
        from PIL import JpegImagePlugin
        kw["subsampling"] = JpegImagePlugin.get_sampling(jpeg_im)
    crop.save(b, "JPEG", **kw)
    return mse(Image.open(b), crop)

s = split_faces(Path(__file__).resolve().parents[3] / "shared" / "data" / "faces")
rows = []
for p in s.train[::10]:
    base = Image.open(p).convert("RGB").resize((256, 256), Image.LANCZOS)
    for sigma in (0, 1, 2):
        for mode in ("RGB", "L"):
            im = (base.filter(ImageFilter.GaussianBlur(sigma)) if sigma else base).convert(mode)
            for q in (30, 50, 75, 85, 95):
                b = io.BytesIO(); im.save(b, "JPEG", quality=q); j = Image.open(b); j.load()
                true = mse(j, im)
                est = np.mean([shifted_error(j, j, o) for o in (3, 5)])
                rows.append((sigma, mode, q, true, est))
a = np.array([(r[3], r[4]) for r in rows])
lt, le = 10*np.log10(255**2/a[:, 0]), 10*np.log10(255**2/a[:, 1])
print("corr psnr", np.corrcoef(lt, le)[0, 1], "mean diff", np.mean(le - lt), "sd diff", np.std(le - lt))
for q in (30, 50, 75, 85, 95):
    m = np.array([r[2] == q for r in rows])
    print(q, "corr", round(np.corrcoef(lt[m], le[m])[0, 1], 3), "diff mean %.2f sd %.2f" % (np.mean(le[m]-lt[m]), np.std(le[m]-lt[m])),
          "true range %.1f-%.1f" % (lt[m].min(), lt[m].max()))
