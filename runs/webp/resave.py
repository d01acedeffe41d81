import io, json, sys
from pathlib import Path
import numpy as np
from PIL import Image
sys.path.insert(0, '/work/main')
from export.archive import make_cases, to_uint8
from export.data import split_faces
from facerestore.restore import restore_pixels
from facerestore.constraints import read_constraint
from facerestore.session import open_model
from facerestore.metrics import psnr
from facerestore.damage import strength as S
from export.fit_strength import KNOTS
name = sys.argv[1]; side = int(sys.argv[2])
webp_row = json.load(open('/work/main/facerestore/models/strength.json'))['curves'][name]['strengths']['webp']
model = open_model(Path(f'/work/main/facerestore/models/{name}.onnx'), device='cpu', threads=2)
split = split_faces(Path('/work/shared/data/faces'))
degs = tuple(f"jpeg{q}" for q in (10, 20, 30, 40, 50, 60, 75, 85)) + tuple(f"webp{q}" for q in (10, 20, 30, 40, 50, 60, 75, 85))
cases = make_cases(split.val[:10], degs, max_side=side)
res = {}
for c in cases:
    d = c.damage
    s = float(np.interp(d.level, KNOTS, webp_row)) if d.kind == 'webp' else S.curve_for(name, model.condition is not None, d.kind)(d.level)
    px = c.loaded.pixels
    if s < 0.05: out = px
    else:
        out = restore_pixels(model, px, strength=s) if model.condition is not None else np.clip(px + s*(restore_pixels(model, px)-px), 0, 1)
        cons = read_constraint(c.loaded, d)
        if cons is not None: out = cons.enforce(out)
    u = to_uint8(out); inp = psnr(to_uint8(px), c.hq)
    r = [psnr(u, c.hq) - inp]
    for oq in (95, 85, 75):
        b = io.BytesIO(); Image.fromarray(u).save(b, 'WEBP', quality=oq); b.seek(0)
        r.append(psnr(np.asarray(Image.open(b).convert('RGB')), c.hq) - inp)
    res.setdefault(c.degradation, []).append(r + [s, d.level])
for dg, v in res.items():
    v = np.array(v); print(f"{dg:7s} level {v[:,5].mean():.3f} strength {v[:,4].mean():.2f}", 'png %+.2f  webp95 %+.2f  webp85 %+.2f  webp75 %+.2f' % tuple(v[:, :4].mean(0)), 'worse@95 %d/10 @85 %d/10' % ((v[:, 1] < 0).sum(), (v[:, 2] < 0).sum()), flush=True)
