import sys, io
from pathlib import Path
import numpy as np
from PIL import Image
sys.path.insert(0, '/work/main')
import facerestore.jpeg_constraint as jc
from facerestore.imageio import read_image
from facerestore.damage.analysis import analyze
from facerestore.damage.strength import decide_image
from facerestore.restore import restore_pixels
from facerestore.session import open_model
from facerestore.metrics import psnr
from export.archive import make_cases, to_uint8
from export.data import split_faces

F = [1.0, 0.75, 0.5]
def enforce_band_f(self, band, y0, f):
    planes = jc._planes(band, self._chroma); changes = {}
    for plane in self._planes:
        r0, r1 = jc._band_rows(plane, y0, y0 + band.shape[0])
        if r1 <= r0: continue
        cols = plane.blocks[1]
        centres = plane.centres[r0 * cols:r1 * cols]
        offset = jc.block_coefficients(planes[plane.channel], r1 - r0, cols) - centres
        half = np.broadcast_to(plane.half_steps, offset.shape).copy()
        zero = centres == 0; zero[:, 0] = False
        half[zero] *= f
        tb = np.clip(offset, -half, half) - offset
        if tb.any(): changes[plane.channel] = jc._pixels_of(tb, r1 - r0, cols) * np.float32(1 / 255)
    if 0 in changes:
        l = changes[0]; band[:l.shape[0], :l.shape[1]] += l[..., None]
    if 1 in changes or 2 in changes: jc._add_chroma(band, changes.get(1), changes.get(2), self._chroma)

model = open_model(Path('/work/main/facerestore/models/big.onnx'), device='cpu', threads=2)
def run(cases, label):
    res = {}
    for c in cases:
        d = c.damage; px = c.loaded.pixels
        dec = decide_image(model, d, px.shape)
        if dec.unchanged: continue
        full = restore_pixels(model, px); out = np.clip(px + dec.strength * (full - px), 0, 1)
        cons = jc.JpegConstraint.of(c.loaded, d)
        inp = psnr(to_uint8(px), c.hq)
        row = []
        for f in F:
            jc.JpegConstraint._enforce_band = lambda self, band, y0, f=f: enforce_band_f(self, band, y0, f)
            row.append(psnr(to_uint8(cons.enforce(out)), c.hq) - inp)
        res.setdefault(c.degradation, []).append(row)
    for k, v in res.items():
        v = np.array(v); print(label, k, ' '.join(f'f{f}: {m:+.3f} ({(v[:, i] < 0).sum()} worse)' for i, (f, m) in enumerate(zip(F, v.mean(0)))), flush=True)

split = split_faces(Path('/work/shared/data/faces'))
degs = ('jpeg30', 'jpeg50', 'jpeg75', 'jpeg85', 'jpeg90', 'jpeg95')
run(make_cases(split.val, degs, max_side=256), 'val256')
run(make_cases(split.val[:10], degs, max_side=512), 'val512')
