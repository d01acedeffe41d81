import io, json, sys, tempfile
from pathlib import Path
import numpy as np
from PIL import Image
sys.path.insert(0, '/work/main')
from facerestore.imageio import read_image
from facerestore.damage.analysis import analyze
from facerestore.constraints import read_constraint
from facerestore.restore import restore_pixels
from facerestore.session import open_model
model = open_model(Path('/work/main/facerestore/models/big.onnx'), device='cpu', threads=2)
G = np.linspace(0, 1, 11)

def jpeg_bytes(u8, q):
    buf = io.BytesIO(); Image.fromarray(u8).save(buf, 'JPEG', quality=q); return buf.getvalue()

def opt_blend(file_bytes, target):
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / 'x.jpg'; f.write_bytes(file_bytes)
        loaded = read_image(f); dmg = analyze(loaded); cons = read_constraint(loaded, dmg)
    fin = cons.enforce if cons is not None else (lambda o: o)
    xp = loaded.pixels
    full = restore_pixels(model, xp)
    errs = [np.mean((np.rint(255*fin(np.clip(xp + s*(full-xp), 0, 1))) - target.astype(np.float64))**2) for s in G]
    fine = np.linspace(0, 1, 101); e = np.interp(fine, G, errs)
    return fine[e.argmin()], 10*np.log10(errs[0]/e.min()), xp

rows = {(r['name'], r['q']): r for r in json.load(open(sys.argv[1]))}
sys.path.insert(0, str(Path(__file__).parent))
from sources import sources  # noqa: E402
for name, hq in sources(sys.argv[2]):
    for q in (75, 85, 95):
        r = rows.get((name, q))
        if r is None: continue
        sopt, gopt, X = opt_blend(jpeg_bytes(hq, q), hq)
        Xu = (np.rint(X*255)).astype(np.uint8)
        res = []
        for shift in (4,):
            T = Xu[shift:, shift:]
            s1, g1, _ = opt_blend(jpeg_bytes(T, q), T)
            res.append((s1, g1))
        print(f"{name[:26]:26s} {q} auto {r['auto']:.2f} sopt {sopt:.2f} gopt {gopt:+.2f} | self s {res[0][0]:.2f} g {res[0][1]:+.2f}", flush=True)
