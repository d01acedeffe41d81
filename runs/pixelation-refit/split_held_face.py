"""Where a marked file the strict reading holds with split lines loses (runs/README.txt, "Where face 161 loses"):
a validation face captioned after a nearest upscale, restored by big with its auto strength without a constraint,
with the shipped one, and with the true grid and the true mark (an oracle), PSNR over the caption band and the rest.
  PYTHONPATH=. python runs/pixelation-refit/split_held_face.py 161.png 256 1.5"""
import sys, tempfile
from pathlib import Path
import numpy as np
from PIL import Image
sys.path.insert(0, "/work/main/runs/pixelation-refit")
import facerestore
import facerestore.pixelation_constraint as pc
from export.archive import to_uint8
from export.data import load_rgb, split_faces
from facerestore.constraints import read_constraint
from facerestore.damage.analysis import analyze
from facerestore.damage.strength import decide_damage, model_curve
from facerestore.imageio import read_image
from facerestore.restore import restore_image
from facerestore.session import open_model
from unconstrained import variants

def psnr(a, b, m=None):
    a = a.astype(np.float64); b = b.astype(np.float64)
    d = (a - b) ** 2
    if m is not None: d = d[m]
    return 10 * np.log10(255 ** 2 / d.mean())

split = split_faces(Path("/work/shared/data/faces"))
face = [f for f in split.val if f.name == sys.argv[1]][0]
side, f = int(sys.argv[2]), float(sys.argv[3])
model = open_model(Path(facerestore.__file__).parent / "models" / "big.onnx", device="cpu", threads=2)
im = Image.fromarray(load_rgb(face, side, True))
up = im.resize((round(im.width / f), round(im.height / f)), Image.LANCZOS).resize(im.size, Image.NEAREST)
for label, damaged, fmt, params, ref in variants(im, f):
    if label != "caption": continue
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.png"; damaged.save(path)
        loaded = read_image(path)
    damage = analyze(loaded)
    ref = np.asarray(ref); inp = np.asarray(damaged)
    band = np.zeros(ref.shape[:2], bool); band[round(0.88 * side):] = True
    d = decide_damage(model_curve(model, "pixelation"), damage, loaded.pixels.shape)
    u = np.asarray(up).astype(np.float32) / 255
    true_rows, true_cols = pc.block_starts(u, 0), pc.block_starts(u, 1)
    truemark = np.nonzero((inp != np.asarray(up)).any(-1))
    oracle = pc.PixelationConstraint(loaded.pixels, true_rows, true_cols, truemark)
    shipped = read_constraint(loaded, damage)
    print(label, side, f, "strength", d.strength, "strict rows/cols", len(shipped._rows), len(shipped._columns), "true", len(true_rows), len(true_cols))
    print(f"  input: all {psnr(inp, ref):.2f} band {psnr(inp, ref, band):.2f} rest {psnr(inp, ref, ~band):.2f}")
    for name, c in (("none", None), ("shipped", shipped), ("oracle", oracle)):
        out = to_uint8(restore_image(model, loaded, damage, strength=d.strength, constraint=c))
        print(f"  {name:8s}: all {psnr(out, ref):.2f} band {psnr(out, ref, band):.2f} rest {psnr(out, ref, ~band):.2f}")
