"""Where in the caption band validation face 161 (captioned after a nearest upscale by 1.5, 256 px) loses with big
under the shipped constraint: error per band row and column, on the letters and on the box, and the rows at the
box's top edge (runs/README.txt, "Where face 161 loses", second look).
  PYTHONPATH=. python runs/pixelation-refit/split_held_rows.py"""
import sys, tempfile
from pathlib import Path
import numpy as np
from PIL import Image
sys.path.insert(0, "/work/main/runs/pixelation-refit")
import facerestore
from export.archive import to_uint8
from export.data import load_rgb, split_faces
from facerestore.constraints import read_constraint
from facerestore.damage.analysis import analyze
from facerestore.damage.strength import decide_damage, model_curve
from facerestore.imageio import read_image
from facerestore.restore import restore_image
from facerestore.session import open_model
from unconstrained import variants
split = split_faces(Path("/work/shared/data/faces"))
face = [f for f in split.val if f.name == "161.png"][0]
side, f = 256, 1.5
model = open_model(Path(facerestore.__file__).parent / "models" / "big.onnx", device="cpu", threads=2)
im = Image.fromarray(load_rgb(face, side, True))
for label, damaged, fmt, params, ref in variants(im, f):
    if label != "caption": continue
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.png"; damaged.save(path); loaded = read_image(path)
    damage = analyze(loaded); c = read_constraint(loaded, damage)
    d = decide_damage(model_curve(model, "pixelation"), damage, loaded.pixels.shape)
    out = to_uint8(restore_image(model, loaded, damage, strength=d.strength, constraint=c)).astype(float)
    ref = np.asarray(ref).astype(float); inp = np.asarray(damaged).astype(float)
    err = ((out - ref) ** 2).sum(-1)
    y0 = round(0.88 * side)
    print("flat rows", np.flatnonzero(c._flat_rows), "flat cols", np.flatnonzero(c._flat_columns)[:20])
    print("band SSE", err[y0:].sum(), "rest SSE", err[:y0].sum(), "input rest SSE", ((inp - ref) ** 2).sum(-1)[:y0].sum())
    rowsum = err[y0:].sum(1); print("band SSE per row", np.round(rowsum).astype(int))
    colsum = err[y0:].sum(0); big = np.argsort(colsum)[::-1][:10]; print("worst band cols", big, np.round(colsum[big]))
    # letters: dark pixels
    letters = (inp[y0:] < 100).all(-1)
    print("SSE on letters", err[y0:][letters].sum(), "on box", err[y0:][~letters].sum())
    print("row starts near band", [r for r in c._rows if 215 <= r <= 240])
    for x in (0, 13, 61, 62, 100, 200):
        print(x, "out", out[224:228, x, 0], "ref", ref[224:228, x, 0], "inp", inp[224:228, x, 0])
    print("marks", None if c._marks is None else len(c._marks[0]))
