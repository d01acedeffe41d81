"""Follow-up to audit_build.py (run it first), for /tmp/neverworse. Follow-up archive: (1) sensor noise / film grain on more sources at high quality (JPEG 90/95, WebP 85/90);
(2) gray conversions of all 20 test faces at native size (JPEG 85/95 and a PNG copy of JPEG 85).
Writes arch2/, refs2/, manifest2.csv (same columns as manifest.csv)."""
import csv, io, sys
from pathlib import Path
import numpy as np
from PIL import Image
sys.path.insert(0, str(Path(__file__).resolve().parent)); sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from audit_build import load, ccrop, down, jpeg, dec, NAT, FACES
from export.data import split_faces
ROOT = Path('/tmp/neverworse'); A, R = ROOT / 'arch2', ROOT / 'refs2'
rows = []
def add(name, var, data, ext, ref, recipe, desc):
    (A / name).mkdir(parents=True, exist_ok=True); (R / name).mkdir(parents=True, exist_ok=True)
    f = A / name / f'{var}.{ext}'; f.write_bytes(data); rp = R / name / f'{var}.png'; ref.save(rp)
    rows.append(dict(case=f'{name}/{var}', file=str(f), ref=str(rp), origin=name, origin_desc=desc, variant=var, recipe=recipe, full=0))
srcs = [('coffee', ccrop(load(NAT/'skimage_coffee.png'), 320, 240)), ('motorcycle', ccrop(load(NAT/'skimage_motorcycle_left.png'), 320, 240)),
        ('graf', ccrop(load(NAT/'opencv_graf1.png'), 320, 240)), ('whale', ccrop(load(NAT/'opencv_rubberwhale1.png'), 320, 240)),
        ('castle', ccrop(down(load(NAT/'opencv_castle.jpg'), 2), 320, 240)), ('storm', ccrop(down(load(NAT/'mate_Storm.jpg'), 4), 320, 240)),
        ('china', ccrop(down(load(NAT/'sklearn_china.jpg'), 2), 320, 240)), ('face007', ccrop(down(load(FACES/'crops/007.png'), 2), 320, 240))]
for i, (n, im) in enumerate(srcs):
    a = np.asarray(im).astype(float)
    rg = np.random.default_rng(100 + i)
    for kind, noisy in [('lum4', a + rg.normal(0, 4, a.shape[:2])[..., None]),
                        ('rgb6', a + rg.normal(0, 6, a.shape)),
                        ('dark5', 255 * (a / 255) ** 2 * 0.35 + rg.normal(0, 5, a.shape))]:
        o = Image.fromarray(np.clip(np.round(noisy), 0, 255).astype(np.uint8))
        name = f'nz_{n}_{kind}'; desc = f'{n} + noise {kind}'
        for q in (90, 95):
            add(name, f'j{q}_420', jpeg(o, q, 2), 'jpg', o, f'JPEG q{q} 4:2:0', desc)
        add(name, 'j95_444', jpeg(o, 95, 0), 'jpg', o, 'JPEG q95 4:4:4', desc)
        for q in (85, 90):
            b = io.BytesIO(); o.save(b, 'WEBP', quality=q); add(name, f'w{q}', b.getvalue(), 'webp', o, f'WebP q{q}', desc)
for p in split_faces(FACES).test:
    g = load(p).convert('L'); name = f'gface{p.stem}'; desc = f'faces/crops/{p.name} gray, native'
    for q in (85, 95):
        add(name, f'g{q}', jpeg(g, q), 'jpg', g, f"convert('L') -> JPEG q{q}", desc)
    b = io.BytesIO(); dec(jpeg(g, 85)).save(b, 'PNG'); add(name, 'gpj85', b.getvalue(), 'png', g, "convert('L') -> JPEG q85 -> PNG", desc)
with open(ROOT / 'manifest2.csv', 'w', newline='') as fh:
    w = csv.DictWriter(fh, fieldnames=list(rows[0])); w.writeheader(); w.writerows(rows)
print(len(rows))
