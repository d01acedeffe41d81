import io, json, sys
from pathlib import Path
import numpy as np
from PIL import Image
sys.path.insert(0, '/work/main')
from facerestore.damage.block_dct import block_coefficients
from facerestore.damage.jpeg_pixels import luma255
sys.path.insert(0, str(Path(__file__).parent))
from sources import sources  # noqa: E402
which, out = sys.argv[1], sys.argv[2]
QUALS = [50, 60, 70, 75, 80, 85, 90, 95]
U, V = np.meshgrid(np.arange(8), np.arange(8)); ORDER = (U + V).ravel()
res = {}
for name, hq in sources(which):
    for q in QUALS:
        buf = io.BytesIO(); Image.fromarray(hq).save(buf, 'JPEG', quality=q)
        x = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert('RGB')).astype(np.float32) / 255
        y = luma255(x); r, c = y.shape[0]//8, y.shape[1]//8
        co = block_coefficients(y, r, c)
        e = (co**2).mean(0)
        band = lambda lo, hi: e[(ORDER >= lo) & (ORDER <= hi)].mean()
        # down-up sharpness on the decoded image
        im = Image.fromarray((x*255).round().astype(np.uint8)).convert('L'); w, h = im.size
        du = np.asarray(im.resize((w//2, h//2), Image.LANCZOS).resize((w, h), Image.LANCZOS), np.float32)
        sharp = float(np.sqrt(np.mean((du - np.asarray(im, np.float32))**2)))
        # gradient energy
        gy = np.abs(np.diff(y, axis=0)).mean(); gx = np.abs(np.diff(y, axis=1)).mean()
        res[f'{name}|{q}'] = dict(b1=float(band(1, 2)), b2=float(band(3, 5)), b3=float(band(6, 14)), sharp=sharp, grad=float((gx+gy)/2))
json.dump(res, open(out, 'w'))
