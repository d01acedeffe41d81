import io, sys
from pathlib import Path
import numpy as np
from PIL import Image
sys.path.insert(0, "/work/main")
from export.data import split_faces
from facerestore.damage.jpeg_pixels import luma255
def feats(a):
    y = luma255(a.astype(np.float32) / 255)
    st = np.concatenate([np.abs(np.diff(y[::2], axis=1)).ravel(), np.abs(np.diff(y[:, ::2], axis=0)).ravel()])
    sharp = (st >= 96).mean(); mid = (st >= 8).mean()
    return sharp * 100, sharp / max(mid, 1e-9)
def enc(a, q, fmt="JPEG"):
    b = io.BytesIO(); Image.fromarray(a).save(b, fmt, quality=q); b.seek(0); return np.asarray(Image.open(b).convert("RGB"))
Q = (10, 30, 50, 75, 90)
gr = [("dev:" + n, np.asarray(Image.open(f"/tmp/neverworse/refs/{n}/clean.png").convert("RGB"))) for n in ("screenshot", "lineart", "text_scan", "lineart_scan")]
gr += [("held:" + p.stem, np.asarray(Image.open(p).convert("RGB"))) for p in sorted(Path("/tmp/graphic/held/refs").glob("*.png"))]
for n, a in gr:
    print(n, [tuple(round(v, 3) for v in feats(enc(a, q))) for q in Q], [tuple(round(v, 3) for v in feats(enc(a, q, "WEBP"))) for q in (50, 90)])
split = split_faces(Path("/work/shared/data/faces"))
photos = [(p.name, np.asarray(Image.open(p).convert("RGB"))) for p in split.train + split.val]
photos += [(p.name, np.asarray(Image.open(p).convert("RGB"))) for p in sorted(Path("/work/shared/data/natural").rglob("*")) if p.suffix.lower() in (".png", ".jpg", ".jpeg")]
photos += [(d.name, np.asarray(Image.open(d / "clean.png").convert("RGB"))) for d in Path("/tmp/neverworse/refs").iterdir() if d.name not in ("screenshot", "lineart", "text_scan", "lineart_scan")]
worst = []
for n, a in photos:
    for q in Q:
        s, r = feats(enc(a, q)); worst.append((r, s, n, q))
worst.sort(reverse=True)
print("photos top ratio", [(round(r, 3), round(s, 2), n, q) for r, s, n, q in worst[:8]])
